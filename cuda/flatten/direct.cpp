// flatten only changes the shape; its kernel is the stream-ordered copy into the
// output buffer (an ai3.Model skips it except as the last layer).
#include "kernels.hpp"

namespace ai3::cuda {

namespace {

template <class T> void launch_copy(const ElementwiseParams &p, const T *in, T *out, cudaStream_t s) {
    if (in != out) AI3_CUDA_CHECK(cudaMemcpyAsync(out, in, std::size_t(p.n) * sizeof(T), cudaMemcpyDeviceToDevice, s));
}

} // namespace

template <class T> KernelPtr<Flatten, T> make_flatten_direct(const ElementwiseParams &p, const Device &dev) {
    return std::make_unique<UnaryKernel<Flatten, T>>(p, dev, &launch_copy<T>, p.n, p.n);
}
template KernelPtr<Flatten, float> make_flatten_direct<float>(const ElementwiseParams &, const Device &);
template KernelPtr<Flatten, double> make_flatten_direct<double>(const ElementwiseParams &, const Device &);

} // namespace ai3::cuda
