// conv2d `direct` on the GPU: the convolution loop nest itself, no lowering. One
// thread per output element (n, k, p, q) accumulates over its group's input channels
// and the filter taps, bias included; consecutive threads take consecutive q, so
// their input reads coalesce along a row. Indices are 64-bit throughout.
#include "kernels.hpp"

namespace ai3::cuda {

namespace {

template <class T>
__global__ void conv2d_direct_kernel(Conv2dParams p, const T *__restrict__ x, const T *__restrict__ w,
                                     const T *__restrict__ b, T *__restrict__ y, int64_t total) {
    const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t q = i % p.Q, op = (i / p.Q) % p.P, k = (i / (p.Q * p.P)) % p.K, n = i / (p.Q * p.P * p.K);
        const int64_t g = k / Kg, h0 = op * p.stride_h - p.pad_h, w0 = q * p.stride_w - p.pad_w;
        T acc = b ? b[k] : T(0);
        for (int64_t c = 0; c < Cg; ++c) {
            const T *xc = x + ((n * p.C + g * Cg + c) * p.H) * p.W;
            const T *wc = w + ((k * Cg + c) * p.R) * p.S;
            for (int64_t r = 0; r < p.R; ++r) {
                const int64_t h = h0 + r * p.dil_h;
                if (h < 0 || h >= p.H) continue;
                const T *row = xc + h * p.W;
                for (int64_t s = 0; s < p.S; ++s) {
                    const int64_t ww = w0 + s * p.dil_w;
                    if (ww >= 0 && ww < p.W) acc += row[ww] * wc[r * p.S + s];
                }
            }
        }
        y[i] = acc;
    }
}

template <class T> class DirectConv final : public Kernel<Conv2d, T> {
  public:
    DirectConv(const Conv2dParams &p, const Device &dev) : p_(p), ctx_(context_of(dev)) {}
    void run(const Conv2d::Args<T> &a) override {
        const Conv2dParams &p = p_;
        const int64_t total = p.N * p.K * p.P * p.Q;
        if (total == 0) return;
        Run r(ctx_);
        const T *x = r.in(a.input, std::size_t(p.N * p.C * p.H * p.W), ctx_.stage_in);
        const T *w = w_.get(a.weight, std::size_t(p.K * (p.C / p.groups) * p.R * p.S), a.weight_owned, r, ctx_.stage_w);
        const T *b = p.has_bias ? b_.get(a.bias, std::size_t(p.K), a.weight_owned, r, ctx_.stage_b) : nullptr;
        T *y = r.out(a.output, std::size_t(total));
        conv2d_direct_kernel<T><<<blocks_for(total), kThreads, 0, r.stream()>>>(p, x, w, b, y, total);
        AI3_CUDA_CHECK_LAUNCH();
        r.finish(y);
    }

  private:
    Conv2dParams p_;
    Context &ctx_;
    DeviceParam<T> w_, b_;
};

} // namespace

template <class T> KernelPtr<Conv2d, T> make_conv2d_direct(const Conv2dParams &p, const Device &dev) {
    return std::make_unique<DirectConv<T>>(p, dev);
}
template KernelPtr<Conv2d, float> make_conv2d_direct<float>(const Conv2dParams &, const Device &);
template KernelPtr<Conv2d, double> make_conv2d_direct<double>(const Conv2dParams &, const Device &);

} // namespace ai3::cuda
