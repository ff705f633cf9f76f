// permute on the GPU: dense copy out[i0..ir] = in[i at perm], one thread per output
// element, so writes are coalesced; the input offset comes from the output index and
// the permuted input strides, with dims merged first (graph_index.hpp: ConvNeXt's
// NCHW <-> NHWC becomes a 3-D transpose (N, C, HW) <-> (N, HW, C)).
#include "graph_index.hpp"
#include "kernels.hpp"

namespace ai3::cuda {

namespace {

template <class T> __global__ void permute_kernel(PermuteWalk w, const T *__restrict__ in, T *__restrict__ out) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < w.total; i += int64_t(gridDim.x) * blockDim.x) {
        out[i] = in[permute_offset(w, i)];
    }
}

template <class T> class PermuteKernel final : public Kernel<Permute, T> {
  public:
    PermuteKernel(const PermuteParams &p, const Device &dev) : w_(permute_walk(p)), ctx_(context_of(dev)) {}
    void run(const UnaryArgs<T> &a) override {
        if (w_.total <= 0) return;
        Run r(ctx_);
        const T *x = r.in(a.input, std::size_t(w_.total), ctx_.stage_in);
        T *y = r.out(a.output, std::size_t(w_.total));
        permute_kernel<T><<<blocks_for(w_.total), kThreads, 0, r.stream()>>>(w_, x, y);
        AI3_CUDA_CHECK_LAUNCH();
        r.finish(y);
    }

  private:
    PermuteWalk w_;
    Context &ctx_;
};

} // namespace

template <class T> KernelPtr<Permute, T> make_permute_direct(const PermuteParams &p, const Device &dev) {
    AI3_CHECK(p.rank >= 0 && p.rank <= kMaxRank, ValueError, "permute: rank ", p.rank, " is outside [0, ", kMaxRank,
              "]");
    bool seen[kMaxRank] = {};
    for (int d = 0; d < p.rank; ++d) {
        AI3_CHECK(p.perm[d] >= 0 && p.perm[d] < p.rank && !seen[p.perm[d]], ValueError,
                  "permute: dims are not a permutation of 0..", p.rank - 1);
        seen[p.perm[d]] = true;
        AI3_CHECK(p.in_shape[d] >= 0, ValueError, "permute: negative size");
    }
    return std::make_unique<PermuteKernel<T>>(p, dev);
}
template KernelPtr<Permute, float> make_permute_direct<float>(const PermuteParams &, const Device &);
template KernelPtr<Permute, double> make_permute_direct<double>(const PermuteParams &, const Device &);

} // namespace ai3::cuda
