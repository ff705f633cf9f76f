// conv2d `smm` on the GPU: the original ai3 formulation. Each image is lowered whole
// with im2col into one (C*R*S) x (P*Q) column matrix (in the context's workspace),
// then one cuBLAS strided-batched GEMM over the groups multiplies it by the filters,
// and a bias kernel adds the bias. Row-major C = W x col is cuBLAS's column-major
// C^T = col^T x W^T, so the operands go in swapped with no transposes.
#include "kernels.hpp"

#include <type_traits>

namespace ai3::cuda {

namespace {

template <class T>
__global__ void im2col_kernel(Conv2dParams p, const T *__restrict__ x, T *__restrict__ col, int64_t total) {
    const int64_t PQ = p.P * p.Q, RS = p.R * p.S;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t pq = i % PQ, row = i / PQ; // row = (c * R + r) * S + s
        const int64_t c = row / RS, r = (row / p.S) % p.R, s = row % p.S;
        const int64_t h = (pq / p.Q) * p.stride_h - p.pad_h + r * p.dil_h;
        const int64_t w = (pq % p.Q) * p.stride_w - p.pad_w + s * p.dil_w;
        col[i] = (h >= 0 && h < p.H && w >= 0 && w < p.W) ? x[(c * p.H + h) * p.W + w] : T(0);
    }
}

cublasStatus_t gemm_batched(cublasHandle_t h, int m, int n, int k, const float *a, int lda, long long sa,
                            const float *b, int ldb, long long sb, float *c, int ldc, long long sc, int batch) {
    const float one = 1.f, zero = 0.f;
    return cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, a, lda, sa, b, ldb, sb, &zero, c, ldc,
                                     sc, batch);
}
cublasStatus_t gemm_batched(cublasHandle_t h, int m, int n, int k, const double *a, int lda, long long sa,
                            const double *b, int ldb, long long sb, double *c, int ldc, long long sc, int batch) {
    const double one = 1.0, zero = 0.0;
    return cublasDgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, a, lda, sa, b, ldb, sb, &zero, c, ldc,
                                     sc, batch);
}

template <class T> class SmmConv final : public Kernel<Conv2d, T> {
  public:
    SmmConv(const Conv2dParams &p, const Device &dev) : p_(p), ctx_(context_of(dev)) {
        // cuBLAS takes int sizes and leading dimensions.
        const int64_t Cg = p.C / p.groups;
        m_ = to_int(p.P * p.Q, "conv2d output height*width");
        n_ = to_int(p.K / p.groups, "conv2d out_channels/groups");
        k_ = to_int(Cg * p.R * p.S, "conv2d in_channels/groups*kernel height*kernel width");
        batch_ = to_int(p.groups, "conv2d groups");
    }
    void run(const Conv2d::Args<T> &a) override {
        const Conv2dParams &p = p_;
        if (p.N * p.K * p.P * p.Q == 0) return;
        Run r(ctx_);
        const int64_t in_img = p.C * p.H * p.W, out_img = p.K * p.P * p.Q, PQ = p.P * p.Q;
        const int64_t col_n = p.C * p.R * p.S * PQ;
        const T *x = r.in(a.input, std::size_t(p.N * in_img), ctx_.stage_in);
        const T *w = w_.get(a.weight, std::size_t(p.K * (p.C / p.groups) * p.R * p.S), a.weight_owned, r, ctx_.stage_w);
        const T *b = p.has_bias ? b_.get(a.bias, std::size_t(p.K), a.weight_owned, r, ctx_.stage_b) : nullptr;
        T *y = r.out(a.output, std::size_t(p.N * out_img));
        T *col = static_cast<T *>(ctx_.workspace.ensure(std::size_t(col_n) * sizeof(T), r.stream()));
        for (int64_t n = 0; n < p.N; ++n) {
            im2col_kernel<T><<<blocks_for(col_n), kThreads, 0, r.stream()>>>(p, x + n * in_img, col, col_n);
            AI3_CUDA_CHECK_LAUNCH();
            // Per group g: out[g] (PQ x Kg, column-major) = col[g] (PQ x CgRS) * W[g] (CgRS x Kg).
            AI3_CUBLAS_CHECK(gemm_batched(ctx_.cublas, m_, n_, k_, col, m_, (long long)k_ * m_, w, k_,
                                          (long long)n_ * k_, y + n * out_img, m_, (long long)n_ * m_, batch_));
        }
        if (b) add_bias(y, b, p.N * out_img, PQ, p.K, r.stream());
        r.finish(y);
    }

  private:
    Conv2dParams p_;
    Context &ctx_;
    int m_ = 0, n_ = 0, k_ = 0, batch_ = 1;
    DeviceParam<T> w_, b_;
};

} // namespace

template <class T> KernelPtr<Conv2d, T> make_conv2d_smm(const Conv2dParams &p, const Device &dev) {
    return std::make_unique<SmmConv<T>>(p, dev);
}
template KernelPtr<Conv2d, float> make_conv2d_smm<float>(const Conv2dParams &, const Device &);
template KernelPtr<Conv2d, double> make_conv2d_smm<double>(const Conv2dParams &, const Device &);

} // namespace ai3::cuda
