// Device code shared by the broadcasting binary graph ops (add, mul): the kernel class
// that stages host operands, and one grid-stride kernel over the output whose operand
// offsets come from the broadcast strides. Each op's own file supplies the scalar function.
// Included only by .cu files.
#pragma once
#include "kernels.hpp"

namespace ai3::cuda {

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
    // Walk from the innermost dim outwards; c's dims are built innermost first, then reversed.
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

// No __restrict__: the output may alias an operand of the output's shape (a graph runs
// residual adds in place). Such an operand is read at element i only by the thread that
// writes element i, so aliasing is safe; a broadcast operand is never the output.
template <class T, class F> __global__ void broadcast_kernel(Broadcast c, const T *a, const T *b, T *out, F f) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < c.total;
         i += int64_t(gridDim.x) * blockDim.x) {
        int64_t ao = 0, bo = 0, rem = i;
        for (int d = c.rank - 1; d >= 0; --d) {
            const int64_t k = rem % c.shape[d];
            rem /= c.shape[d];
            ao += k * c.as[d];
            bo += k * c.bs[d];
        }
        out[i] = f(a[ao], b[bo]);
    }
}

// Elements of an operand: its broadcast dims (stride 0) count once.
inline int64_t operand_numel(const BinaryParams &p, const int64_t *stride) {
    int64_t n = 1;
    for (int d = 0; d < p.rank; ++d)
        if (stride[d] != 0) n *= p.shape[d];
    return n;
}

template <class Op, class T, class F> class BroadcastKernel final : public Kernel<Op, T> {
  public:
    BroadcastKernel(const BinaryParams &p, const Device &dev)
        : c_(collapse(p)), ctx_(context_of(dev)), a_n_(operand_numel(p, p.a_stride)),
          b_n_(operand_numel(p, p.b_stride)) {}
    void run(const BinaryArgs<T> &args) override {
        if (c_.total <= 0) return;
        Run r(ctx_);
        // Two host operands need two staging buffers: b borrows the weight slot.
        const T *a = r.in(args.a, std::size_t(a_n_), ctx_.stage_in);
        const T *b = r.in(args.b, std::size_t(b_n_), ctx_.stage_w);
        T *y = r.out(args.output, std::size_t(c_.total));
        broadcast_kernel<T, F><<<blocks_for(c_.total), kThreads, 0, r.stream()>>>(c_, a, b, y, F{});
        AI3_CUDA_CHECK_LAUNCH();
        r.finish(y);
    }

  private:
    Broadcast c_;
    Context &ctx_;
    int64_t a_n_, b_n_;
};

} // namespace ai3::cuda
