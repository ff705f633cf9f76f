// layernorm on the GPU (torch.nn.functional.layer_norm): per group of D elements,
// (x - mean) / sqrt(var + eps) * weight + bias with the biased variance. Two passes (the
// mean, then the squared deviations from it) with tree sums in double, as the CPU
// fallback does: no cancellation of E[x^2] - E[x]^2. The layout is (M / inner) x D x inner:
// inner == 1 normalises rows (a block per row); inner > 1 normalises a middle dim such as
// NCHW's channels (a tile of 32 inner positions per block, reduce.cuh). weight and bias
// are the layer's own host tensors: uploaded once and kept.
//
// In place (in == out) is allowed: every read of a group for its statistics finishes
// (the block sum's barrier) before any element of it is written, and the writing pass
// reads each element only in the thread that writes it.
#include "reduce.cuh"

namespace ai3::cuda {

namespace {

template <class T>
__global__ void layernorm_rows_kernel(const T *in, const T *__restrict__ w, const T *__restrict__ b, T *out, int64_t M,
                                      int64_t D, double eps) {
    __shared__ double shm[32];
    for (int64_t m = blockIdx.x; m < M; m += gridDim.x) {
        const T *x = in + m * D;
        T *y = out + m * D;
        double s = 0;
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x) s += double(x[i]);
        const double mean = block_sum(s, shm) / double(D);
        double q = 0;
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
            const double d = double(x[i]) - mean;
            q += d * d;
        }
        const double rstd = 1.0 / sqrt(block_sum(q, shm) / double(D) + eps);
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
            double z = (double(x[i]) - mean) * rstd;
            if (w) z *= double(w[i]);
            if (b) z += double(b[i]);
            y[i] = T(z);
        }
    }
}

template <class T>
__global__ void layernorm_tiles_kernel(const T *in, const T *__restrict__ w, const T *__restrict__ b, T *out,
                                       int64_t outer, int64_t D, int64_t inner, double eps) {
    __shared__ double shm[kTileY][kTileX];
    const int64_t per = (inner + kTileX - 1) / kTileX, tiles = outer * per;
    for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
        const int64_t o = t / per, i = (t - o * per) * kTileX + threadIdx.x;
        const bool ok = i < inner; // out-of-range threads still join every barrier
        const T *x = in + o * D * inner + i;
        T *y = out + o * D * inner + i;
        double s = 0;
        if (ok)
            for (int64_t d = threadIdx.y; d < D; d += kTileY) s += double(x[d * inner]);
        const double mean = column_sum(s, shm) / double(D);
        double q = 0;
        if (ok)
            for (int64_t d = threadIdx.y; d < D; d += kTileY) {
                const double v = double(x[d * inner]) - mean;
                q += v * v;
            }
        const double rstd = 1.0 / sqrt(column_sum(q, shm) / double(D) + eps);
        if (ok)
            for (int64_t d = threadIdx.y; d < D; d += kTileY) {
                double z = (double(x[d * inner]) - mean) * rstd;
                if (w) z *= double(w[d]);
                if (b) z += double(b[d]);
                y[d * inner] = T(z);
            }
    }
}

template <class T> class LayerNormKernel final : public Kernel<LayerNorm, T> {
  public:
    LayerNormKernel(const LayerNormParams &p, const Device &dev) : p_(p), ctx_(context_of(dev)) {}
    void run(const LayerNorm::Args<T> &a) override {
        const int64_t n = p_.M * p_.D;
        if (n <= 0) return;
        Run r(ctx_);
        const T *x = r.in(a.input, std::size_t(n), ctx_.stage_in);
        const T *w = p_.has_weight ? w_.get(a.weight, std::size_t(p_.D), /*owned=*/true, r, ctx_.stage_w) : nullptr;
        const T *b = p_.has_bias ? b_.get(a.bias, std::size_t(p_.D), /*owned=*/true, r, ctx_.stage_b) : nullptr;
        T *y = r.out(a.output, std::size_t(n));
        if (p_.inner == 1) {
            layernorm_rows_kernel<T>
                <<<row_blocks(p_.M), row_threads(p_.D), 0, r.stream()>>>(x, w, b, y, p_.M, p_.D, p_.eps);
        } else {
            const int64_t outer = p_.M / p_.inner;
            layernorm_tiles_kernel<T><<<row_blocks(tiles_for(outer, p_.inner)), dim3(kTileX, kTileY), 0, r.stream()>>>(
                x, w, b, y, outer, p_.D, p_.inner, p_.eps);
        }
        AI3_CUDA_CHECK_LAUNCH();
        r.finish(y);
    }

  private:
    LayerNormParams p_;
    Context &ctx_;
    DeviceParam<T> w_, b_;
};

} // namespace

template <class T> KernelPtr<LayerNorm, T> make_layernorm_direct(const LayerNormParams &p, const Device &dev) {
    AI3_CHECK(p.M >= 0 && p.D > 0 && p.inner >= 1 && p.M % p.inner == 0, ValueError, "layernorm: ", p.M, " groups of ",
              p.D, " elements do not fit an inner size of ", p.inner);
    AI3_CHECK(p.eps >= 0, ValueError, "layernorm eps must be non-negative, got ", p.eps);
    return std::make_unique<LayerNormKernel<T>>(p, dev);
}
template KernelPtr<LayerNorm, float> make_layernorm_direct<float>(const LayerNormParams &, const Device &);
template KernelPtr<LayerNorm, double> make_layernorm_direct<double>(const LayerNormParams &, const Device &);

} // namespace ai3::cuda
