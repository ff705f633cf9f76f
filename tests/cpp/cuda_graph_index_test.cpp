// The index maps of the CUDA backend's graph kernels, run on the host:
// cuda/graph_index.hpp is plain code that the add/mul, permute, split and cat kernels call
// per element, so this checks the dim merging and the offset arithmetic of every element
// against naive multi-index maps for random shapes, broadcasts and permutations, with no GPU.
// Build: g++ -O2 -std=c++17 -I core tests/cpp/cuda_graph_index_test.cpp -o /tmp/cgi && /tmp/cgi
#include "../../cuda/graph_index.hpp"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

using namespace ai3;
using namespace ai3::cuda;

namespace {

int g_pass = 0, g_fail = 0;
std::mt19937_64 rng(11);

int64_t uniform(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); }

// Dense strides of a shape, right-aligned to `rank` dims with 0 for broadcast (size-1) dims,
// exactly as BinaryLayer::forward_n fills BinaryParams.
void broadcast_strides(const std::vector<int64_t> &s, int rank, int64_t *st) {
    int64_t acc = 1;
    for (int i = rank - 1; i >= 0; --i) {
        int j = i - (rank - int(s.size()));
        int64_t d = j >= 0 ? s[std::size_t(j)] : 1;
        st[i] = d == 1 ? 0 : acc;
        acc *= d;
    }
}

void check_broadcast(int trial) {
    const int rank = int(uniform(0, 6));
    std::vector<int64_t> out(static_cast<std::size_t>(rank));
    for (auto &d : out) d = uniform(1, 4);
    auto operand = [&] { // right-aligned, each dim the output's or 1
        std::vector<int64_t> s(out.begin() + uniform(0, rank), out.end());
        for (auto &d : s)
            if (uniform(0, 2) == 0) d = 1;
        return s;
    };
    const std::vector<int64_t> a = operand(), b = operand();
    BinaryParams p;
    p.rank = rank;
    for (int i = 0; i < rank; ++i) p.shape[i] = out[std::size_t(i)];
    broadcast_strides(a, rank, p.a_stride);
    broadcast_strides(b, rank, p.b_stride);
    const Broadcast c = collapse(p);
    const int64_t total = std::accumulate(out.begin(), out.end(), int64_t(1), std::multiplies<int64_t>());
    bool ok =
        c.total == total && c.rank <= rank &&
        operand_numel(p, p.a_stride) == std::accumulate(a.begin(), a.end(), int64_t(1), std::multiplies<int64_t>()) &&
        operand_numel(p, p.b_stride) == std::accumulate(b.begin(), b.end(), int64_t(1), std::multiplies<int64_t>());
    for (int64_t i = 0; ok && i < total; ++i) {
        int64_t ea = 0, eb = 0, rem = i; // naive: the output's multi-index times the strides
        for (int d = rank - 1; d >= 0; --d) {
            const int64_t k = rem % out[std::size_t(d)];
            rem /= out[std::size_t(d)];
            ea += k * p.a_stride[d];
            eb += k * p.b_stride[d];
        }
        int64_t ao, bo;
        broadcast_offsets(c, i, ao, bo);
        ok = ao == ea && bo == eb;
    }
    (ok ? g_pass : g_fail)++;
    if (!ok) std::printf("FAIL broadcast trial %d (rank %d, merged rank %d)\n", trial, rank, c.rank);
}

int g_transposes = 0;

void check_permute(int trial, std::vector<int64_t> shape = {}, std::vector<int> perm = {}, int want_rank = -1,
                   bool want_transpose = false) {
    if (shape.empty() && trial >= 0) {
        shape.resize(std::size_t(uniform(0, 6)));
        for (auto &d : shape) d = uniform(1, 4);
        perm.resize(shape.size());
        std::iota(perm.begin(), perm.end(), 0);
        std::shuffle(perm.begin(), perm.end(), rng);
    }
    const int rank = int(shape.size());
    PermuteParams p;
    p.rank = rank;
    std::vector<int64_t> in_stride(static_cast<std::size_t>(rank));
    int64_t total = 1;
    for (int d = rank - 1; d >= 0; --d) {
        p.in_shape[d] = shape[std::size_t(d)];
        p.perm[d] = perm[std::size_t(d)];
        in_stride[std::size_t(d)] = total;
        total *= shape[std::size_t(d)];
    }
    const PermuteWalk w = permute_walk(p);
    bool ok = w.total == total && (want_rank < 0 || w.rank == want_rank);
    for (int64_t i = 0; ok && i < total; ++i) {
        int64_t e = 0, rem = i; // naive: output dim d is input dim perm[d]
        for (int d = rank - 1; d >= 0; --d) {
            const int64_t n = shape[std::size_t(perm[std::size_t(d)])];
            e += (rem % n) * in_stride[std::size_t(perm[std::size_t(d)])];
            rem /= n;
        }
        ok = permute_offset(w, i) == e;
    }
    // The tiled kernel's view of it: out[(b * I + i) * J + j] = in[b * sb + i + j * sj].
    Transpose t;
    if (as_transpose(w, t)) {
        ++g_transposes;
        ok = ok && t.B * t.I * t.J == total;
        for (int64_t b = 0; ok && b < t.B; ++b)
            for (int64_t i = 0; ok && i < t.I; ++i)
                for (int64_t j = 0; ok && j < t.J; ++j)
                    ok = permute_offset(w, (b * t.I + i) * t.J + j) == b * t.sb + i + j * t.sj;
    } else {
        ok = ok && !want_transpose;
    }
    (ok ? g_pass : g_fail)++;
    if (!ok) std::printf("FAIL permute trial %d (rank %d, merged rank %d)\n", trial, rank, w.rank);
}

