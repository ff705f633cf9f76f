// The winograd convolution's per-ISA code (transforms, batched-product micro-kernel,
// work-item driver), compiled by winograd.cpp once per ISA (generic / AVX2 / AVX-512)
// under a target pragma, each copy in its own namespace AI3_ISA_NS; AI3_FB_VBYTES is the
// vector width in bytes. No include guard on purpose; the including file pulls in every
// standard header first. The transforms are plain loops over a contiguous run of tiles,
// which the compiler vectorises for the ISA at hand; the transform coefficients are
// compile-time constants, so zero terms vanish and +-1 terms cost no multiply.
#if !defined(AI3_ISA_NS) || !defined(AI3_FB_VBYTES)
#error "define AI3_ISA_NS and AI3_FB_VBYTES before including winograd_kernel.hpp"
#endif

#ifndef AI3_WG_UNROLL
#define AI3_WG_UNROLL _Pragma("GCC unroll 16")
#endif

namespace ai3::fallback::detail::AI3_ISA_NS {

constexpr int kVBytes = AI3_FB_VBYTES;
#if AI3_FB_VBYTES == 64
constexpr int kKB = 8; // register tile: 8 output channels x up to 3 vectors of tiles (24 of 32 zmm)
#else
constexpr int kKB = 4; // 4 x up to 3 vectors (12 of 16 ymm/xmm)
#endif
constexpr int kMaxNV = 3;

template <class T> struct Vec {
    typedef T type __attribute__((vector_size(AI3_FB_VBYTES)));
};

template <class T> using VecT = typename Vec<T>::type;
// Unaligned, aliasing vector access.
template <class T> struct UVec {
    typedef T type __attribute__((vector_size(AI3_FB_VBYTES), aligned(sizeof(T)), may_alias));
};
template <class T> inline VecT<T> vload(const T *p) { return *reinterpret_cast<const typename UVec<T>::type *>(p); }
template <class T> inline void vstore(T *p, const VecT<T> &v) { *reinterpret_cast<typename UVec<T>::type *>(p) = v; }

// sum_j row[j] * x[j] with the constant row folded in: zero terms skipped, +-1 free.
// E is T or a vector of T.
template <class T, class E, int N> inline E apply_row(const double (&row)[N], const E (&x)[N]) {
    E acc{};
    bool first = true;
    AI3_WG_UNROLL for (int j = 0; j < N; ++j) {
        const double c = row[j];
        if (c == 0.0) continue;
        const E t = c == 1.0 ? x[j] : c == -1.0 ? -x[j] : x[j] * T(c);
        if (first) {
            acc = t;
            first = false;
        } else {
            acc += t;
        }
    }
    return acc;
}

// out[i*M + b] = y[b][i] for the L lanes of M vectors (M = 2 or 4), as M vectors.
template <class T, int M> inline void interleave(const VecT<T> (&y)[M], VecT<T> (&o)[M]) {
    constexpr int L = kVBytes / int(sizeof(T));
    if constexpr (M == 1) {
        o[0] = y[0];
        return;
    }
#if defined(__clang__) // __builtin_shuffle is GCC's; lane by lane elsewhere
    for (int i = 0; i < L; ++i)
        for (int b = 0; b < M; ++b) o[(i * M + b) / L][(i * M + b) % L] = y[b][i];
#else
    using I = typename std::conditional<sizeof(T) == 4, int32_t, int64_t>::type;
    typedef I IV __attribute__((vector_size(AI3_FB_VBYTES)));
    IV lo, hi;
    for (int i = 0; i < L; ++i) {
        lo[i] = I(i / 2 + (i % 2) * L);
        hi[i] = I(L / 2 + i / 2 + (i % 2) * L);
    }
    if constexpr (M == 2) {
        o[0] = __builtin_shuffle(y[0], y[1], lo);
        o[1] = __builtin_shuffle(y[0], y[1], hi);
    } else if constexpr (M == 4) {
        const VecT<T> a = __builtin_shuffle(y[0], y[2], lo), b = __builtin_shuffle(y[0], y[2], hi);
        const VecT<T> c = __builtin_shuffle(y[1], y[3], lo), d = __builtin_shuffle(y[1], y[3], hi);
        o[0] = __builtin_shuffle(a, c, lo);
        o[1] = __builtin_shuffle(a, c, hi);
        o[2] = __builtin_shuffle(b, d, lo);
        o[3] = __builtin_shuffle(b, d, hi);
    }
#endif
}

// out[kk][col..] = sum_c u[c][kk] * v[c][col..] for kKB rows and NV vectors of tiles.
template <class T, int NV>
inline void micro(int64_t C, const T *__restrict u, const T *__restrict v, int64_t ldv, T *__restrict out,
                  int64_t ldo) {
    constexpr int L = kVBytes / int(sizeof(T));
    using V = typename Vec<T>::type;
    V acc[kKB][NV];
    AI3_WG_UNROLL for (int kk = 0; kk < kKB; ++kk) AI3_WG_UNROLL for (int j = 0; j < NV; ++j) acc[kk][j] = V{};
    for (int64_t c = 0; c < C; ++c, u += kKB, v += ldv) {
        __builtin_prefetch(u + 16 * kKB); // U streams from memory (it rarely fits in cache)
        V x[NV];
        AI3_WG_UNROLL for (int j = 0; j < NV; ++j) x[j] = vload(v + j * L);
        AI3_WG_UNROLL for (int kk = 0; kk < kKB; ++kk) {
            const T w = u[kk];
            AI3_WG_UNROLL for (int j = 0; j < NV; ++j) acc[kk][j] += x[j] * w;
        }
    }
    AI3_WG_UNROLL for (int kk = 0; kk < kKB; ++kk) AI3_WG_UNROLL for (int j = 0; j < NV; ++j)
        vstore(out + kk * ldo + j * L, acc[kk][j]);
}

// Per-worker buffers of the input/output transforms of one tile-row segment.
template <class T> struct SegBufs {
    T *lin, *ph, *hb, *z;
    int64_t cap; // row capacity (tiles + 2)
};

// V[xi][c][col + tx] for tiles tx0..tx0+ns-1 of tile row ty, channel plane `in` (H x W);
// V rows for one xi are `vstride` apart. Padding is read as zero on the fly.
template <class T, int M>
void input_segment(const WgPlan &pl, const T *in, int64_t ty, int64_t tx0, int64_t ns, T *__restrict v, int64_t vstride,
                   const SegBufs<T> &b, VecT<T> &poison) {
    using Mat = WinogradMatrices<M>;
    constexpr int A = Mat::alpha;
    constexpr int L = kVBytes / int(sizeof(T));
    const int64_t cap = b.cap;
    const int64_t w0 = tx0 * M - pl.pad_w, width = M * (ns + 1);
    const int64_t xlo = std::min(width, std::max<int64_t>(0, -w0));
    const int64_t xhi = std::max(xlo, std::min(width, pl.W - w0));
    T *__restrict hb = b.hb;
    // rows: zero-padded copy, split into M phases (ph[i][r][t] = row[t*M + r]), then the
    // horizontal transform hb[i][j'][t] = sum_j BT[j'][j] * row[t*M + j].
    for (int i = 0; i < A; ++i) {
        const int64_t h = ty * M + i - pl.pad_h;
        T *__restrict hr = hb + i * A * cap;
        if (h < 0 || h >= pl.H || xhi <= xlo) {
            for (int jp = 0; jp < A; ++jp) std::fill(hr + jp * cap, hr + jp * cap + ns, T(0));
            continue;
        }
        T *__restrict lin = b.lin;
        const T *row = in + h * pl.W + w0;
        for (int64_t x = 0; x < xlo; ++x) lin[x] = T(0);
        std::memcpy(lin + xlo, row + xlo, sizeof(T) * size_t(xhi - xlo));
        { // x * 0 is 0 for finite x and NaN for NaN/inf: poison turns NaN on any non-finite input
            int64_t x = xlo;
            for (; x + L <= xhi; x += L) poison += vload(lin + x) * T(0);
            for (; x < xhi; ++x) poison[0] += lin[x] * T(0);
        }
        for (int64_t x = xhi; x < width; ++x) lin[x] = T(0);
        T *__restrict ph = b.ph;
        for (int64_t t = 0; t <= ns; ++t) AI3_WG_UNROLL for (int r = 0; r < M; ++r) ph[r * cap + t] = lin[t * M + r];
        for (int64_t t = 0; t < ns; t += L) { // whole vectors: the buffers have room
            VecT<T> d[A];
            AI3_WG_UNROLL for (int j = 0; j < A; ++j) d[j] = vload(ph + (j % M) * cap + t + j / M);
            AI3_WG_UNROLL for (int jp = 0; jp < A; ++jp) vstore(hr + jp * cap + t, apply_row<T>(Mat::BT[jp], d));
        }
    }
    // vertical transform: v[i'*A + j'] = sum_i BT[i'][i] * hb[i][j'], in whole vectors: the
    // lanes past this segment land in the next segment's columns (written after this one)
    // or in the row's padding, never in data already written.
    for (int jp = 0; jp < A; ++jp) {
        for (int64_t t = 0; t < ns; t += L) {
            VecT<T> e[A];
            AI3_WG_UNROLL for (int i = 0; i < A; ++i) e[i] = vload(hb + (i * A + jp) * cap + t);
            AI3_WG_UNROLL for (int ip = 0; ip < A; ++ip)
                vstore(v + (ip * A + jp) * vstride + t, apply_row<T>(Mat::BT[ip], e));
        }
    }
}

// max(a, b) that keeps a NaN from either side, as torch's max pooling does.
template <class T> inline VecT<T> vmax_nan(VecT<T> a, VecT<T> b) { return ((a > b) | (a != a)) ? a : b; }

// The fused 2x2/2 max pool of output_segment: z holds A^T M (rows a of M tiles, per
// column of the tile), so each pair of output rows (a, a + 1) of a tile row, once
// transformed, biased and activated, is pooled down to one row of M/2 columns per tile
// (M is even, and tile rows start at even output rows, so no window crosses tiles).
// The pooled plane is (P/2) x (Q/2): windows past the last even row/column are dropped.
template <class T, int M>
void pooled_rows(const WgPlan &pl, const T *__restrict z, int64_t cap, int64_t ty, int64_t q0, int64_t ns, VecT<T> vb,
                 T *__restrict out) {
    using Mat = WinogradMatrices<M>;
    constexpr int A = Mat::alpha, H = M / 2;
    constexpr int L = kVBytes / int(sizeof(T));
    const int64_t PP = pl.P / 2, QQ = pl.Q / 2, pq0 = q0 / 2;
    if (pq0 >= QQ) return;
    const int64_t full = std::min(ns, (QQ - pq0) / H); // tiles whose pooled columns are all inside
    const int64_t qend = std::min(QQ - pq0, ns * H);   // pooled columns of this segment
    for (int a = 0; a < M; a += 2) {
        const int64_t prow = (ty * M + a) / 2;
        if (prow >= PP) break;
        T *__restrict orow = out + prow * QQ + pq0;
        const T *__restrict z0 = z + a * A * cap, *__restrict z1 = z + (a + 1) * A * cap;
        for (int64_t t = 0; t < ns; t += L) {
            VecT<T> e0[A], e1[A], y[M], pm[H];
            AI3_WG_UNROLL for (int j = 0; j < A; ++j) {
                e0[j] = vload(z0 + j * cap + t);
                e1[j] = vload(z1 + j * cap + t);
            }
            AI3_WG_UNROLL for (int bb = 0; bb < M; ++bb) {
                const VecT<T> r0 = activate<T, VecT<T>>(pl.act, apply_row<T>(Mat::AT[bb], e0) + vb);
                const VecT<T> r1 = activate<T, VecT<T>>(pl.act, apply_row<T>(Mat::AT[bb], e1) + vb);
                y[bb] = vmax_nan<T>(r0, r1);
            }
            AI3_WG_UNROLL for (int c = 0; c < H; ++c) pm[c] = vmax_nan<T>(y[2 * c], y[2 * c + 1]);
            if (t + L <= full) {
                VecT<T> o[H];
                interleave<T, H>(pm, o);
                AI3_WG_UNROLL for (int c = 0; c < H; ++c) vstore(orow + t * H + c * L, o[c]);
            } else {
                for (int64_t i = 0; i < L && (t + i) * H < qend; ++i)
                    for (int c = 0; c < H && (t + i) * H + c < qend; ++c) orow[(t + i) * H + c] = pm[c][i];
            }
        }
    }
}

// Output channel k's tiles tx0..tx0+ns-1 of tile row ty from mk[xi * mstride + tx]:
// Y = A^T M A + bias, valid part written to the output plane `out` (P x Q).
template <class T, int M>
void output_segment(const WgPlan &pl, const T *__restrict mk, int64_t mstride, int64_t ty, int64_t tx0, int64_t ns,
                    T bias, T *__restrict out, const SegBufs<T> &b) {
    using Mat = WinogradMatrices<M>;
    constexpr int A = Mat::alpha;
    const int64_t cap = b.cap;
    constexpr int L = kVBytes / int(sizeof(T));
    T *__restrict z = b.z; // z[a][j][t] = sum_i AT[a][i] * M[i][j]
    for (int j = 0; j < A; ++j)
        for (int64_t t = 0; t < ns; t += L) {
            VecT<T> e[A];
            AI3_WG_UNROLL for (int i = 0; i < A; ++i) e[i] = vload(mk + (i * A + j) * mstride + t);
            AI3_WG_UNROLL for (int a = 0; a < M; ++a) vstore(z + (a * A + j) * cap + t, apply_row<T>(Mat::AT[a], e));
        }
    const int64_t q0 = tx0 * M;
    const VecT<T> vb = VecT<T>{} + bias;
    if (pl.pool) {
        pooled_rows<T, M>(pl, z, cap, ty, q0, ns, vb, out);
        return;
    }
    const int64_t full = std::min(ns, (pl.Q - q0) / M); // tiles entirely inside the output width
    const int64_t qend = std::min(pl.Q - q0, ns * M);   // output columns of this segment
    for (int a = 0; a < M; ++a) {
        const int64_t row = ty * M + a;
        if (row >= pl.P) break;
        T *__restrict orow = out + row * pl.Q + q0;
        const T *__restrict za = z + a * A * cap;
        for (int64_t t = 0; t < ns; t += L) {
            VecT<T> e[A], y[M];
            AI3_WG_UNROLL for (int j = 0; j < A; ++j) e[j] = vload(za + j * cap + t);
            AI3_WG_UNROLL for (int bb = 0; bb < M; ++bb) y[bb] = apply_row<T>(Mat::AT[bb], e) + vb;
            if (pl.act != Activation::none)
                AI3_WG_UNROLL for (int bb = 0; bb < M; ++bb) y[bb] = activate<T, VecT<T>>(pl.act, y[bb]);
            if (t + L <= full) {
                VecT<T> o[M];
                interleave<T, M>(y, o);
                AI3_WG_UNROLL for (int bb = 0; bb < M; ++bb) vstore(orow + t * M + bb * L, o[bb]);
            } else { // the last tiles: partial at the right edge of the output
                for (int64_t i = 0; i < L && (t + i) * M < qend; ++i)
                    for (int bb = 0; bb < M && (t + i) * M + bb < qend; ++bb) orow[(t + i) * M + bb] = y[bb][i];
            }
        }
    }
}

// y = G x for one column x of three filter values (vectors of them), the rows sharing
// their sums as hand-written transforms do (fewer operations than applying G's rows one
// by one: this runs per call for layers whose U is not kept).
template <class T, int M> inline void apply_g(const VecT<T> (&x)[3], VecT<T> (&y)[M + 2]) {
    using Mat = WinogradMatrices<M>;
    if constexpr (M == 4) { // rows (1,0,0) (1,1,1)/3 -(1,-1,1)/3 -(16,8,4)/15 (1,-2,4)/15 (0,0,1)
        const VecT<T> s = (x[0] + x[2]) * T(1.0 / 3), h = x[1] * T(1.0 / 3);
        const VecT<T> c = x[2] * T(4.0 / 15);
        y[0] = x[0];
        y[1] = s + h;
        y[2] = h - s;
        y[3] = -(x[0] * T(16.0 / 15) + x[1] * T(8.0 / 15) + c);
        y[4] = x[0] * T(1.0 / 15) - x[1] * T(2.0 / 15) + c;
        y[5] = x[2];
        return;
    }
    if constexpr (M == 2) { // rows (-1,0,0) (1,1,1)/2 (1,-1,1)/2 (0,0,1)
        const VecT<T> s = (x[0] + x[2]) * T(0.5), h = x[1] * T(0.5);
        y[0] = -x[0];
        y[1] = s + h;
        y[2] = s - h;
        y[3] = x[2];
        return;
    }
    AI3_WG_UNROLL for (int i = 0; i < M + 2; ++i) y[i] = apply_row<T>(Mat::G[i], x);
}

// Vectors of K elements of T (K = kKB: one per output channel of a panel) and the
// integer masks GCC's __builtin_shuffle takes for them.
template <class T, int K> struct KVec {
    typedef T type __attribute__((vector_size(K * sizeof(T))));
    typedef typename std::conditional<sizeof(T) == 4, int32_t, int64_t>::type I;
    typedef I mask __attribute__((vector_size(K * sizeof(T))));
};
#if defined(__clang__)
#define AI3_WG_SHUF(T, K, a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define AI3_WG_SHUF(T, K, a, b, ...) __builtin_shuffle(a, b, typename KVec<T, K>::mask{__VA_ARGS__})
#endif

// The nine taps of K filters (rows[kk] + off: tap r at [r]) written tap-major,
// tap[r * ld + kk]: K-wide loads of taps [t0, t0 + K), a KxK transpose in registers,
// K-wide stores (a scalar gather was ~20 cycles per filter, most of the per-call
// transform's cost), then the taps past the last whole block one by one.
template <class T, int K> inline void transpose_taps(const T *const *rows, int64_t off, T *__restrict tap, int64_t ld) {
    using V = typename KVec<T, K>::type;
    int t0 = 0;
    if constexpr (K == 4 || K == 8) {
        for (; t0 + K <= 9; t0 += K) {
            V r[K], o[K];
            for (int kk = 0; kk < K; ++kk) std::memcpy(&r[kk], rows[kk] + off + t0, sizeof(V));
            if constexpr (K == 8) {
                const V a0 = AI3_WG_SHUF(T, 8, r[0], r[1], 0, 8, 1, 9, 4, 12, 5, 13);
                const V a1 = AI3_WG_SHUF(T, 8, r[0], r[1], 2, 10, 3, 11, 6, 14, 7, 15);
                const V a2 = AI3_WG_SHUF(T, 8, r[2], r[3], 0, 8, 1, 9, 4, 12, 5, 13);
                const V a3 = AI3_WG_SHUF(T, 8, r[2], r[3], 2, 10, 3, 11, 6, 14, 7, 15);
                const V a4 = AI3_WG_SHUF(T, 8, r[4], r[5], 0, 8, 1, 9, 4, 12, 5, 13);
                const V a5 = AI3_WG_SHUF(T, 8, r[4], r[5], 2, 10, 3, 11, 6, 14, 7, 15);
                const V a6 = AI3_WG_SHUF(T, 8, r[6], r[7], 0, 8, 1, 9, 4, 12, 5, 13);
                const V a7 = AI3_WG_SHUF(T, 8, r[6], r[7], 2, 10, 3, 11, 6, 14, 7, 15);
                const V b0 = AI3_WG_SHUF(T, 8, a0, a2, 0, 1, 8, 9, 4, 5, 12, 13);
                const V b1 = AI3_WG_SHUF(T, 8, a0, a2, 2, 3, 10, 11, 6, 7, 14, 15);
                const V b2 = AI3_WG_SHUF(T, 8, a1, a3, 0, 1, 8, 9, 4, 5, 12, 13);
                const V b3 = AI3_WG_SHUF(T, 8, a1, a3, 2, 3, 10, 11, 6, 7, 14, 15);
                const V b4 = AI3_WG_SHUF(T, 8, a4, a6, 0, 1, 8, 9, 4, 5, 12, 13);
                const V b5 = AI3_WG_SHUF(T, 8, a4, a6, 2, 3, 10, 11, 6, 7, 14, 15);
                const V b6 = AI3_WG_SHUF(T, 8, a5, a7, 0, 1, 8, 9, 4, 5, 12, 13);
                const V b7 = AI3_WG_SHUF(T, 8, a5, a7, 2, 3, 10, 11, 6, 7, 14, 15);
                o[0] = AI3_WG_SHUF(T, 8, b0, b4, 0, 1, 2, 3, 8, 9, 10, 11);
                o[4] = AI3_WG_SHUF(T, 8, b0, b4, 4, 5, 6, 7, 12, 13, 14, 15);
                o[1] = AI3_WG_SHUF(T, 8, b1, b5, 0, 1, 2, 3, 8, 9, 10, 11);
                o[5] = AI3_WG_SHUF(T, 8, b1, b5, 4, 5, 6, 7, 12, 13, 14, 15);
                o[2] = AI3_WG_SHUF(T, 8, b2, b6, 0, 1, 2, 3, 8, 9, 10, 11);
                o[6] = AI3_WG_SHUF(T, 8, b2, b6, 4, 5, 6, 7, 12, 13, 14, 15);
                o[3] = AI3_WG_SHUF(T, 8, b3, b7, 0, 1, 2, 3, 8, 9, 10, 11);
                o[7] = AI3_WG_SHUF(T, 8, b3, b7, 4, 5, 6, 7, 12, 13, 14, 15);
            } else {
                const V a0 = AI3_WG_SHUF(T, 4, r[0], r[1], 0, 4, 1, 5);
                const V a1 = AI3_WG_SHUF(T, 4, r[0], r[1], 2, 6, 3, 7);
                const V a2 = AI3_WG_SHUF(T, 4, r[2], r[3], 0, 4, 1, 5);
                const V a3 = AI3_WG_SHUF(T, 4, r[2], r[3], 2, 6, 3, 7);
                o[0] = AI3_WG_SHUF(T, 4, a0, a2, 0, 1, 4, 5);
                o[1] = AI3_WG_SHUF(T, 4, a0, a2, 2, 3, 6, 7);
                o[2] = AI3_WG_SHUF(T, 4, a1, a3, 0, 1, 4, 5);
                o[3] = AI3_WG_SHUF(T, 4, a1, a3, 2, 3, 6, 7);
            }
            for (int t = 0; t < K; ++t) std::memcpy(tap + (t0 + t) * ld, &o[t], sizeof(V));
        }
    }
    for (int t = t0; t < 9; ++t)
        for (int kk = 0; kk < K; ++kk) tap[t * ld + kk] = rows[kk][off + t];
}

// U of output channels [kc0, kc1) of group g (multiples of kKB; channels past kpg are
// zero), transformed from the K x cpg x 3 x 3 weights into Uc[xi][panel][cpad][kKB]
// (cpad = cpg rounded up to whole vectors of channels; the micro-kernel reads c < cpg).
// Per panel of kKB channels and block of L input channels, one scalar pass in L1 gathers
// the nine taps to tap-major rows (tap[r][ci * kKB + kk]); the transform proper is then
// whole-vector arithmetic over (ci, kk), stored straight into Uc's layout.
template <class T, int M>
void transform_chunk(const WgPlan &pl, const T *w, int64_t g, int64_t kc0, int64_t kc1, T *__restrict Uc,
                     T *__restrict tap, VecT<T> &poison) {
    using Mat = WinogradMatrices<M>;
    constexpr int A = M + 2;
    constexpr int L = kVBytes / int(sizeof(T)), CB = L, ROW = CB * kKB;
    const int64_t cpg = pl.cpg, kpg = pl.kpg, cpad = pl.cpad, np = (kc1 - kc0) / kKB;
    for (int64_t p = 0; p < np; ++p) {
        const int64_t k0 = kc0 + p * kKB;
        for (int64_t c0 = 0; c0 < cpg; c0 += CB) {
            const int64_t cb = std::min<int64_t>(CB, cpg - c0);
            const T *f[kKB];
            int nk = 0; // panel rows inside the group; the rest are zero
            for (int kk = 0; kk < kKB; ++kk)
                if (k0 + kk < kpg) f[nk++] = w + ((g * kpg + k0 + kk) * cpg + c0) * 9;
            if (nk == kKB) {
                for (int64_t ci = 0; ci < cb; ++ci) transpose_taps<T, kKB>(f, ci * 9, tap + ci * kKB, ROW);
            } else { // the group's last, partial panel
                for (int64_t ci = 0; ci < cb; ++ci)
                    for (int r = 0; r < 9; ++r) {
                        T *t = tap + r * ROW + ci * kKB;
                        for (int kk = 0; kk < nk; ++kk) t[kk] = f[kk][ci * 9 + r];
                        for (int kk = nk; kk < kKB; ++kk) t[kk] = T(0);
                    }
            }
            const int64_t nv = (cb * kKB + L - 1) / L;
            // The last vector's lanes past cb land in Uc's padding channels (c >= cpg),
            // which nothing reads; zeros there rather than whatever the scratch held.
            for (int r = 0; r < 9; ++r) std::fill(tap + r * ROW + cb * kKB, tap + r * ROW + nv * L, T(0));
            for (int64_t v = 0; v < nv; ++v) {
                VecT<T> gg[3][3], t[A][3];
                AI3_WG_UNROLL for (int r = 0; r < 9; ++r) {
                    gg[r / 3][r % 3] = vload(tap + r * ROW + v * L);
                    poison += gg[r / 3][r % 3] * T(0); // a non-finite weight (see run_all)
                }
                AI3_WG_UNROLL for (int s = 0; s < 3; ++s) {
                    const VecT<T> col[3] = {gg[0][s], gg[1][s], gg[2][s]};
                    VecT<T> y[A];
                    apply_g<T, M>(col, y);
                    AI3_WG_UNROLL for (int i = 0; i < A; ++i) t[i][s] = y[i];
                }
                T *dst = Uc + (p * cpad + c0) * kKB + v * L;
                AI3_WG_UNROLL for (int i = 0; i < A; ++i) {
                    VecT<T> y[A];
                    apply_g<T, M>(t[i], y);
                    AI3_WG_UNROLL for (int j = 0; j < A; ++j) vstore(dst + (i * A + j) * np * cpad * kKB, y[j]);
                }
            }
        }
    }
}

// One work item: group g, tiles [t0, t1) of the batch (tile t is tile t % ntiles of image
// t / ntiles: a block runs on across images, so small images still fill whole register
// tiles and share one pass over U), output channels [k0, k1) of the group (k0 a multiple
// of kKB). U, when cached, is packed [g][xi][kpad/kKB][cpg][kKB]; null U
// means the filters are transformed per output-channel chunk into this worker's scratch.
template <class T, int M>
// Returns whether the input tiles (or, transformed per call, the weights) held a NaN or
// an infinity (see run_all).
bool run_item(const WgPlan &pl, const Conv2d::Args<T> &a, const T *U, int64_t g, int64_t t0, int64_t t1, int64_t k0,
              int64_t k1, T *scr) {
    constexpr int A = M + 2, A2 = A * A;
    constexpr int L = kVBytes / int(sizeof(T));
    // V: [xi][c][ldvs] (rows padded by one vector for the transform's whole-vector stores),
    // M: [xi][k][ldv]; planes wg_plane_stride apart.
    const int64_t cpg = pl.cpg, ncols = t1 - t0, ldv = (ncols + L - 1) / L * L, nvec = ldv / L, ldvs = ldv + L;
    const int64_t cap = (pl.ldv + 2 + L - 1) / L * L + L, kch = pl.kch;
    const int64_t vstride = wg_plane_stride(cpg * ldvs, sizeof(T)), mstride = wg_plane_stride(kch * ldv, sizeof(T));
    auto align = [](int64_t x) { return (x + 15) / 16 * 16; };
    T *V = scr;
    T *Mb = V + align(A2 * vstride);
    SegBufs<T> bufs;
    bufs.cap = cap;
    bufs.lin = Mb + align(A2 * mstride);
    bufs.ph = bufs.lin + align(M * cap + 8); // rows padded to whole vectors plus one
    bufs.hb = bufs.ph + align(M * cap);
    bufs.z = bufs.hb + align(A * A * cap);
    T *Uc = bufs.z + align(int64_t(M) * A * cap); // the on-the-fly U chunk and its tap rows
    T *tap = Uc + align(A2 * pl.kch * pl.cpad);

    // input transform, segment by segment (a segment: part of one tile row of one image)
    VecT<T> poison{};
    for (int64_t t = t0; t < t1;) {
        const int64_t n = t / pl.ntiles, tl = t % pl.ntiles, ty = tl / pl.tilesX, tx0 = tl % pl.tilesX;
        const int64_t ns = std::min(pl.tilesX - tx0, t1 - t);
        const T *in_g = a.input + (n * pl.C + g * cpg) * pl.H * pl.W;
        for (int64_t c = 0; c < cpg; ++c)
            input_segment<T, M>(pl, in_g + c * pl.H * pl.W, ty, tx0, ns, V + c * ldvs + (t - t0), vstride, bufs,
                                poison);
        t += ns;
    }
    if (ldv > ncols) // padding tiles: zeros, not the transform's spill-over
        for (int64_t xi = 0; xi < A2; ++xi)
            for (int64_t c = 0; c < cpg; ++c)
                std::fill(V + xi * vstride + c * ldvs + ncols, V + xi * vstride + c * ldvs + ldv, T(0));

    const int64_t plane = pl.pool ? (pl.P / 2) * (pl.Q / 2) : pl.P * pl.Q; // one output plane
    for (int64_t kc0 = k0; kc0 < k1; kc0 += kch) {
        const int64_t kc1 = std::min(k1, kc0 + kch);
        if (!U) transform_chunk<T, M>(pl, a.weight, g, kc0, kc1, Uc, tap, poison);
        const int64_t npc = (kc1 - kc0) / kKB;
        // batched products: for each xi, M[xi] (kc1-kc0 x tiles) = U[xi] (.. x cpg) V[xi] (cpg x tiles)
        for (int xi = 0; xi < A2; ++xi) {
            const T *Vx = V + xi * vstride;
            T *Mx = Mb + xi * mstride;
            for (int64_t kb = kc0; kb < kc1; kb += kKB) {
                const T *up =
                    U ? U + ((g * A2 + xi) * pl.kpad + kb) * cpg : Uc + (xi * npc + (kb - kc0) / kKB) * pl.cpad * kKB;
                T *mo = Mx + (kb - kc0) * ldv;
                for (int64_t v0 = 0; v0 < nvec;) {
                    const int64_t rem = nvec - v0;
                    const int nv = rem == 4 ? 2 : int(std::min<int64_t>(kMaxNV, rem));
                    if (nv == 3)
                        micro<T, 3>(cpg, up, Vx + v0 * L, ldvs, mo + v0 * L, ldv);
                    else if (nv == 2)
                        micro<T, 2>(cpg, up, Vx + v0 * L, ldvs, mo + v0 * L, ldv);
                    else
                        micro<T, 1>(cpg, up, Vx + v0 * L, ldvs, mo + v0 * L, ldv);
                    v0 += nv;
                }
            }
        }
        // output transform + bias
        const int64_t kend = std::min(kc1, pl.kpg);
        for (int64_t k = kc0; k < kend; ++k) {
            const int64_t gk = g * pl.kpg + k;
            const T bias = pl.has_bias ? a.bias[gk] : T(0);
            const T *mk = Mb + (k - kc0) * ldv;
            for (int64_t t = t0; t < t1;) {
                const int64_t n = t / pl.ntiles, tl = t % pl.ntiles, ty = tl / pl.tilesX, tx0 = tl % pl.tilesX;
                const int64_t ns = std::min(pl.tilesX - tx0, t1 - t);
                T *out_k = a.output + (n * pl.K + gk) * plane;
                output_segment<T, M>(pl, mk + (t - t0), mstride, ty, tx0, ns, bias, out_k, bufs);
                t += ns;
            }
        }
    }
    bool bad = false;
    for (int i = 0; i < L; ++i) bad |= poison[i] != T(0);
    return bad;
}

// All work items of one call, over ai3's pool. Returns whether the input (or weights
// transformed per call) held a NaN or an infinity: Winograd's transforms mix each input into many products with both signs,
// so one infinity turns whole tiles to NaN where the convolution itself gives +-inf
// (inf - inf). The caller then computes the call exactly (WinogradKernel::run).
template <class T> bool run_all(const WgPlan &pl, const Conv2d::Args<T> &a, const T *U) {
    const int64_t L = kVBytes / int64_t(sizeof(T));
    const int64_t nkb = pl.kpad / kKB;
    const int64_t items = pl.G * pl.nblk * pl.nks;
    std::atomic<bool> nonfinite{false};
    parallel_for(items, 1, [&](int64_t b, int64_t e) {
        T *scr = scratch<T>(size_t(pl.scratch_elems), kScratchA);
        bool bad = false;
        for (int64_t it = b; it < e; ++it) {
            const int64_t s = it % pl.nks, blk = (it / pl.nks) % pl.nblk, g = it / (pl.nks * pl.nblk);
            const int64_t v0 = pl.nvec * blk / pl.nblk, v1 = pl.nvec * (blk + 1) / pl.nblk;
            const int64_t t0 = v0 * L, t1 = std::min(pl.N * pl.ntiles, v1 * L);
            const int64_t k0 = nkb * s / pl.nks * kKB, k1 = nkb * (s + 1) / pl.nks * kKB;
            if (t0 >= t1 || k0 >= k1) continue;
            if (pl.m == 4)
                bad |= run_item<T, 4>(pl, a, U, g, t0, t1, k0, k1, scr);
            else
                bad |= run_item<T, 2>(pl, a, U, g, t0, t1, k0, k1, scr);
        }
        if (bad) nonfinite.store(true, std::memory_order_relaxed);
    });
    return nonfinite.load(std::memory_order_relaxed);
}

} // namespace ai3::fallback::detail::AI3_ISA_NS
