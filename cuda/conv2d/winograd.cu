// conv2d `winograd` on the GPU. 3x3 filters with stride 1 and dilation 1 only (the
// one refusal the contract allows (docs/architecture.md), checked first so every platform refuses the same
// layers). cuDNN runs it when it can (WINOGRAD, else WINOGRAD_NONFUSED, see
// cudnn.cpp); where cuDNN has no Winograd kernel for the layer (float64, some
// group/shape combinations) ai3's own F(2x2, 3x3) runs: one thread per (image,
// output channel, 2x2 output tile) accumulates the transformed products over its
// group's channels (winograd_tile.hpp), after a kernel transforms the filters.
#include "ai3/guess.hpp"
#include "conv2d/winograd_tile.hpp"
#include "kernels.hpp"

namespace ai3::cuda {

namespace {

template <class T>
__global__ void filter_transform_kernel(const T *__restrict__ w, T *__restrict__ u, int64_t filters) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < filters; i += int64_t(gridDim.x) * blockDim.x)
        winograd::filter_transform(w + i * 9, u + i * 16);
}

template <class T>
__global__ void winograd_kernel(Conv2dParams p, const T *__restrict__ x, const T *__restrict__ u,
                                const T *__restrict__ b, T *__restrict__ y, int64_t TH, int64_t TW, int64_t total) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t tw = i % TW, th = (i / TW) % TH, k = (i / (TW * TH)) % p.K, n = i / (TW * TH * p.K);
        winograd::tile(p, x, u, b, y, n, k, th, tw);
    }
}

template <class T> class WinogradConv final : public Kernel<Conv2d, T> {
  public:
    WinogradConv(const Conv2dParams &p, const Device &dev) : p_(p), ctx_(context_of(dev)) {}
    std::string runs() const override { return "winograd"; }
    void run(const Conv2d::Args<T> &a) override {
        const Conv2dParams &p = p_;
        const int64_t TH = (p.P + 1) / 2, TW = (p.Q + 1) / 2, total = p.N * p.K * TH * TW;
        if (total == 0) return;
        Run r(ctx_);
        const int64_t filters = p.K * (p.C / p.groups);
        const T *x = r.in(a.input, std::size_t(p.N * p.C * p.H * p.W), ctx_.stage_in);
        const T *w = w_.get(a.weight, std::size_t(filters * 9), a.weight_owned, r, ctx_.stage_w);
        const T *b = p.has_bias ? b_.get(a.bias, std::size_t(p.K), a.weight_owned, r, ctx_.stage_b) : nullptr;
        T *y = r.out(a.output, std::size_t(p.N * p.K * p.P * p.Q));
        // The transform is K*C/groups*16 values, negligible next to the convolution:
        // redone every call, so a weight changed in any way is always seen.
        T *u = static_cast<T *>(u_.ensure(std::size_t(filters * 16) * sizeof(T), r.stream()));
        filter_transform_kernel<T><<<blocks_for(filters), kThreads, 0, r.stream()>>>(w, u, filters);
        AI3_CUDA_CHECK_LAUNCH();
        winograd_kernel<T><<<blocks_for(total), kThreads, 0, r.stream()>>>(p, x, u, b, y, TH, TW, total);
        AI3_CUDA_CHECK_LAUNCH();
        r.finish(y);
    }

  private:
    Conv2dParams p_;
    Context &ctx_;
    DeviceParam<T> w_, b_;
    DevMem u_;
};

} // namespace

template <class T> KernelPtr<Conv2d, T> make_conv2d_winograd(const Conv2dParams &p, const Device &dev) {
    check_conv2d_runs("winograd", p);
    try {
        return make_conv2d_cudnn_winograd<T>(p, dev);
    } catch (const Unimplemented &) {
        // cuDNN has no Winograd kernel for this layer: ai3's own runs it.
        return std::make_unique<WinogradConv<T>>(p, dev);
    }
}
template KernelPtr<Conv2d, float> make_conv2d_winograd<float>(const Conv2dParams &, const Device &);
template KernelPtr<Conv2d, double> make_conv2d_winograd<double>(const Conv2dParams &, const Device &);

} // namespace ai3::cuda
