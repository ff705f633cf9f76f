// Winograd minimal filtering F(m x m, 3 x 3) for the fallback's winograd convolution:
// the transform matrices and the per-layer plan shared by the ISA copies of the kernel.
//
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A     (g: 3x3 filter, d: alpha x alpha input tile,
//                                            Y: m x m output tile, alpha = m + 2)
//
// The matrices come from the Toom-Cook construction (A^T[i][j] = p_j^i, G[j][k] =
// p_j^k / prod_{l!=j}(p_j - p_l), B^T solved exactly so the identity holds; the point
// at infinity is the last row/column), generated with exact rational arithmetic.
//  F(2x2,3x3): points 0, 1, -1, inf (Lavin's).
//  F(4x4,3x3): points 0, 1, -1, 1/2, -2, inf. Lavin's 0, +-1, +-2 set makes the products'
//              rounding errors (which dominate: the transforms in float64 change little)
//              larger through its 4/8 output coefficients; mixing 1/2 with -2 keeps
//              A^T's and G's magnitudes balanced (the set Barabasz et al. found best for
//              F(4,3)). Its B^T has 3 more non-zero terms; see docs/design-notes.md for the
//              error and speed measured on real networks.
#pragma once
#include <cstdint>

namespace ai3::fallback::detail {

template <int M> struct WinogradMatrices;

template <> struct WinogradMatrices<2> {
    static constexpr int m = 2, alpha = 4;
    static constexpr double AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, 1}};
    static constexpr double G[4][3] = {{-1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    static constexpr double BT[4][4] = {{-1, 0, 1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, -1, 0, 1}};
};

template <> struct WinogradMatrices<4> { // points 0, 1, -1, 1/2, -2, inf
    static constexpr int m = 4, alpha = 6;
    static constexpr double AT[4][6] = {
        {1, 1, 1, 1, 1, 0}, {0, 1, -1, 0.5, -2, 0}, {0, 1, 1, 0.25, 4, 0}, {0, 1, -1, 0.125, -8, 1}};
    static constexpr double G[6][3] = {{1, 0, 0},
                                       {1.0 / 3, 1.0 / 3, 1.0 / 3},
                                       {-1.0 / 3, 1.0 / 3, -1.0 / 3},
                                       {-16.0 / 15, -8.0 / 15, -4.0 / 15},
                                       {1.0 / 15, -2.0 / 15, 4.0 / 15},
                                       {0, 0, 1}};
    static constexpr double BT[6][6] = {{1, -1.5, -2, 1.5, 1, 0}, {0, -1, 0.5, 2.5, 1, 0},  {0, 1, -2.5, 0.5, 1, 0},
                                        {0, -2, -1, 2, 1, 0},     {0, 0.5, -1, -0.5, 1, 0}, {0, 1, -1.5, -2, 1.5, 1}};
};

// Stride between the alpha^2 planes of V and M: rounded up to 4 KiB and then offset by one
// cache line, so the planes of one tile fall into different cache sets (a power-of-two
// stride would put all 36 into one set and thrash L1 and L2).
inline int64_t wg_plane_stride(int64_t elems, int64_t elem_bytes) {
    const int64_t page = 4096 / elem_bytes, line = 64 / elem_bytes;
    return (elems + page - 1) / page * page + line;
}

// Everything a worker needs about one (layer, input shape): fixed at kernel build time.
// Work items are (group, tile block of the batch, output-channel range); see winograd.cpp.
struct WgPlan {
    int m = 4, alpha = 6;
    int64_t N = 0, C = 0, H = 0, W = 0, K = 0, P = 0, Q = 0, pad_h = 0, pad_w = 0;
    int64_t G = 1, cpg = 0, kpg = 0;
    int64_t kb = 8;     // rows of U per register tile (U is packed in panels of kb rows)
    int64_t lanes = 16; // SIMD lanes of T: the tile dimension is padded to a multiple
    int64_t kpad = 0;   // kpg rounded up to kb
    int64_t tilesY = 0, tilesX = 0, ntiles = 0;
    int64_t nvec = 0, nblk = 1; // tile vectors, tile blocks
    int64_t nks = 1;            // output-channel ranges per (group, block)
    int64_t kch = 0;            // output channels per GEMM + output-transform chunk
    bool cache_u = true;        // U transformed once and kept; else per chunk, per call
    int64_t cpad = 0;           // cpg rounded up to whole vectors (the per-chunk U's rows)
    int64_t ldv = 0;            // columns of the widest tile block (multiple of lanes)
    int64_t scratch_elems = 0;  // per worker
    bool has_bias = false;
    Activation act = Activation::none; // fused epilogue
    bool pool = false;                 // fused 2x2/2 max pool: the output is P/2 x Q/2
};

} // namespace ai3::fallback::detail
