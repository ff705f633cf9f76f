// The GEMM itself, written once over a SIMD traits type and instantiated by each
// gemm_<isa>.cpp after its target pragma. Everything here lives in the namespace
// AI3_GEMM_NS, which each ISA file defines differently: otherwise the linker would
// merge identically named template instantiations from different ISA files and an
// AVX2 machine could end up running the AVX-512 copy.
//
// The structure is BLIS's, mirrored for row-major C (row-major C is column-major
// C^T = op(B)^T op(A)^T, so our B plays BLIS's A and vice versa):
//   rows of A in blocks of MB    (packed A block, MB x KC, lives in L3)
//   K in blocks of KC            (rank-KC updates)
//   columns of B in blocks of NB (packed B block, KC x NB, lives in L2)
//   MR-row micro-panels of A     (one A micro-panel, MR x KC, stays in L1)
//   NR-column micro-panels of B  (streamed from L2 by the micro-kernel)
// The micro-kernel holds an MR x NR tile of C in registers, vectorised along N,
// broadcasting one A element per row per k.
//
// Include order matters: the including file pulls in every standard header before
// its target pragma so that library code is not compiled for the ISA.
#ifndef AI3_GEMM_NS
#error "define AI3_GEMM_NS before including gemm_kernel.hpp"
#endif

#include "ai3/parallel.hpp"
#include "ai3/scratch.hpp"
#include "gemm_isa.hpp"

#include <cstdint>
#include <cstring>

