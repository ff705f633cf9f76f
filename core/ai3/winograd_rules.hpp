// The CPU winograd kernel's two shape rules (fallback/conv2d/winograd.cpp), shared with
// the cost model (core/src/guess.cpp) so 'guess' prices the kernel that will really run.
#pragma once
#include "ai3/ops.hpp"

#include <algorithm>
#include <cstdint>

namespace ai3 {

// Tile size m of F(m x m, 3 x 3): each image costs ~ alpha^2 * tiles multiply-adds per
// filter, and every call reads U (alpha^2 values per filter) about as dearly as 32 more
// tiles (kUStreamTiles). So m = 4 unless F(2x2)'s extra products cost less than F(4x4)'s
// padding waste plus its 2.25x larger U: F(2x2) for outputs up to ~16x16 at batch 1,
// F(4x4) from ~20x20 or for larger batches.
inline int winograd_tile(const Conv2dParams &p) {
    constexpr int64_t kUStreamTiles = 32;
    auto cost = [&](int64_t m) {
        const int64_t a = m + 2, tiles = ((p.P + m - 1) / m) * ((p.Q + m - 1) / m);
        return a * a * (p.N * tiles + kUStreamTiles);
    };
    return cost(2) < cost(4) ? 2 : 4;
}

// SIMD vectors of tiles per tile block: one coordinate's V[xi] (C/g x tiles) kept in
// L2 (160 KiB), 4..16 vectors (U is read once per block, so wider blocks reuse it more;
// measured: 3-vector blocks lost ~20% on 512-channel layers, 10-16 were alike).
inline int64_t winograd_block_vectors(int64_t cpg, int64_t elem_bytes, int64_t lanes) {
    constexpr int64_t kVxBytes = int64_t(160) << 10;
    return std::max<int64_t>(4, std::min<int64_t>(16, kVxBytes / (std::max<int64_t>(1, cpg) * elem_bytes * lanes)));
}

// Whether the kernel keeps U (alpha^2 values per 3x3 filter: 4x the weights for F(4x4))
// for its life, or transforms each output-channel chunk per call from the weights into
// L2-sized scratch. Kept while it is tiny (1 MiB) or no bigger than the layer's input at
// this batch, so the caches never dominate a model's memory: at batch 1, caching every
// layer cost VGG16 164 MiB and ResNet-50 29 MiB, each more than torch's whole inference
// overhead. The per-call transform is about 1.5-2 ns per filter per tile block on the
// reference machine (2 threads), against 1-9 ms of products on a 512x512 layer at
// batch 1; guess.cpp charges it, so 'guess' prices the kernel that will run.
inline bool winograd_caches_filters(const Conv2dParams &p, int64_t elem_bytes) {
    const int64_t m = winograd_tile(p), a2 = (m + 2) * (m + 2);
    const int64_t u_bytes = a2 * p.K * (p.groups > 0 ? p.C / p.groups : 0) * elem_bytes;
    return u_bytes <= std::max<int64_t>(int64_t(1) << 20, p.N * p.C * p.H * p.W * elem_bytes);
}

} // namespace ai3
