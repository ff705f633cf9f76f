// cat on the GPU: every input is outer x inner[i]; output row o is the inputs' rows o back
// to back. One strided copy kernel per input (the input array is a host array of device
// pointers, so each launch takes its pointer by value), all on the device's stream.
#include "graph_index.hpp"
#include "kernels.hpp"

#include <memory>

namespace ai3::cuda {

namespace {

// out[o * row + off + j] = in[o * inner + j] for o < outer, j < inner (grid-stride over both).
template <class T>
__global__ void cat_copy_kernel(const T *__restrict__ in, T *__restrict__ out, int64_t outer, int64_t inner,
                                int64_t row, int64_t off) {
    const int64_t total = outer * inner;
    for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += int64_t(gridDim.x) * blockDim.x)
        out[cat_dest(k, inner, row, off)] = in[k];
}

template <class T> class CatKernel final : public Kernel<Cat, T> {
  public:
    CatKernel(const CatParams &p, const Device &dev)
        : p_(p), ctx_(context_of(dev)), stage_(std::make_unique<DevMem[]>(std::size_t(p.n))) {
        for (int i = 0; i < p_.n; ++i) row_ += p_.inner[i];
    }
    void run(const Cat::Args<T> &a) override {
        if (p_.outer <= 0 || row_ <= 0) return;
        Run r(ctx_);
        T *y = r.out(a.output, std::size_t(p_.outer * row_));
        int64_t off = 0;
        for (int i = 0; i < p_.n; ++i) {
            const int64_t inner = p_.inner[i];
            if (inner > 0) {
                // A host input (a single layer on CPU tensors) gets its own staging buffer:
                // every input must stay valid until its copy has run.
                const T *x = r.in(a.inputs[i], std::size_t(p_.outer * inner), stage_[std::size_t(i)]);
                cat_copy_kernel<T>
                    <<<blocks_for(p_.outer * inner), kThreads, 0, r.stream()>>>(x, y, p_.outer, inner, row_, off);
                AI3_CUDA_CHECK_LAUNCH();
            }
            off += inner;
        }
        r.finish(y);
    }

  private:
    CatParams p_;
    Context &ctx_;
    std::unique_ptr<DevMem[]> stage_;
    int64_t row_ = 0;
};

} // namespace

template <class T> KernelPtr<Cat, T> make_cat_direct(const CatParams &p, const Device &dev) {
    AI3_CHECK(p.n >= 1 && p.n <= 64, ValueError, "cat takes 1 to 64 inputs, got ", p.n);
    AI3_CHECK(p.outer >= 0, ValueError, "cat: negative size");
    for (int i = 0; i < p.n; ++i) AI3_CHECK(p.inner[i] >= 0, ValueError, "cat: negative size");
    return std::make_unique<CatKernel<T>>(p, dev);
}
template KernelPtr<Cat, float> make_cat_direct<float>(const CatParams &, const Device &);
template KernelPtr<Cat, double> make_cat_direct<double>(const CatParams &, const Device &);

} // namespace ai3::cuda
