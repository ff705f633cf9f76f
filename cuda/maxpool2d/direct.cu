// maxpool2d on the GPU with torch semantics (fallback/maxpool2d/direct.cpp): implicit
// -inf padding, dilation, ceil_mode windows see only their in-range taps, NaN wins.
// One thread per output element.
#include "kernels.hpp"

namespace ai3::cuda {

namespace {

template <class T>
__global__ void maxpool2d_kernel(Pool2dParams p, const T *__restrict__ in, T *__restrict__ out, int64_t total) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t ow = i % p.Q, oh = (i / p.Q) % p.P, plane = i / (p.Q * p.P);
        const T *x = in + plane * p.H * p.W;
        int64_t h0 = oh * p.stride_h - p.pad_h;
        const int64_t h1 = imin(h0 + (p.kh - 1) * p.dil_h + 1, p.H);
        if (h0 < 0) h0 += (-h0 + p.dil_h - 1) / p.dil_h * p.dil_h; // first tap inside
        int64_t w0 = ow * p.stride_w - p.pad_w;
        const int64_t w1 = imin(w0 + (p.kw - 1) * p.dil_w + 1, p.W);
        if (w0 < 0) w0 += (-w0 + p.dil_w - 1) / p.dil_w * p.dil_w;
        T m = -INFINITY;
        for (int64_t h = h0; h < h1; h += p.dil_h)
            for (int64_t w = w0; w < w1; w += p.dil_w) {
                const T v = x[h * p.W + w];
                if (v > m || isnan(v)) m = v;
            }
        out[i] = m;
    }
}

template <class T> void launch_maxpool2d(const Pool2dParams &p, const T *in, T *out, cudaStream_t s) {
    const int64_t total = p.N * p.C * p.P * p.Q;
    maxpool2d_kernel<T><<<blocks_for(total), kThreads, 0, s>>>(p, in, out, total);
}

} // namespace

template <class T> KernelPtr<MaxPool2d, T> make_maxpool2d_direct(const Pool2dParams &p, const Device &dev) {
    AI3_CHECK(p.kh >= 1 && p.kw >= 1 && p.stride_h >= 1 && p.stride_w >= 1 && p.dil_h >= 1 && p.dil_w >= 1, ValueError,
              "maxpool2d: kernel, stride and dilation must be >= 1");
    return std::make_unique<UnaryKernel<MaxPool2d, T>>(p, dev, &launch_maxpool2d<T>, p.N * p.C * p.H * p.W,
                                                       p.N * p.C * p.P * p.Q);
}
template KernelPtr<MaxPool2d, float> make_maxpool2d_direct<float>(const Pool2dParams &, const Device &);
template KernelPtr<MaxPool2d, double> make_maxpool2d_direct<double>(const Pool2dParams &, const Device &);

} // namespace ai3::cuda
