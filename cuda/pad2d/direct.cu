// pad2d on the GPU with torch's F.pad semantics (zeros, reflect, replicate, circular),
// the same index maps as fallback/pad2d/direct.cpp: one thread per output element.
#include "kernels.hpp"

namespace ai3::cuda {

namespace {

__device__ int64_t source_index(int64_t i, int64_t n, int64_t before, int64_t after, PadMode mode) {
    if (i >= 0 && i < n) return i;
    if (n <= 0) return -1;
    switch (mode) {
    case PadMode::zeros: return -1;
    case PadMode::replicate: return i < 0 ? 0 : n - 1;
    case PadMode::circular: {
        const int64_t lo = before < 0 ? -before : 0, hi = n - (after < 0 ? -after : 0), m = hi - lo;
        if (m <= 0) return -1;
        return lo + (((i - lo) % m) + m) % m;
    }
    case PadMode::reflect: {
        if (n == 1) return 0;
        const int64_t period = 2 * (n - 1);
        const int64_t m = ((i % period) + period) % period;
        return m < n ? m : period - m;
    }
    }
    return -1;
}

template <class T>
__global__ void pad2d_kernel(Pad2dParams p, const T *__restrict__ in, T *__restrict__ out, int64_t total) {
    const int64_t Ho = p.H + p.top + p.bottom, Wo = p.W + p.left + p.right;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t j = i % Wo, r = (i / Wo) % Ho, plane = i / (Wo * Ho);
        const int64_t sr = source_index(r - p.top, p.H, p.top, p.bottom, p.mode);
        const int64_t sc = source_index(j - p.left, p.W, p.left, p.right, p.mode);
        out[i] = (sr < 0 || sc < 0) ? T(0) : in[(plane * p.H + sr) * p.W + sc];
    }
}

} // namespace

template <class T> void launch_pad2d(const Pad2dParams &p, const T *in, T *out, cudaStream_t s) {
    const int64_t total = p.N * p.C * (p.H + p.top + p.bottom) * (p.W + p.left + p.right);
    if (total <= 0) return;
    pad2d_kernel<T><<<blocks_for(total), kThreads, 0, s>>>(p, in, out, total);
}
template void launch_pad2d<float>(const Pad2dParams &, const float *, float *, cudaStream_t);
template void launch_pad2d<double>(const Pad2dParams &, const double *, double *, cudaStream_t);

template <class T> KernelPtr<Pad2d, T> make_pad2d_direct(const Pad2dParams &p, const Device &dev) {
    const int64_t in = p.N * p.C * p.H * p.W, out = p.N * p.C * (p.H + p.top + p.bottom) * (p.W + p.left + p.right);
    return std::make_unique<UnaryKernel<Pad2d, T>>(p, dev, &launch_pad2d<T>, in, out);
}
template KernelPtr<Pad2d, float> make_pad2d_direct<float>(const Pad2dParams &, const Device &);
template KernelPtr<Pad2d, double> make_pad2d_direct<double>(const Pad2dParams &, const Device &);

} // namespace ai3::cuda
