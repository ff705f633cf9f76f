// avgpool2d on the GPU with torch's avg_pool2d semantics (fallback/avgpool2d/direct.cpp):
// the count_include_pad divisor counts the window clipped to the padded input,
// count_include_pad=false counts valid elements, divisor_override replaces both, and a
// window with no valid element gives 0. One thread per output element.
#include "kernels.hpp"

namespace ai3::cuda {

namespace {

template <class T>
__global__ void avgpool2d_kernel(Pool2dParams p, const T *__restrict__ in, T *__restrict__ out, int64_t total) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t ow = i % p.Q, oh = (i / p.Q) % p.P, plane = i / (p.Q * p.P);
        const T *x = in + plane * p.H * p.W;
        int64_t h0 = oh * p.stride_h - p.pad_h, h1 = imin(h0 + p.kh, p.H + p.pad_h);
        int64_t w0 = ow * p.stride_w - p.pad_w, w1 = imin(w0 + p.kw, p.W + p.pad_w);
        const int64_t pool_size = (h1 - h0) * (w1 - w0);
        h0 = imax(h0, 0);
        w0 = imax(w0, 0);
        h1 = imin(h1, p.H);
        w1 = imin(w1, p.W);
        if (h0 >= h1 || w0 >= w1) {
            out[i] = T(0);
            continue;
        }
        T sum = T(0);
        for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) sum += x[h * p.W + w];
        const int64_t div = p.divisor_override != 0 ? p.divisor_override
                            : p.count_include_pad   ? pool_size
                                                    : (h1 - h0) * (w1 - w0);
        out[i] = sum / T(div);
    }
}

template <class T> void launch_avgpool2d(const Pool2dParams &p, const T *in, T *out, cudaStream_t s) {
    const int64_t total = p.N * p.C * p.P * p.Q;
    avgpool2d_kernel<T><<<blocks_for(total), kThreads, 0, s>>>(p, in, out, total);
}

} // namespace

template <class T> KernelPtr<AvgPool2d, T> make_avgpool2d_direct(const Pool2dParams &p, const Device &dev) {
    AI3_CHECK(p.kh >= 1 && p.kw >= 1 && p.stride_h >= 1 && p.stride_w >= 1, ValueError,
              "avgpool2d: kernel and stride must be >= 1");
    return std::make_unique<UnaryKernel<AvgPool2d, T>>(p, dev, &launch_avgpool2d<T>, p.N * p.C * p.H * p.W,
                                                       p.N * p.C * p.P * p.Q);
}
template KernelPtr<AvgPool2d, float> make_avgpool2d_direct<float>(const Pool2dParams &, const Device &);
template KernelPtr<AvgPool2d, double> make_avgpool2d_direct<double>(const Pool2dParams &, const Device &);

} // namespace ai3::cuda
