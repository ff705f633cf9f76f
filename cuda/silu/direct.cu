// silu on the GPU: x / (1 + exp(-x)), as torch computes x * sigmoid(x); exp overflow
// gives the exact limit -0. In place is fine.
#include "pointwise.cuh"

namespace ai3::cuda {

namespace {

template <class T> struct SiLUFn {
    __device__ T operator()(T x) const { return silu_of<CudaMath>(x); }
};

template <class T> void launch_silu(const ElementwiseParams &p, const T *in, T *out, cudaStream_t s) {
    launch_pointwise(p.n, in, out, SiLUFn<T>{}, s);
}

} // namespace

template <class T> KernelPtr<SiLU, T> make_silu_direct(const ElementwiseParams &p, const Device &dev) {
    return std::make_unique<UnaryKernel<SiLU, T>>(p, dev, &launch_silu<T>, p.n, p.n);
}
template KernelPtr<SiLU, float> make_silu_direct<float>(const ElementwiseParams &, const Device &);
template KernelPtr<SiLU, double> make_silu_direct<double>(const ElementwiseParams &, const Device &);

} // namespace ai3::cuda
