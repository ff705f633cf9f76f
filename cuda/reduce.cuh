// Device code shared by the reducing graph ops (mean, layernorm): block-wide sums for a
// block per contiguous row, and the launch shapes of both layouts. Sums are trees (warp
// shuffles, then one partial per warp), whose rounding error grows with log2(n) rather
// than with n as a running sum's does. Included only by .cu files.
#pragma once
#include "kernels.hpp"

namespace ai3::cuda {

// ---- a block per contiguous row (reduce over the last dim) -------------------------------

// Threads for a block that reduces rows of n elements: whole warps, at most kThreads,
// no more than the row needs.
inline unsigned row_threads(int64_t n) {
    unsigned t = 32;
    while (t < unsigned(kThreads) && int64_t(t) < n) t *= 2;
    return t;
}

// Blocks for `rows` independent rows: the kernels loop over rows with a stride of
// gridDim.x, so the grid stays within what every GPU accepts.
inline unsigned row_blocks(int64_t rows) {
    if (rows < 1) return 1;
    return unsigned(rows < (int64_t(1) << 20) ? rows : (int64_t(1) << 20));
}

// The sum of v over the block (1-D, blockDim.x a multiple of 32), returned to every
// thread. `shm` holds 32 values. Every thread of the block must call it.
template <class A> __device__ A block_sum(A v, A *shm) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5, warps = int(blockDim.x) >> 5;
    __syncthreads(); // shm may still be read by a previous call
    if (lane == 0) shm[warp] = v;
    __syncthreads();
    A t = lane < warps ? shm[lane] : A(0);
    for (int o = 16; o > 0; o >>= 1) t += __shfl_xor_sync(0xffffffffu, t, o);
    return t;
}

// ---- a reduction over a middle dim (outer x reduce x inner) --------------------------------

// A block of kTileX x kTileY threads takes kTileX consecutive inner positions of one outer
// index: threadIdx.x walks the inner positions (coalesced), threadIdx.y splits the reduced
// dim, and the kTileY partial sums meet in shared memory.
constexpr int kTileX = 32, kTileY = 8;

inline int64_t tiles_for(int64_t outer, int64_t inner) { return outer * ((inner + kTileX - 1) / kTileX); }

// The sum over threadIdx.y of v, for this thread's column, returned to the whole column.
// `shm` holds kTileY x kTileX values. Every thread of the block must call it.
template <class A> __device__ A column_sum(A v, A (*shm)[kTileX]) {
    __syncthreads(); // shm may still be read by a previous call
    shm[threadIdx.y][threadIdx.x] = v;
    __syncthreads();
    for (int s = kTileY / 2; s > 0; s >>= 1) { // a tree over y
        if (int(threadIdx.y) < s) shm[threadIdx.y][threadIdx.x] += shm[threadIdx.y + s][threadIdx.x];
        __syncthreads();
    }
    return shm[0][threadIdx.x];
}

} // namespace ai3::cuda
