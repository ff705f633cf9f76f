// adaptive average pooling on the GPU (torch): output cell (p, q) averages rows
// [floor(p*H/P), ceil((p+1)*H/P)) x columns [floor(q*W/Q), ceil((q+1)*W/Q)).
#include "kernels.hpp"

namespace ai3::cuda {

namespace {

template <class T>
__global__ void adaptiveavgpool2d_kernel(AdaptiveAvgPool2dParams p, const T *__restrict__ in, T *__restrict__ out,
                                         int64_t total) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t ow = i % p.Q, oh = (i / p.Q) % p.P, plane = i / (p.Q * p.P);
        const T *x = in + plane * p.H * p.W;
        const int64_t h0 = oh * p.H / p.P, h1 = ((oh + 1) * p.H + p.P - 1) / p.P;
        const int64_t w0 = ow * p.W / p.Q, w1 = ((ow + 1) * p.W + p.Q - 1) / p.Q;
        T sum = T(0);
        for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) sum += x[h * p.W + w];
        const int64_t cnt = (h1 - h0) * (w1 - w0);
        out[i] = cnt > 0 ? sum / T(cnt) : T(0);
    }
}

template <class T>
void launch_adaptiveavgpool2d(const AdaptiveAvgPool2dParams &p, const T *in, T *out, cudaStream_t s) {
    const int64_t total = p.N * p.C * p.P * p.Q;
    adaptiveavgpool2d_kernel<T><<<blocks_for(total), kThreads, 0, s>>>(p, in, out, total);
}

} // namespace

template <class T>
KernelPtr<AdaptiveAvgPool2d, T> make_adaptiveavgpool2d_direct(const AdaptiveAvgPool2dParams &p, const Device &dev) {
    AI3_CHECK(p.N >= 0 && p.C >= 0 && p.H >= 0 && p.W >= 0 && p.P >= 0 && p.Q >= 0, ValueError,
              "adaptiveavgpool2d: negative size");
    return std::make_unique<UnaryKernel<AdaptiveAvgPool2d, T>>(p, dev, &launch_adaptiveavgpool2d<T>,
                                                               p.N * p.C * p.H * p.W, p.N * p.C * p.P * p.Q);
}
template KernelPtr<AdaptiveAvgPool2d, float> make_adaptiveavgpool2d_direct<float>(const AdaptiveAvgPool2dParams &,
                                                                                  const Device &);
template KernelPtr<AdaptiveAvgPool2d, double> make_adaptiveavgpool2d_direct<double>(const AdaptiveAvgPool2dParams &,
                                                                                    const Device &);

} // namespace ai3::cuda
