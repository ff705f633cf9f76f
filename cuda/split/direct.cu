// split on the GPU: one piece of chunk/split (torch.narrow), copied dense. The input is
// outer x dim x inner; the output is rows [start, start + len) of the middle dim.
#include "graph_index.hpp"
#include "kernels.hpp"

namespace ai3::cuda {

namespace {

// out[o, j] = in[o, start * inner + j] over outer rows of len * inner (grid-stride, 64-bit).
template <class T> __global__ void split_kernel(SplitParams p, const T *__restrict__ in, T *__restrict__ out) {
    const int64_t total = p.outer * p.len * p.inner;
    for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += int64_t(gridDim.x) * blockDim.x)
        out[k] = in[split_source(p, k)];
}

template <class T> void launch_split(const SplitParams &p, const T *in, T *out, cudaStream_t s) {
    const int64_t total = p.outer * p.len * p.inner;
    if (total <= 0) return;
    split_kernel<T><<<blocks_for(total), kThreads, 0, s>>>(p, in, out);
}

} // namespace

template <class T> KernelPtr<Split, T> make_split_direct(const SplitParams &p, const Device &dev) {
    AI3_CHECK(p.outer >= 0 && p.dim >= 0 && p.inner >= 0 && p.start >= 0 && p.len >= 0 && p.start + p.len <= p.dim,
              ValueError, "split piece [", p.start, ", ", p.start + p.len, ") is outside a dim of size ", p.dim);
    return std::make_unique<UnaryKernel<Split, T>>(p, dev, &launch_split<T>, p.outer * p.dim * p.inner,
                                                   p.outer * p.len * p.inner);
}
template KernelPtr<Split, float> make_split_direct<float>(const SplitParams &, const Device &);
template KernelPtr<Split, double> make_split_direct<double>(const SplitParams &, const Device &);

} // namespace ai3::cuda
