// hardsigmoid on the GPU: ai3::hardsigmoid_of, torch's formula (NaN propagates). In place is fine.
#include "pointwise.cuh"

namespace ai3::cuda {

namespace {

template <class T> struct HardsigmoidFn {
    __device__ T operator()(T x) const { return hardsigmoid_of<T>(x); }
};

template <class T> void launch_hardsigmoid(const ElementwiseParams &p, const T *in, T *out, cudaStream_t s) {
    launch_pointwise(p.n, in, out, HardsigmoidFn<T>{}, s);
}

} // namespace

template <class T> KernelPtr<Hardsigmoid, T> make_hardsigmoid_direct(const ElementwiseParams &p, const Device &dev) {
    return std::make_unique<UnaryKernel<Hardsigmoid, T>>(p, dev, &launch_hardsigmoid<T>, p.n, p.n);
}
template KernelPtr<Hardsigmoid, float> make_hardsigmoid_direct<float>(const ElementwiseParams &, const Device &);
template KernelPtr<Hardsigmoid, double> make_hardsigmoid_direct<double>(const ElementwiseParams &, const Device &);

} // namespace ai3::cuda
