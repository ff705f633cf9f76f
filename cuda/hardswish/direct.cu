// hardswish on the GPU: x * min(max(x + 3, 0), 6) / 6, torch's formula (a NaN fails both
// comparisons and flows through, as in torch). In place is fine.
#include "pointwise.cuh"

namespace ai3::cuda {

namespace {

template <class T> struct HardswishFn {
    __device__ T operator()(T x) const {
        const T r = x + T(3);
        const T c = r < T(0) ? T(0) : (r > T(6) ? T(6) : r);
        return x * c / T(6);
    }
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
