// permute on the GPU: dense copy out[i0..ir] = in[i at perm], with dims merged first
// (graph_index.hpp: ConvNeXt's NCHW <-> NHWC becomes (N, C, HW) <-> (N, HW, C)). A
// batch of 2-D transposes, the common case, goes through shared-memory tiles; any other
// permutation is one thread per output element (coalesced writes, strided reads).
#include "graph_index.hpp"
#include "kernels.hpp"

namespace ai3::cuda {

namespace {

template <class T> __global__ void permute_kernel(PermuteWalk w, const T *__restrict__ in, T *__restrict__ out) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < w.total;
         i += int64_t(gridDim.x) * blockDim.x) {
        out[i] = in[permute_offset(w, i)];
    }
}

// A batch of transposes (graph_index.hpp's Transpose), 32 x 32 tiles through shared memory:
// the block reads a tile along i (the input's contiguous dim) and writes it along j (the
// output's), so neither side strides through memory. The padding column keeps the
// transposed reads of the tile free of bank conflicts.
constexpr int kTile = 32, kTileRows = 8;

template <class T> __global__ void transpose_kernel(Transpose t, const T *__restrict__ in, T *__restrict__ out) {
    __shared__ T tile[kTile][kTile + 1];
    const int64_t ti = (t.I + kTile - 1) / kTile, tj = (t.J + kTile - 1) / kTile, tiles = t.B * ti * tj;
    for (int64_t k = blockIdx.x; k < tiles; k += gridDim.x) {
        const int64_t b = k / (ti * tj), r = k - b * (ti * tj);
        const int64_t i0 = (r / tj) * kTile, j0 = (r - (r / tj) * tj) * kTile;
        for (int y = threadIdx.y; y < kTile; y += kTileRows) { // tile[y][x] = element (i0 + x, j0 + y)
            const int64_t i = i0 + threadIdx.x, j = j0 + y;
            if (i < t.I && j < t.J) tile[y][threadIdx.x] = in[b * t.sb + i + j * t.sj];
        }
        __syncthreads();
        for (int y = threadIdx.y; y < kTile; y += kTileRows) { // element (i0 + y, j0 + x)
            const int64_t i = i0 + y, j = j0 + threadIdx.x;
            if (i < t.I && j < t.J) out[(b * t.I + i) * t.J + j] = tile[threadIdx.x][y];
        }
        __syncthreads(); // the next tile overwrites this one
    }
}

template <class T> class PermuteKernel final : public Kernel<Permute, T> {
  public:
    PermuteKernel(const PermuteParams &p, const Device &dev) : w_(permute_walk(p)), ctx_(context_of(dev)) {
        tiled_ = as_transpose(w_, t_);
    }
    void run(const UnaryArgs<T> &a) override {
        if (w_.total <= 0) return;
        Run r(ctx_);
        const T *x = r.in(a.input, std::size_t(w_.total), ctx_.stage_in);
        T *y = r.out(a.output, std::size_t(w_.total));
        if (tiled_) {
            const int64_t tiles = t_.B * ((t_.I + kTile - 1) / kTile) * ((t_.J + kTile - 1) / kTile);
            const unsigned blocks = unsigned(tiles < (int64_t(1) << 20) ? tiles : (int64_t(1) << 20));
            transpose_kernel<T><<<blocks, dim3(kTile, kTileRows), 0, r.stream()>>>(t_, x, y);
        } else {
            permute_kernel<T><<<blocks_for(w_.total), kThreads, 0, r.stream()>>>(w_, x, y);
        }
        AI3_CUDA_CHECK_LAUNCH();
        r.finish(y);
    }

  private:
    PermuteWalk w_;
    Context &ctx_;
    Transpose t_;
    bool tiled_ = false;
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