namespace ai3::fallback::detail::AI3_GEMM_NS {

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// S: SIMD traits (T, V, W, zero, load, store, bcast, fma, add, hsum; transpose
// of a W x W block if kTranspose).
// MR x NV vectors: register tile. KC, NB, MB: cache blocks (NB a multiple of NR).
// SM: problems with M <= SM skip packing (see small_m_*). SNV/SNJ: register tiles
// of those paths.
template <class S, int MR, int NV, int KC, int NB, int MB, int SM, int SNV, int SNJ> struct Gemm {
    using T = typename S::T;
    using V = typename S::V;
    static constexpr int W = S::W;
    static constexpr int NR = NV * W;
    static_assert(NB % NR == 0, "NB must hold whole micro-panels");

    // ---------------------------------------------------------------- micro-kernel
    // mr x nv is the part of the tile computed; the packed panels always have the
    // full MR / NR stride (zero padded), so one kernel body serves the edges too.
    template <int mr, int nv>
    static void micro(int64_t kc, const T *__restrict a, const T *__restrict b, T *__restrict c, int64_t ldc,
                      bool acc) {
        V r[mr][nv];
#pragma GCC unroll 16
        for (int i = 0; i < mr; ++i)
#pragma GCC unroll 8
            for (int j = 0; j < nv; ++j) r[i][j] = S::zero();
        // C is touched only after the k loop; start its lines moving now.
#pragma GCC unroll 16
        for (int i = 0; i < mr; ++i) {
            __builtin_prefetch(c + i * ldc, 1);
            __builtin_prefetch(c + i * ldc + nv * W - 1, 1);
        }
#pragma GCC unroll 2
        for (int64_t k = 0; k < kc; ++k) {
            V bv[nv];
#pragma GCC unroll 8
            for (int j = 0; j < nv; ++j) bv[j] = S::load(b + j * W);
#pragma GCC unroll 16
            for (int i = 0; i < mr; ++i) {
                V av = S::bcast(a + i);
#pragma GCC unroll 8
                for (int j = 0; j < nv; ++j) r[i][j] = S::fma(av, bv[j], r[i][j]);
            }
            a += MR;
            b += NR;
        }
#pragma GCC unroll 16
        for (int i = 0; i < mr; ++i)
#pragma GCC unroll 8
            for (int j = 0; j < nv; ++j) {
                T *p = c + i * ldc + j * W;
                S::store(p, acc ? S::add(S::load(p), r[i][j]) : r[i][j]);
            }
    }

    template <int mr, int nv = NV>
    static void micro_nv(int n, int64_t kc, const T *a, const T *b, T *c, int64_t ldc, bool acc) {
        if (n == nv) return micro<mr, nv>(kc, a, b, c, ldc, acc);
        if constexpr (nv > 1) micro_nv<mr, nv - 1>(n, kc, a, b, c, ldc, acc);
    }
    template <int mr = MR>
    static void micro_any(int m, int n, int64_t kc, const T *a, const T *b, T *c, int64_t ldc, bool acc) {
        if (m == mr) return micro_nv<mr>(n, kc, a, b, c, ldc, acc);
        if constexpr (mr > 1) micro_any<mr - 1>(m, n, kc, a, b, c, ldc, acc);
    }

    // mr x nr tile at the edge of C.
    static void edge(int mr, int nr, int64_t kc, const T *a, const T *b, T *c, int64_t ldc, bool acc) {
        int nv = int(ceil_div(nr, W));
        if (nr == nv * W) return micro_any(mr, nv, kc, a, b, c, ldc, acc);
        // A partial vector would store past the tile (into a neighbour's columns or
        // past the end of C), so compute into a private tile and copy.
        alignas(64) T tile[MR * NR];
        micro_any(mr, nv, kc, a, b, tile, NR, false);
        for (int i = 0; i < mr; ++i) {
            T *cr = c + i * ldc;
            const T *tr = tile + i * NR;
            if (acc)
                for (int j = 0; j < nr; ++j) cr[j] += tr[j];
            else
                for (int j = 0; j < nr; ++j) cr[j] = tr[j];
        }
    }

    // --------------------------------------------------------------------- packing
    // op(A)[i0:i0+mb, p0:p0+kc] -> MR-row micro-panels, k-major (MR values per k).
    static void pack_a(const GemmArgs<T> &g, int64_t i0, int64_t mb, int64_t p0, int64_t kc, T *__restrict dst) {
        for (int64_t ir = 0; ir < mb; ir += MR) {
            int mr = int(imin(MR, mb - ir));
            T *__restrict d = dst + ir * kc;
            if (g.ta) {
                const T *s = g.A + p0 * g.lda + i0 + ir;
                for (int64_t k = 0; k < kc; ++k, s += g.lda, d += MR) {
                    for (int i = 0; i < mr; ++i) d[i] = s[i];
                    for (int i = mr; i < MR; ++i) d[i] = T(0);
                }
            } else if (mr == MR) {
                const T *rows[MR];
                for (int i = 0; i < MR; ++i) rows[i] = g.A + (i0 + ir + i) * g.lda + p0;
                for (int64_t k = 0; k < kc; ++k, d += MR)
#pragma GCC unroll 16
                    for (int i = 0; i < MR; ++i) d[i] = rows[i][k];
            } else {
                for (int64_t k = 0; k < kc; ++k, d += MR) {
                    for (int i = 0; i < mr; ++i) d[i] = g.A[(i0 + ir + i) * g.lda + p0 + k];
                    for (int i = mr; i < MR; ++i) d[i] = T(0);
                }
            }
        }
    }

    // op(B)[p0:p0+kc, j0:j0+nb] -> NR-column micro-panels, k-major (NR values per k).
    // dst has kPackSlack elements of slack past the last panel (see pack_b_conv).
    static void pack_b(const GemmArgs<T> &g, int64_t p0, int64_t kc, int64_t j0, int64_t nb, T *__restrict dst) {
        if (g.conv) return pack_b_conv(*g.conv, p0, kc, j0, nb, dst);
        for (int64_t jr = 0; jr < nb; jr += NR) {
            int nr = int(imin(NR, nb - jr));
            T *__restrict d = dst + jr * kc;
            if (!g.tb) {
                const T *s = g.B + p0 * g.ldb + j0 + jr;
                if (nr == NR) {
                    for (int64_t k = 0; k < kc; ++k, s += g.ldb, d += NR) std::memcpy(d, s, NR * sizeof(T));
                } else {
                    for (int64_t k = 0; k < kc; ++k, s += g.ldb, d += NR) {
                        for (int j = 0; j < nr; ++j) d[j] = s[j];
                        for (int j = nr; j < NR; ++j) d[j] = T(0);
                    }
                }
            } else {
                // B is N x K: each of our columns is a contiguous row of B. Walk k in
                // short runs so the NR source rows stream together and each packed
                // line is written whole while it is in L1.
                const T *rows[NR];
                for (int j = 0; j < nr; ++j) rows[j] = g.B + (j0 + jr + j) * g.ldb + p0;
                constexpr int KB = 16;
                int64_t k0 = 0;
                if constexpr (S::kTranspose) {
                    // W x W register transposes where the traits have one.
                    if (nr == NR)
                        for (; k0 + W <= kc; k0 += W)
                            for (int j = 0; j < NR; j += W) {
                                const T *blk[W];
                                for (int q = 0; q < W; ++q) blk[q] = rows[j + q] + k0;
                                S::transpose(blk, d + k0 * NR + j, NR);
                            }
                }
                for (; k0 < kc; k0 += KB) {
                    int kb = int(imin(KB, kc - k0));
                    T *dk = d + k0 * NR;
                    for (int j = 0; j < nr; ++j) {
                        const T *s = rows[j] + k0;
                        for (int k = 0; k < kb; ++k) dk[k * NR + j] = s[k];
                    }
                    if (nr < NR)
                        for (int k = 0; k < kb; ++k)
                            for (int j = nr; j < NR; ++j) dk[k * NR + j] = T(0);
                }
            }
        }
    }

    // ------------------------------------------------------- implicit-conv B
    // B[p0:p0+kc, j0:j0+nb] of a convolution's implicit matrix (see ImplicitConvB),
    // gathered from the input tensor straight into the micro-panels. Row k = (c, r, s)
    // is an offset plus two coordinates (ConvRow); a micro-panel's NR columns are split
    // once per panel into runs lying in one output row (ConvSeg), inside which the input
    // is a (strided) run of one input row. So per (k, run): one row check, a clamp of
    // the run to [0, W), and a copy. (Two special cases: 1x1/stride 1/no padding, where
    // B is the input itself, copies NR columns per row; panels of many short runs use
    // the ISA's gathers where it has them.) Copies and zero fills store whole vectors and may
    // run past their run's end: everything after it in the buffer is written later
    // (runs, then rows k, then panels go in increasing address order), and the buffer
    // has kPackSlack elements of slack for the very last row.
    static constexpr int64_t kPackSlack = W;
    struct ConvRow {
        int64_t off, h, w; // offset of input[c, h, w]; h = r*dil_h - pad_h, w = s*dil_w - pad_w
    };
    struct ConvSeg {
        int64_t jj, len;   // panel columns [jj, jj + len)
        int64_t off, h, w; // p*stride_h*W + q*stride_w, p*stride_h, q*stride_w of its first column
    };
    static constexpr int64_t kNeverRow = INT64_MIN / 4; // a ConvSeg.h no row reaches: zero columns
    static constexpr int kMaxRuns = 2;                  // more runs in a panel: gather instead (S::kGather)

    // n <= NR. Fixed trip counts: GCC would turn an open loop into a memset/memmove
    // call, which costs more than the copy at these lengths.
    static void zero_run(T *o, int64_t n) {
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v)
            if (v * W < n) S::store(o + v * W, S::zero());
    }
    static void copy_run(T *o, const T *src, int64_t n) {
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v)
            if (v * W < n) S::store(o + v * W, S::load(src + v * W));
    }

    static void pack_b_conv(const ImplicitConvB<T> &cb, int64_t p0, int64_t kc, int64_t j0, int64_t nb,
                            T *__restrict dst) {
        const ImplicitConvShape &s = cb.shape;
        const ImplicitConvTable *t = cb.table;
        const T *__restrict in = cb.input;
        const int64_t H = s.H, IW = s.W, sw = s.stride_w;
        const int64_t total = s.C * H * IW; // readable input elements

        // 1x1, stride 1, no padding: the implicit matrix is the input itself (C x H*W).
        if (s.R == 1 && s.S == 1 && s.stride_h == 1 && sw == 1 && s.pad_h == 0 && s.pad_w == 0 && s.P == H &&
            s.Q == IW) {
            for (int64_t jr = 0; jr < nb; jr += NR) {
                const int64_t nr = imin(NR, nb - jr), j = cb.col0 + j0 + jr;
                T *d = dst + jr * kc;
                for (int64_t k = 0; k < kc; ++k, d += NR) {
                    const int64_t base = (p0 + k) * H * IW + j;
                    if (base + ceil_div(nr, W) * W <= total)
                        copy_run(d, in + base, nr);
                    else
                        for (int64_t e = 0; e < nr; ++e) d[e] = in[base + e];
                    if (nr < NR) zero_run(d + nr, NR - nr);
                }
            }
            return;
        }

        ConvRow rows[KC];
        if (t) {
            for (int64_t k = 0; k < kc; ++k)
                rows[k] = {t->row_off[size_t(p0 + k)], t->row_h[size_t(p0 + k)], t->row_w[size_t(p0 + k)]};
        } else {
            const int64_t RS = s.R * s.S;
            int64_t c = p0 / RS, r = p0 % RS / s.S, x = p0 % s.S;
            for (int64_t k = 0; k < kc; ++k) {
                const int64_t h = r * s.dil_h - s.pad_h, w = x * s.dil_w - s.pad_w;
                rows[k] = {(c * H + h) * IW + w, h, w};
                if (++x == s.S) {
                    x = 0;
                    if (++r == s.R) r = 0, ++c;
                }
            }
        }

        // Gathers (where the ISA has them) for panels of many short runs (output rows
        // narrower than a panel). 32-bit indices. (Strided runs stay scalar copies: on
        // Zen 4 they measured a little faster than gathers.)
        bool gather_ok = false;
        if constexpr (S::kGather) {
            constexpr int64_t lim = int64_t(1) << 28; // every index, h and w below 2^30 in magnitude
            gather_ok = total < lim && s.pad_h < lim && s.pad_w < lim && (s.R - 1) * s.dil_h < lim &&
                        (s.S - 1) * s.dil_w < lim && (s.P - 1) * s.stride_h < lim && (s.Q - 1) * sw < lim &&
                        (s.P - 1) * s.stride_h * IW + (s.Q - 1) * sw < lim;
        }

        ConvSeg segs[NR + 1];
        for (int64_t jr = 0; jr < nb; jr += NR) {
            const int64_t nr = imin(NR, nb - jr);
            int ns = 0;
            int64_t j = cb.col0 + j0 + jr; // column of the implicit matrix
            if (t) {
                for (int64_t jj = 0; jj < nr;) {
                    const int64_t len = imin(t->col_run[size_t(j)], nr - jj);
                    segs[ns++] = {jj, len, t->col_off[size_t(j)], t->col_h[size_t(j)], t->col_w[size_t(j)]};
                    jj += len;
                    j += len;
                }
            } else {
                int64_t p = j / s.Q, q = j % s.Q;
                for (int64_t jj = 0; jj < nr;) {
                    const int64_t len = imin(s.Q - q, nr - jj), h = p * s.stride_h, w = q * sw;
                    segs[ns++] = {jj, len, h * IW + w, h, w};
                    jj += len;
                    q = 0;
                    ++p;
                }
            }
            if (nr < NR) segs[ns++] = {nr, NR - nr, 0, kNeverRow, 0};

            T *d = dst + jr * kc;
            if constexpr (S::kGather) {
                if (gather_ok && ns > kMaxRuns) {
                    // per column: input offset and (h, w) of the tap (0, 0); dead columns
                    // get an h that no row brings into range
                    alignas(64) int32_t gi[NR], gh[NR], gw[NR];
                    for (int i = 0; i < ns; ++i) {
                        const ConvSeg &sg = segs[i];
                        for (int64_t e = 0; e < sg.len; ++e) {
                            gi[sg.jj + e] = int32_t(sg.off + e * sw);
                            gh[sg.jj + e] = sg.h == kNeverRow ? INT32_MIN / 2 : int32_t(sg.h);
                            gw[sg.jj + e] = int32_t(sg.w + e * sw);
                        }
                    }
                    for (int64_t k = 0; k < kc; ++k, d += NR) {
                        const ConvRow cr = rows[k];
#pragma GCC unroll 8
                        for (int v = 0; v < NV; ++v)
                            S::gather(d + v * W, in, gi + v * W, gh + v * W, gw + v * W, int32_t(cr.off), int32_t(cr.h),
                                      int32_t(cr.w), int32_t(H), int32_t(IW));
                    }
                    continue;
                }
            }
            for (int64_t k = 0; k < kc; ++k, d += NR) {
                const ConvRow cr = rows[k];
                for (int i = 0; i < ns; ++i) {
                    const ConvSeg sg = segs[i];
                    T *o = d + sg.jj;
                    const int64_t h = sg.h + cr.h;
                    if (uint64_t(h) >= uint64_t(H)) {
                        zero_run(o, sg.len);
                        continue;
                    }
                    const int64_t w = sg.w + cr.w, base = cr.off + sg.off; // input index of (h, w)
                    // valid run [lo, hi): 0 <= w + i*sw < W
                    int64_t lo = 0, hi = sg.len;
                    if (w < 0) lo = imin(sg.len, (-w + sw - 1) / sw);
                    if (w + (sg.len - 1) * sw >= IW) hi = w >= IW ? 0 : (IW - 1 - w) / sw + 1;
                    if (hi < lo) hi = lo;
                    zero_run(o, lo);
                    const int64_t n = hi - lo;
                    if (n > 0) {
                        const T *src = in + base + lo * sw;
                        T *od = o + lo;
                        if (sw == 1) {
                            if (base + lo + ceil_div(n, W) * W <= total) {
                                copy_run(od, src, n);
                            } else {
                                for (int64_t e = 0; e < n; ++e) od[e] = src[e];
                            }
                        } else {
                            for (int64_t e = 0; e < n; ++e) od[e] = src[e * sw];
                        }
                    }
                    zero_run(o + hi, sg.len - hi);
                }
            }
        }
    }

    // ------------------------------------------------------------- blocked driver
    // C[m0:m1, n0:n1] on the calling thread with its own packing buffers.
    static void serial(const GemmArgs<T> &g, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
        if (m0 >= m1 || n0 >= n1) return;
        // Equal K blocks: a short last block would waste a whole C load/store pass.
        int64_t kcb = ceil_div(g.K, ceil_div(g.K, KC));
        // Equal M blocks too: each M block repacks all of B, so M = 1024 with MB = 1020
        // would pack B twice for a 4-row remainder.
        const int64_t mbe = imin(MB, ceil_div(ceil_div(m1 - m0, ceil_div(m1 - m0, MB)), MR) * MR);
        int64_t mbmax = imin(mbe, m1 - m0), nbmax = imin(NB, n1 - n0);
        T *abuf = ai3::scratch<T>(size_t(ceil_div(mbmax, MR) * MR * kcb), ai3::kScratchC);
        T *bbuf = ai3::scratch<T>(size_t(ceil_div(nbmax, NR) * NR * kcb + kPackSlack), ai3::kScratchB);
        for (int64_t i0 = m0; i0 < m1; i0 += mbe) {
            int64_t mb = imin(mbe, m1 - i0);
            for (int64_t p0 = 0; p0 < g.K; p0 += kcb) {
                int64_t kc = imin(kcb, g.K - p0);
                bool acc = p0 > 0 || g.beta != T(0);
                pack_a(g, i0, mb, p0, kc, abuf);
                for (int64_t j0 = n0; j0 < n1; j0 += NB) {
                    int64_t nb = imin(NB, n1 - j0);
                    pack_b(g, p0, kc, j0, nb, bbuf);
                    for (int64_t ir = 0; ir < mb; ir += MR) {
                        int mr = int(imin(MR, mb - ir));
                        const T *ap = abuf + ir * kc;
                        T *crow = g.C + (i0 + ir) * g.ldc + j0;
                        for (int64_t jr = 0; jr < nb; jr += NR) {
                            int nr = int(imin(NR, nb - jr));
                            const T *bp = bbuf + jr * kc;
                            if (mr == MR && nr == NR)
                                micro<MR, NV>(kc, ap, bp, crow + jr, g.ldc, acc);
                            else
                                edge(mr, nr, kc, ap, bp, crow + jr, g.ldc, acc);
                        }
                    }
                }
            }
        }
    }

    // Threads get a tm x tn grid of C blocks, each packing its own operands. Splitting
    // N makes every thread pack all of A (and vice versa), so pick the grid that
    // repacks the least; for conv shapes (N >> M) that is splitting N only.
    static void blocked(const GemmArgs<T> &g, int nt) {
        int64_t mp = ceil_div(g.M, MR), np = ceil_div(g.N, NR);
        int tm = 1, tn = 1;
        double best = -1;
        for (int a = 1; a <= nt; ++a) {
            if (nt % a) continue;
            int b = nt / a;
            if (a > mp || b > np) continue;
            double cost = double(g.M) * b + double(g.N) * a;
            if (best < 0 || cost < best) best = cost, tm = a, tn = b;
        }
        if (tm * tn == 1) return serial(g, 0, g.M, 0, g.N);
        ai3::parallel_for(tm * tn, 1, [&](int64_t b, int64_t e) {
            for (int64_t t = b; t < e; ++t) {
                int64_t ti = t / tn, tj = t % tn;
                int64_t m0 = imin(g.M, mp * ti / tm * MR), m1 = imin(g.M, mp * (ti + 1) / tm * MR);
                int64_t n0 = imin(g.N, np * tj / tn * NR), n1 = imin(g.N, np * (tj + 1) / tn * NR);
                serial(g, m0, m1, n0, n1);
            }
        });
    }

    // ---------------------------------------------------------------- small M
    // With a few rows of A (linear layers at batch 1..SM) the product is bound by
    // reading B once; packing B would add a write and a second read of it, and an
    // MR-row tile would be mostly padding. These paths read B in place.

    // !tb: C[i, n:n+nv*W] += sum_k A[i,k] * B[k, n:n+nv*W]; A pre-packed k-major (m per k).
    template <int m, int nv>
    static void small_nn(int64_t kc, const T *__restrict a, const T *__restrict b, int64_t ldb, T *__restrict c,
                         int64_t ldc, bool acc) {
        V r[m][nv];
#pragma GCC unroll 8
        for (int i = 0; i < m; ++i)
#pragma GCC unroll 8
            for (int j = 0; j < nv; ++j) r[i][j] = acc ? S::load(c + i * ldc + j * W) : S::zero();
        for (int64_t k = 0; k < kc; ++k, a += m, b += ldb) {
            V bv[nv];
#pragma GCC unroll 8
            for (int j = 0; j < nv; ++j) bv[j] = S::load(b + j * W);
#pragma GCC unroll 8
            for (int i = 0; i < m; ++i) {
                V av = S::bcast(a + i);
#pragma GCC unroll 8
                for (int j = 0; j < nv; ++j) r[i][j] = S::fma(av, bv[j], r[i][j]);
            }
        }
#pragma GCC unroll 8
        for (int i = 0; i < m; ++i)
#pragma GCC unroll 8
            for (int j = 0; j < nv; ++j) S::store(c + i * ldc + j * W, r[i][j]);
    }

    template <int m> static void small_nn_cols(const GemmArgs<T> &g, const T *ap, int64_t n0, int64_t n1, bool tail) {
        // K in chunks so the C strip stays in L1 while B rows stream past.
        constexpr int64_t KS = 256;
        constexpr int64_t CB = SNV * W;
        for (int64_t p0 = 0; p0 < g.K; p0 += KS) {
            int64_t kc = imin(KS, g.K - p0);
            bool acc = p0 > 0 || g.beta != T(0);
            const T *a = ap + p0 * m;
            const T *b = g.B + p0 * g.ldb;
            int64_t n = n0;
            for (; n + CB <= n1; n += CB) small_nn<m, SNV>(kc, a, b + n, g.ldb, g.C + n, g.ldc, acc);
            for (; n + W <= n1; n += W) small_nn<m, 1>(kc, a, b + n, g.ldb, g.C + n, g.ldc, acc);
            if (tail)
                for (; n < g.N; ++n)
                    for (int i = 0; i < m; ++i) {
                        T s = acc ? g.C[i * g.ldc + n] : T(0);
                        for (int64_t k = 0; k < kc; ++k) s += a[k * m + i] * b[k * g.ldb + n];
                        g.C[i * g.ldc + n] = s;
                    }
        }
    }

    // tb: C[i, n] = dot(A row i, B row n), vectorised along k.
    template <int m, int nj>
    static void small_nt(int64_t K, const T *__restrict a, int64_t lda, const T *__restrict b, int64_t ldb,
                         T *__restrict c, int64_t ldc, bool acc) {
        V r[m][nj];
#pragma GCC unroll 8
        for (int i = 0; i < m; ++i)
#pragma GCC unroll 8
            for (int j = 0; j < nj; ++j) r[i][j] = S::zero();
        int64_t k = 0;
        for (; k + W <= K; k += W) {
            V bv[nj];
#pragma GCC unroll 8
            for (int j = 0; j < nj; ++j) bv[j] = S::load(b + j * ldb + k);
#pragma GCC unroll 8
            for (int i = 0; i < m; ++i) {
                V av = S::load(a + i * lda + k);
#pragma GCC unroll 8
                for (int j = 0; j < nj; ++j) r[i][j] = S::fma(av, bv[j], r[i][j]);
            }
        }
        for (int i = 0; i < m; ++i)
            for (int j = 0; j < nj; ++j) {
                T s = S::hsum(r[i][j]);
                for (int64_t kk = k; kk < K; ++kk) s += a[i * lda + kk] * b[j * ldb + kk];
                T *p = c + i * ldc + j;
                *p = acc ? *p + s : s;
            }
    }

    template <int m> static void small_nt_cols(const GemmArgs<T> &g, const T *a, int64_t lda, int64_t n0, int64_t n1) {
        bool acc = g.beta != T(0);
        int64_t n = n0;
        for (; n + SNJ <= n1; n += SNJ) small_nt<m, SNJ>(g.K, a, lda, g.B + n * g.ldb, g.ldb, g.C + n, g.ldc, acc);
        for (; n < n1; ++n) small_nt<m, 1>(g.K, a, lda, g.B + n * g.ldb, g.ldb, g.C + n, g.ldc, acc);
    }

    template <int m = SM> static void small_m(const GemmArgs<T> &g, int nt) {
        if constexpr (m > 1)
            if (g.M < m) return small_m<m - 1>(g, nt);
        // op(A) is at most SM x K: copy it once into the layout each path wants.
        const T *a = g.A;
        int64_t lda = g.lda;
        bool need_copy = g.tb ? g.ta : true;
        if (need_copy) {
            T *buf = ai3::scratch<T>(size_t(m * g.K), ai3::kScratchC);
            for (int i = 0; i < m; ++i)
                for (int64_t k = 0; k < g.K; ++k) {
                    T v = g.ta ? g.A[k * g.lda + i] : g.A[i * g.lda + k];
                    if (g.tb)
                        buf[i * g.K + k] = v; // row-major for dot products
                    else
                        buf[k * m + i] = v; // k-major for broadcasts
                }
            a = buf;
            lda = g.K;
        }
        // Column chunks in whole vectors (or SNJ rows of B); the last chunk also
        // takes the ragged tail.
        int64_t unit = g.tb ? SNJ : W;
        int64_t units = g.N / unit;
        int64_t chunks = imin(nt, imin(units, ceil_div(2 * m * g.N * g.K, 1 << 20)));
        if (chunks < 1) chunks = 1;
        auto body = [&](int64_t b, int64_t e) {
            for (int64_t c = b; c < e; ++c) {
                int64_t n0 = units * c / chunks * unit;
                int64_t n1 = c + 1 == chunks ? g.N : units * (c + 1) / chunks * unit;
                if (g.tb)
                    small_nt_cols<m>(g, a, lda, n0, n1);
                else
                    small_nn_cols<m>(g, a, n0, n1 - (c + 1 == chunks ? (g.N - units * unit) : 0), c + 1 == chunks);
            }
        };
        if (chunks == 1)
            body(0, 1);
        else
            ai3::parallel_for(chunks, 1, body);
    }

    static void run(const GemmArgs<T> &g) {
        int nt = ai3::num_threads();
        // Below ~1 MFLOP per thread, waking the pool costs more than it saves.
        double flops = 2.0 * double(g.M) * double(g.N) * double(g.K);
        if (flops < 2e6 * nt) nt = imin(nt, int64_t(flops / 2e6) + 1);
        if (g.M <= SM && !g.conv) return small_m(g, nt);
        blocked(g, nt);
    }
};

} // namespace ai3::fallback::detail::AI3_GEMM_NS
