// relu6 on the GPU: min(max(x, 0), 6) (torch.nn.ReLU6; NaN propagates). In place is fine.
#include "pointwise.cuh"

namespace ai3::cuda {

namespace {

template <class T> struct ReLU6Fn {
    __device__ T operator()(T x) const { return relu6_of<T>(x); }
};

template <class T> void launch_relu6(const ElementwiseParams &p, const T *in, T *out, cudaStream_t s) {
    launch_pointwise(p.n, in, out, ReLU6Fn<T>{}, s);
}

} // namespace

template <class T> KernelPtr<ReLU6, T> make_relu6_direct(const ElementwiseParams &p, const Device &dev) {
    return std::make_unique<UnaryKernel<ReLU6, T>>(p, dev, &launch_relu6<T>, p.n, p.n);
}
template KernelPtr<ReLU6, float> make_relu6_direct<float>(const ElementwiseParams &, const Device &);
template KernelPtr<ReLU6, double> make_relu6_direct<double>(const ElementwiseParams &, const Device &);

} // namespace ai3::cuda
