// permute on the GPU: dense copy out[i0..ir] = in[i at perm], one thread per output
// element, so writes are coalesced; the input offset comes from the output index and
// the permuted input strides. Dims of size 1 are dropped and output dims that stay
// adjacent in the input are merged first (ConvNeXt's NCHW <-> NHWC becomes a 3-D
// transpose (N, C, HW) <-> (N, HW, C)).
#include "kernels.hpp"

namespace ai3::cuda {

namespace {

struct PermuteWalk {
    int rank = 0;
    int64_t shape[kMaxRank] = {}; // output shape (after merging)
    int64_t st[kMaxRank] = {};    // input stride of each output dim
    int64_t total = 0;
};

PermuteWalk walk_of(const PermuteParams &p) {
    PermuteWalk w;
    int64_t in_stride[kMaxRank];
    int64_t s = 1;
    for (int d = p.rank - 1; d >= 0; --d) {
        in_stride[d] = s;
        s *= p.in_shape[d];
    }
    w.total = s;
    // Innermost output dim first: merge output dim d into the next inner one when the
    // input holds them in the same order, contiguously.
    int64_t shape[kMaxRank], st[kMaxRank];
    int n = 0;
    for (int d = p.rank - 1; d >= 0; --d) {
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

template <class T> __global__ void permute_kernel(PermuteWalk w, const T *__restrict__ in, T *__restrict__ out) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < w.total; i += int64_t(gridDim.x) * blockDim.x) {
        int64_t off = 0, rem = i;
        for (int d = w.rank - 1; d >= 0; --d) {
            off += (rem % w.shape[d]) * w.st[d];
            rem /= w.shape[d];
        }
        out[i] = in[off];
    }
}

template <class T> class PermuteKernel final : public Kernel<Permute, T> {
  public:
    PermuteKernel(const PermuteParams &p, const Device &dev) : w_(walk_of(p)), ctx_(context_of(dev)) {}
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