void check_split(int trial) {
    SplitParams p;
    p.outer = uniform(1, 5);
    p.dim = uniform(1, 6);
    p.inner = uniform(1, 5);
    p.start = uniform(0, p.dim - 1);
    p.len = uniform(0, p.dim - p.start);
    bool ok = true;
    int64_t k = 0;
    for (int64_t o = 0; o < p.outer; ++o)
        for (int64_t r = 0; r < p.len; ++r)
            for (int64_t j = 0; j < p.inner; ++j, ++k)
                ok = ok && split_source(p, k) == (o * p.dim + p.start + r) * p.inner + j;
    (ok ? g_pass : g_fail)++;
    if (!ok) std::printf("FAIL split trial %d\n", trial);
}

void check_cat(int trial) {
    const int64_t outer = uniform(1, 5);
    const int n = int(uniform(1, 5));
    std::vector<int64_t> inner(static_cast<std::size_t>(n));
    for (auto &v : inner) v = uniform(0, 6);
    const int64_t row = std::accumulate(inner.begin(), inner.end(), int64_t(0));
    std::vector<int> hits(std::size_t(outer * row), 0);
    bool ok = true;
    int64_t off = 0;
    for (int i = 0; i < n; ++i) {
        for (int64_t k = 0; k < outer * inner[std::size_t(i)]; ++k) {
            const int64_t d = cat_dest(k, inner[std::size_t(i)], row, off);
            const int64_t o = k / inner[std::size_t(i)], j = k % inner[std::size_t(i)];
            ok = ok && d == o * row + off + j;
            if (d >= 0 && d < outer * row) ++hits[std::size_t(d)];
        }
        off += inner[std::size_t(i)];
    }
    // every output element is written exactly once
    ok = ok && std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; });
    (ok ? g_pass : g_fail)++;
    if (!ok) std::printf("FAIL cat trial %d\n", trial);
}

} // namespace

int main() {
    for (int t = 0; t < 2000; ++t) check_broadcast(t);
    for (int t = 0; t < 2000; ++t) check_permute(t);
    for (int t = 0; t < 300; ++t) check_split(t);
    for (int t = 0; t < 300; ++t) check_cat(t);
    // The merges the kernels rely on: NCHW -> NHWC is a 3-D walk, the identity a 1-D copy.
    check_permute(-1, {2, 3, 4, 5}, {0, 2, 3, 1}, 3, true); // NCHW -> NHWC, ConvNeXt
    check_permute(-1, {2, 4, 5, 3}, {0, 3, 1, 2}, 3, true); // and back
    // channel shuffle's transpose keeps H*W innermost: no tiles needed, reads stay contiguous
    check_permute(-1, {2, 2, 3, 4, 4}, {0, 2, 1, 3, 4}, 4, false);
    check_permute(-1, {7, 9}, {1, 0}, 2, true);
    check_permute(-1, {2, 3, 4, 5}, {0, 1, 2, 3}, 1);
    check_permute(-1, {2, 1, 4, 5}, {0, 2, 3, 1}, 1); // a size-1 dim moving is no transpose
    // An SE gate (N, C, H, W) * (N, C, 1, 1) merges to (N*C, H*W).
    {
        BinaryParams p;
        p.rank = 4;
        const int64_t s[4] = {2, 3, 4, 5};
        std::copy(s, s + 4, p.shape);
        broadcast_strides({2, 3, 4, 5}, 4, p.a_stride);
        broadcast_strides({2, 3, 1, 1}, 4, p.b_stride);
        const Broadcast c = collapse(p);
        const bool ok =
            c.rank == 2 && c.shape[0] == 6 && c.shape[1] == 20 && c.as[1] == 1 && c.bs[1] == 0 && c.bs[0] == 1;
        (ok ? g_pass : g_fail)++;
        if (!ok) std::printf("FAIL SE gate merge: rank %d\n", c.rank);
    }
    std::printf("%d passed, %d failed (%d permutes checked as tiled transposes)\n", g_pass, g_fail, g_transposes);
    return g_fail ? 1 : 0;
}
