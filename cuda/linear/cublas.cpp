// linear through cuBLAS: y[M, N] = x[M, K] @ w[N, K]^T + b. Row-major y is cuBLAS's
// column-major y^T (N x M) = w (viewed K x N, transposed) x x^T (viewed K x M), so one
// gemm with op(A) = T and no copies; the bias is added by a small kernel. The weight is
// the layer's own (ai3.Model), uploaded once.
#include "kernels.hpp"

namespace ai3::cuda {

namespace {

cublasStatus_t gemm(cublasHandle_t h, int m, int n, int k, const float *a, const float *b, float *c) {
    const float one = 1.f, zero = 0.f;
    return cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, a, k, b, k, &zero, c, m);
}
cublasStatus_t gemm(cublasHandle_t h, int m, int n, int k, const double *a, const double *b, double *c) {
    const double one = 1.0, zero = 0.0;
    return cublasDgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, a, k, b, k, &zero, c, m);
}

template <class T> class CublasLinear final : public Kernel<Linear, T> {
  public:
    CublasLinear(const LinearParams &p, const Device &dev) : p_(p), ctx_(context_of(dev)) {
        m_ = to_int(p.N, "linear out_features");
        n_ = to_int(p.M, "linear rows (batch)");
        k_ = to_int(p.K, "linear in_features");
    }
    void run(const Linear::Args<T> &a) override {
        const LinearParams &p = p_;
        if (p.M * p.N == 0) return;
        Run r(ctx_);
        const T *x = r.in(a.input, std::size_t(p.M * p.K), ctx_.stage_in);
        // LinearLayer always owns its parameters (they never change after construction).
        const T *w = w_.get(a.weight, std::size_t(p.N * p.K), /*owned=*/true, r, ctx_.stage_w);
        const T *b = p.has_bias ? b_.get(a.bias, std::size_t(p.N), /*owned=*/true, r, ctx_.stage_b) : nullptr;
        T *y = r.out(a.output, std::size_t(p.M * p.N));
        if (p.K == 0) {
            AI3_CUDA_CHECK(cudaMemsetAsync(y, 0, std::size_t(p.M * p.N) * sizeof(T), r.stream()));
        } else {
            AI3_CUBLAS_CHECK(gemm(ctx_.cublas, m_, n_, k_, w, x, y));
        }
        if (b) add_bias(y, b, p.M * p.N, 1, p.N, r.stream());
        r.finish(y);
    }

  private:
    LinearParams p_;
    Context &ctx_;
    int m_ = 0, n_ = 0, k_ = 0;
    DeviceParam<T> w_, b_;
};

} // namespace

template <class T> KernelPtr<Linear, T> make_linear_cublas(const LinearParams &p, const Device &dev) {
    return std::make_unique<CublasLinear<T>>(p, dev);
}
template KernelPtr<Linear, float> make_linear_cublas<float>(const LinearParams &, const Device &);
template KernelPtr<Linear, double> make_linear_cublas<double>(const LinearParams &, const Device &);

} // namespace ai3::cuda
