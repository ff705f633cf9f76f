// hardswish on the GPU: ai3::hardswish_of, torch's formula (NaN flows through, as in
// torch). In place is fine.
#include "pointwise.cuh"

namespace ai3::cuda {

namespace {

template <class T> struct HardswishFn {
    __device__ T operator()(T x) const { return hardswish_of<T>(x); }
};

template <class T> void launch_hardswish(const ElementwiseParams &p, const T *in, T *out, cudaStream_t s) {
    launch_pointwise(p.n, in, out, HardswishFn<T>{}, s);
}

} // namespace

template <class T> KernelPtr<Hardswish, T> make_hardswish_direct(const ElementwiseParams &p, const Device &dev) {
    return std::make_unique<UnaryKernel<Hardswish, T>>(p, dev, &launch_hardswish<T>, p.n, p.n);
}
template KernelPtr<Hardswish, float> make_hardswish_direct<float>(const ElementwiseParams &, const Device &);
template KernelPtr<Hardswish, double> make_hardswish_direct<double>(const ElementwiseParams &, const Device &);

} // namespace ai3::cuda
