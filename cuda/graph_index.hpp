// The index maps of the CUDA graph kernels as plain code that both the kernels
// (add/mul through broadcast.cuh, permute, split, cat) and a host test
// (tests/cpp/cuda_graph_index_test.cpp) compile, so the planning on the host (merging
// dims) and the per-element offset arithmetic are checked against naive index maps
// without a GPU. No CUDA headers here.
#pragma once
#include "ai3/ops.hpp"

#include <cstdint>

#if defined(__CUDACC__)
#define AI3_INDEX_HD __host__ __device__ __forceinline__
#else
#define AI3_INDEX_HD inline
#endif

namespace ai3::cuda {

// ---- broadcasting binary ops ---------------------------------------------------------------

// BinaryParams with adjacent dims merged where both operands walk them as one dim
// (sizes of 1 dropped, contiguous runs joined): (N, C, H, W) * (N, C, 1, 1), an SE gate,
// becomes (N*C, H*W) with strides (H*W, 1) and (1, 0), so each output element costs a
// couple of divisions instead of one per original dim.
struct Broadcast {
    int rank = 0;
    int64_t shape[kMaxRank] = {}, as[kMaxRank] = {}, bs[kMaxRank] = {};
    int64_t total = 0;
};

inline Broadcast collapse(const BinaryParams &p) {
    Broadcast c;
    c.total = 1;
    for (int d = 0; d < p.rank; ++d) c.total *= p.shape[d];
    // From the innermost dim outwards; the merged dims are built innermost first, then reversed.
    int64_t shape[kMaxRank], as[kMaxRank], bs[kMaxRank];
    int n = 0;
    for (int d = p.rank - 1; d >= 0; --d) {
        if (p.shape[d] == 1) continue;
        if (n > 0 && p.a_stride[d] == as[n - 1] * shape[n - 1] && p.b_stride[d] == bs[n - 1] * shape[n - 1]) {
            shape[n - 1] *= p.shape[d]; // continues the inner dim for both operands (0 == 0 * size included)
            continue;
        }
        shape[n] = p.shape[d];
        as[n] = p.a_stride[d];
        bs[n] = p.b_stride[d];
        ++n;
    }
    c.rank = n;
    for (int i = 0; i < n; ++i) {
        c.shape[i] = shape[n - 1 - i];
        c.as[i] = as[n - 1 - i];
        c.bs[i] = bs[n - 1 - i];
    }
    return c;
}

// Elements of an operand: its broadcast dims (stride 0) count once.
inline int64_t operand_numel(const BinaryParams &p, const int64_t *stride) {
    int64_t n = 1;
    for (int d = 0; d < p.rank; ++d)
        if (stride[d] != 0) n *= p.shape[d];
    return n;
}

// The offsets into a and b of dense output element i.
AI3_INDEX_HD void broadcast_offsets(const Broadcast &c, int64_t i, int64_t &ao, int64_t &bo) {
    ao = 0;
    bo = 0;
    int64_t rem = i;
    for (int d = c.rank - 1; d >= 0; --d) {
        const int64_t k = rem % c.shape[d];
        rem /= c.shape[d];
        ao += k * c.as[d];
        bo += k * c.bs[d];
    }
}

// ---- permute ---------------------------------------------------------------------------------

// The output's dims with the input stride of each. Dims of size 1 are dropped and output
// dims that stay adjacent and in order in the input are merged (ConvNeXt's NCHW -> NHWC
// becomes (N, HW, C) with input strides (C*HW, 1, HW)).
struct PermuteWalk {
    int rank = 0;
    int64_t shape[kMaxRank] = {};
    int64_t st[kMaxRank] = {};
    int64_t total = 0;
};

inline PermuteWalk permute_walk(const PermuteParams &p) {
    PermuteWalk w;
    int64_t in_stride[kMaxRank];
    int64_t s = 1;
    for (int d = p.rank - 1; d >= 0; --d) {
        in_stride[d] = s;
        s *= p.in_shape[d];
    }
    w.total = s;
    int64_t shape[kMaxRank], st[kMaxRank];
    int n = 0;
    for (int d = p.rank - 1; d >= 0; --d) { // innermost output dim first
        const int64_t size = p.in_shape[p.perm[d]], stride = in_stride[p.perm[d]];
        if (size == 1) continue;
        if (n > 0 && stride == st[n - 1] * shape[n - 1]) {
            shape[n - 1] *= size;
            continue;
        }
        shape[n] = size;
        st[n] = stride;
        ++n;
    }
    w.rank = n;
    for (int i = 0; i < n; ++i) {
        w.shape[i] = shape[n - 1 - i];
        w.st[i] = st[n - 1 - i];
    }
    return w;
}

// The input offset of dense output element i.
AI3_INDEX_HD int64_t permute_offset(const PermuteWalk &w, int64_t i) {
    int64_t off = 0, rem = i;
    for (int d = w.rank - 1; d >= 0; --d) {
        off += (rem % w.shape[d]) * w.st[d];
        rem /= w.shape[d];
    }
    return off;
}

// A walk that is a batch of 2-D transposes: out[b, i, j] = in[b * sb + i + j * sj] over a
// dense B x I x J output, i.e. the input's unit-stride dim is the output's second-to-last
// (NCHW <-> NHWC). Such a permute is tiled through shared memory so both the reads and
// the writes are coalesced. (Where the input's unit-stride dim stays innermost, as in
// channel shuffle's transpose, one thread per element already reads contiguous runs.)
struct Transpose {
    int64_t B = 1, I = 0, J = 0, sb = 0, sj = 0;
};

inline bool as_transpose(const PermuteWalk &w, Transpose &t) {
    if (w.rank == 2 && w.st[0] == 1) {
        t = Transpose{1, w.shape[0], w.shape[1], 0, w.st[1]};
        return true;
    }
    if (w.rank == 3 && w.st[1] == 1) {
        t = Transpose{w.shape[0], w.shape[1], w.shape[2], w.st[0], w.st[2]};
        return true;
    }
    return false;
}

// ---- split / cat -------------------------------------------------------------------------------

// The input offset of dense output element k of a split piece (outer x len x inner of an
// outer x dim x inner input).
AI3_INDEX_HD int64_t split_source(const SplitParams &p, int64_t k) {
    const int64_t row = p.len * p.inner, o = k / row, j = k - o * row;
    return (o * p.dim + p.start) * p.inner + j;
}

// The output offset of element k of a cat input of `inner` elements per row, placed at
// column `off` of output rows of `row` elements.
AI3_INDEX_HD int64_t cat_dest(int64_t k, int64_t inner, int64_t row, int64_t off) {
    const int64_t o = k / inner, j = k - o * inner;
    return o * row + off + j;
}

} // namespace ai3::cuda
