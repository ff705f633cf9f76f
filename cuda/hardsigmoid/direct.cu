// hardsigmoid on the GPU: min(max(x + 3, 0), 6) / 6, torch's formula (NaN propagates). In place is fine.
#include "pointwise.cuh"

namespace ai3::cuda {

namespace {

template <class T> struct HardsigmoidFn {
    __device__ T operator()(T x) const {
        const T r = x + T(3);
        return (r < T(0) ? T(0) : (r > T(6) ? T(6) : r)) / T(6);
    }
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
