// batchnorm2d (inference) on the GPU: out = in * scale[c] + shift[c] over N x C x HW, with
// scale/shift folded by the layer from the running statistics. They are the layer's own
// host tensors (never changing), so they are uploaded once and kept. In place is fine.
#include "kernels.hpp"

namespace ai3::cuda {

namespace {

// One thread per element (grid-stride). No __restrict__ on x/y: in place is allowed and
// each element is read by the thread that writes it.
template <class T>
__global__ void batchnorm2d_kernel(const T *x, const T *__restrict__ scale, const T *__restrict__ shift, T *y,
                                   int64_t total, int64_t C, int64_t HW) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t c = (i / HW) % C;
        y[i] = x[i] * scale[c] + shift[c];
    }
}

template <class T> class BatchNorm2dKernel final : public Kernel<BatchNorm2d, T> {
  public:
    BatchNorm2dKernel(const BatchNorm2dParams &p, const Device &dev) : p_(p), ctx_(context_of(dev)) {}
    void run(const BatchNorm2d::Args<T> &a) override {
        const int64_t total = p_.N * p_.C * p_.HW;
        if (total <= 0) return;
        Run r(ctx_);
        const T *x = r.in(a.input, std::size_t(total), ctx_.stage_in);
        const T *s = scale_.get(a.scale, std::size_t(p_.C), /*owned=*/true, r, ctx_.stage_w);
        const T *t = shift_.get(a.shift, std::size_t(p_.C), /*owned=*/true, r, ctx_.stage_b);
        T *y = r.out(a.output, std::size_t(total));
        batchnorm2d_kernel<T><<<blocks_for(total), kThreads, 0, r.stream()>>>(x, s, t, y, total, p_.C, p_.HW);
        AI3_CUDA_CHECK_LAUNCH();
        r.finish(y);
    }

  private:
    BatchNorm2dParams p_;
    Context &ctx_;
    DeviceParam<T> scale_, shift_;
};

} // namespace

template <class T> KernelPtr<BatchNorm2d, T> make_batchnorm2d_direct(const BatchNorm2dParams &p, const Device &dev) {
    AI3_CHECK(p.N >= 0 && p.C >= 0 && p.HW >= 0, ValueError, "batchnorm2d: negative size");
    return std::make_unique<BatchNorm2dKernel<T>>(p, dev);
}
template KernelPtr<BatchNorm2d, float> make_batchnorm2d_direct<float>(const BatchNorm2dParams &, const Device &);
template KernelPtr<BatchNorm2d, double> make_batchnorm2d_direct<double>(const BatchNorm2dParams &, const Device &);

} // namespace ai3::cuda
