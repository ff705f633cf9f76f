// The fallback's GEMM: every lowering algorithm (smm, gemm, the implicit GEMMs,
// winograd's batched products) and linear end here.
#pragma once
#include <cstdint>
#include <vector>

namespace ai3::fallback {

// C[M x N] = op(A)[M x K] * op(B)[K x N] + beta * C, row-major with leading dimensions
// (op(X) = X or X^T). beta is 0 or 1 in practice; beta == 0 never reads C (C may be
// uninitialised). Multithreaded over ai3's pool unless called from inside a
// parallel_for, where it runs on the calling thread.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T *A, int64_t lda, const T *B, int64_t ldb,
          T beta, T *C, int64_t ldc);

// ------------------------------------------------------------ implicit-conv B
// The implicit matrix of one (image, group) of a convolution: C*R*S rows k = (c, r, s),
// P*Q columns j = (p, q) (row-major orders), never materialised:
//   B[k, j] = input[c, p*stride_h + r*dil_h - pad_h, q*stride_w + s*dil_w - pad_w],
// 0 where that index falls outside [0,H) x [0,W).
struct ImplicitConvShape {
    int64_t C = 0, H = 0, W = 0; // input channels (of the group) and size
    int64_t R = 1, S = 1;        // kernel
    int64_t P = 0, Q = 0;        // output size
    int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
};

// Offsets of an ImplicitConvShape's matrix, computed once per layer shape (the
// 'implicit precomp gemm' algorithm); with them the GEMM's packing does no division
// and no index arithmetic beyond an add and two bounds checks per run of columns.
struct ImplicitConvTable {
    explicit ImplicitConvTable(const ImplicitConvShape &s);
    // per row k = (c, r, s), C*R*S entries
    std::vector<int64_t> row_off; // c*H*W + (r*dil_h - pad_h)*W + s*dil_w - pad_w
    std::vector<int64_t> row_h;   // r*dil_h - pad_h
    std::vector<int64_t> row_w;   // s*dil_w - pad_w
    // per column j = (p, q), P*Q entries
    std::vector<int64_t> col_off; // p*stride_h*W + q*stride_w
    std::vector<int64_t> col_h;   // p*stride_h
    std::vector<int64_t> col_w;   // q*stride_w
    std::vector<int64_t> col_run; // Q - q: columns left in output row p from j on
};

// The B operand of gemm_implicit_conv: columns [col0, col0 + N) of the implicit matrix
// of `shape` over `input` (channel 0 of the group in one image, C x H x W dense).
// With `table` (built for the same shape) the packing reads offsets from it;
// without, it decodes (c, r, s) and (p, q) on the fly.
template <class T> struct ImplicitConvB {
    const T *input = nullptr;
    ImplicitConvShape shape;
    int64_t col0 = 0;
    const ImplicitConvTable *table = nullptr;
};

// C[M x N] = A[M x K] * B[K x N] + beta * C with K = shape.C*R*S and B the implicit
// matrix above: the GEMM's packing gathers B straight from the input tensor into its
// micro-panels (no lowered copy). Same threading and beta rules as gemm.
template <class T>
void gemm_implicit_conv(int64_t M, int64_t N, const T *A, int64_t lda, const ImplicitConvB<T> &B, T beta, T *C,
                        int64_t ldc);

} // namespace ai3::fallback
