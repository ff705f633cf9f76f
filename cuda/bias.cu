// The bias add shared by the conv and linear kernels that do not fuse it.
#include "common.hpp"

namespace ai3::cuda {

namespace {
template <class T>
__global__ void add_bias_kernel(T *__restrict__ y, const T *__restrict__ b, int64_t total, int64_t inner,
                                int64_t channels) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x)
        y[i] += b[(i / inner) % channels];
}
} // namespace

template <class T> void add_bias(T *y, const T *b, int64_t total, int64_t inner, int64_t channels, cudaStream_t s) {
    if (total <= 0) return;
    add_bias_kernel<T><<<blocks_for(total), kThreads, 0, s>>>(y, b, total, inner, channels);
    AI3_CUDA_CHECK_LAUNCH();
}
template void add_bias<float>(float *, const float *, int64_t, int64_t, int64_t, cudaStream_t);
template void add_bias<double>(double *, const double *, int64_t, int64_t, int64_t, cudaStream_t);

} // namespace ai3::cuda
