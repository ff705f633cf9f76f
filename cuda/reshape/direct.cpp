// reshape only changes the shape; run on its own (a graph aliases the buffer instead)
// its kernel is the stream-ordered copy into the output buffer.
#include "kernels.hpp"

namespace ai3::cuda {

namespace {

template <class T> void launch_copy(const ElementwiseParams &p, const T *in, T *out, cudaStream_t s) {
    if (in != out) AI3_CUDA_CHECK(cudaMemcpyAsync(out, in, std::size_t(p.n) * sizeof(T), cudaMemcpyDeviceToDevice, s));
}

} // namespace

template <class T> KernelPtr<Reshape, T> make_reshape_direct(const ElementwiseParams &p, const Device &dev) {
    return std::make_unique<UnaryKernel<Reshape, T>>(p, dev, &launch_copy<T>, p.n, p.n);
}
template KernelPtr<Reshape, float> make_reshape_direct<float>(const ElementwiseParams &, const Device &);
template KernelPtr<Reshape, double> make_reshape_direct<double>(const ElementwiseParams &, const Device &);

} // namespace ai3::cuda
