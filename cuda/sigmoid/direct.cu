// sigmoid on the GPU: 1 / (1 + exp(-x)); exp overflow gives the exact limit 0. In place is fine.
#include "pointwise.cuh"

namespace ai3::cuda {

namespace {

template <class T> struct SigmoidFn {
    __device__ T operator()(T x) const { return sigmoid_of<CudaMath>(x); }
};

template <class T> void launch_sigmoid(const ElementwiseParams &p, const T *in, T *out, cudaStream_t s) {
    launch_pointwise(p.n, in, out, SigmoidFn<T>{}, s);
}

} // namespace

template <class T> KernelPtr<Sigmoid, T> make_sigmoid_direct(const ElementwiseParams &p, const Device &dev) {
    return std::make_unique<UnaryKernel<Sigmoid, T>>(p, dev, &launch_sigmoid<T>, p.n, p.n);
}
template KernelPtr<Sigmoid, float> make_sigmoid_direct<float>(const ElementwiseParams &, const Device &);
template KernelPtr<Sigmoid, double> make_sigmoid_direct<double>(const ElementwiseParams &, const Device &);

} // namespace ai3::cuda
