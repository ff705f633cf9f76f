// relu on the GPU, in place or not (an ai3.Model runs it on its own buffer). NaN stays NaN.
#include "kernels.hpp"

namespace ai3::cuda {

namespace {

template <class T> __global__ void relu_kernel(const T *in, T *out, int64_t n) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
        const T v = in[i];
        out[i] = relu_of<T>(v);
    }
}

template <class T> void launch_relu(const ElementwiseParams &p, const T *in, T *out, cudaStream_t s) {
    relu_kernel<T><<<blocks_for(p.n), kThreads, 0, s>>>(in, out, p.n);
}

} // namespace

template <class T> KernelPtr<ReLU, T> make_relu_direct(const ElementwiseParams &p, const Device &dev) {
    return std::make_unique<UnaryKernel<ReLU, T>>(p, dev, &launch_relu<T>, p.n, p.n);
}
template KernelPtr<ReLU, float> make_relu_direct<float>(const ElementwiseParams &, const Device &);
template KernelPtr<ReLU, double> make_relu_direct<double>(const ElementwiseParams &, const Device &);

} // namespace ai3::cuda
