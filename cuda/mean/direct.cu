// mean on the GPU over a contiguous block of dims: input outer x reduce x inner -> outer x
// inner. inner == 1 (the spatial mean of NCHW): a block per row; inner > 1: a tile of 32
// inner positions per block (reduce.cuh). Sums are trees accumulated in double, as the CPU
// fallback accumulates (the kernel is memory-bound: one add per element read, so the wider
// adds should not be the limit; not yet measured on a GPU). An empty reduction gives NaN,
// as torch's mean does.
#include "reduce.cuh"

#include <limits>

namespace ai3::cuda {

namespace {

template <class T>
__global__ void mean_rows_kernel(const T *__restrict__ in, T *__restrict__ out, int64_t rows, int64_t n) {
    __shared__ double shm[32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T *x = in + r * n;
        double s = 0;
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += double(x[i]);
        s = block_sum(s, shm);
        if (threadIdx.x == 0) out[r] = n > 0 ? T(s / double(n)) : std::numeric_limits<T>::quiet_NaN();
    }
}

template <class T> __global__ void mean_tiles_kernel(const T *__restrict__ in, T *__restrict__ out, MeanParams p) {
    __shared__ double shm[kTileY][kTileX];
    const int64_t per = (p.inner + kTileX - 1) / kTileX, tiles = p.outer * per;
    for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
        const int64_t o = t / per, i = (t - o * per) * kTileX + threadIdx.x;
        double s = 0;
        if (i < p.inner)
            for (int64_t r = threadIdx.y; r < p.reduce; r += kTileY) s += double(in[(o * p.reduce + r) * p.inner + i]);
        s = column_sum(s, shm); // every thread takes part, in range or not
        if (threadIdx.y == 0 && i < p.inner)
            out[o * p.inner + i] = p.reduce > 0 ? T(s / double(p.reduce)) : std::numeric_limits<T>::quiet_NaN();
    }
}

template <class T> void launch_mean(const MeanParams &p, const T *in, T *out, cudaStream_t s) {
    if (p.outer <= 0 || p.inner <= 0) return;
    if (p.inner == 1)
        mean_rows_kernel<T><<<row_blocks(p.outer), row_threads(p.reduce), 0, s>>>(in, out, p.outer, p.reduce);
    else
        mean_tiles_kernel<T><<<row_blocks(tiles_for(p.outer, p.inner)), dim3(kTileX, kTileY), 0, s>>>(in, out, p);
}

} // namespace

template <class T> KernelPtr<Mean, T> make_mean_direct(const MeanParams &p, const Device &dev) {
    AI3_CHECK(p.outer >= 0 && p.reduce >= 0 && p.inner >= 0, ValueError, "mean: negative size");
    return std::make_unique<UnaryKernel<Mean, T>>(p, dev, &launch_mean<T>, p.outer * p.reduce * p.inner,
                                                  p.outer * p.inner);
}
template KernelPtr<Mean, float> make_mean_direct<float>(const MeanParams &, const Device &);
template KernelPtr<Mean, double> make_mean_direct<double>(const MeanParams &, const Device &);

} // namespace ai3::cuda
