// Device code shared by the broadcasting binary graph ops (add, mul): the kernel class
// that stages host operands, and one grid-stride kernel over the output whose operand
// offsets come from the merged broadcast strides (graph_index.hpp). Each op's own file
// supplies the scalar function.
// Included only by .cu files.
#pragma once
#include "graph_index.hpp"
#include "kernels.hpp"

namespace ai3::cuda {

// No __restrict__: the output may alias an operand of the output's shape (a graph runs
// residual adds in place). Such an operand is read at element i only by the thread that
// writes element i, so aliasing is safe; a broadcast operand is never the output.
template <class T, class F> __global__ void broadcast_kernel(Broadcast c, const T *a, const T *b, T *out, F f) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < c.total;
         i += int64_t(gridDim.x) * blockDim.x) {
        int64_t ao, bo;
        broadcast_offsets(c, i, ao, bo);
        out[i] = f(a[ao], b[bo]);
    }
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
