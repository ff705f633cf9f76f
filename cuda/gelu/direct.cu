// gelu on the GPU with torch's two formulas: exact x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)),
// or approximate='tanh': 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). In place is fine.
#include "pointwise.cuh"

namespace ai3::cuda {

namespace {

template <class T> struct GeluErf {
    __device__ T operator()(T x) const { return gelu_erf_of<CudaMath>(x); }
};

template <class T> struct GeluTanh {
    __device__ T operator()(T x) const { return gelu_tanh_of<CudaMath>(x); }
};

template <class T> void launch_gelu(const GeluParams &p, const T *in, T *out, cudaStream_t s) {
    if (p.tanh)
        launch_pointwise(p.n, in, out, GeluTanh<T>{}, s);
    else
        launch_pointwise(p.n, in, out, GeluErf<T>{}, s);
}

} // namespace

template <class T> KernelPtr<Gelu, T> make_gelu_direct(const GeluParams &p, const Device &dev) {
    return std::make_unique<UnaryKernel<Gelu, T>>(p, dev, &launch_gelu<T>, p.n, p.n);
}
template KernelPtr<Gelu, float> make_gelu_direct<float>(const GeluParams &, const Device &);
template KernelPtr<Gelu, double> make_gelu_direct<double>(const GeluParams &, const Device &);

} // namespace ai3::cuda
