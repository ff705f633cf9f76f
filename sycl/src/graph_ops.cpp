// Host side of the SYCL kernels of the graph ops (ai3.Model's graph form): validate the
// device, stage host pointers, launch. Parameters the layer owns and never changes
// (BatchNorm scale/shift, LayerNorm weight/bias) go to the device once (DeviceCopy).
#include "kernel_base.hpp"
#include "kernels.hpp"
#include "launch.hpp"

#include <type_traits>

namespace ai3::syclrt {

namespace {

// ---- pointwise activations ---------------------------------------------------------

// One launcher per activation; in place (input == output) is safe in every kernel, and a
// host pointer given as both is staged once (Staging dedups it).
#define AI3_SYCL_POINTWISE(K, Op, launch, what)                                                               \
    template <class T> struct K final : SyclKernel<Op, T> {                                                   \
        using SyclKernel<Op, T>::SyclKernel;                                                                  \
        void run(const UnaryArgs<T> &a) override {                                                            \
            const int64_t n = this->p.n;                                                                      \
            if (n <= 0) return;                                                                               \
            guarded("running " what, [&] {                                                                    \
                Staging st(this->qs);                                                                         \
                const T *x = st.in(a.input, std::size_t(n));                                                  \
                T *y = st.out(a.output, std::size_t(n));                                                      \
                launch<T>(this->qs, range1(n), x, y, n);                                                      \
                st.finish();                                                                                  \
            });                                                                                               \
        }                                                                                                     \
    };

AI3_SYCL_POINTWISE(Relu6K, ReLU6, launch_relu6, "relu6")
AI3_SYCL_POINTWISE(HardswishK, Hardswish, launch_hardswish, "hardswish")
AI3_SYCL_POINTWISE(HardsigmoidK, Hardsigmoid, launch_hardsigmoid, "hardsigmoid")
AI3_SYCL_POINTWISE(SiluK, SiLU, launch_silu, "silu")
AI3_SYCL_POINTWISE(SigmoidK, Sigmoid, launch_sigmoid, "sigmoid")
#undef AI3_SYCL_POINTWISE

template <class T> struct GeluK final : SyclKernel<Gelu, T> {
    using SyclKernel<Gelu, T>::SyclKernel;
    void run(const UnaryArgs<T> &a) override {
        const int64_t n = this->p.n;
        if (n <= 0) return;
        guarded("running gelu", [&] {
            Staging st(this->qs);
            const T *x = st.in(a.input, std::size_t(n));
            T *y = st.out(a.output, std::size_t(n));
            launch_gelu<T>(this->qs, range1(n), x, y, this->p);
            st.finish();
        });
    }
};

// Reshape's data does not change: a graph aliases the buffer and never runs it; on its
// own it is the dense copy flatten uses.
template <class T> struct ReshapeK final : SyclKernel<Reshape, T> {
    using SyclKernel<Reshape, T>::SyclKernel;
    void run(const UnaryArgs<T> &a) override {
        const int64_t n = this->p.n;
        if (n <= 0 || a.input == a.output) return;
        guarded("running reshape", [&] {
            Staging st(this->qs);
            const T *x = st.in(a.input, std::size_t(n));
            T *y = st.out(a.output, std::size_t(n));
            launch_copy<T>(this->qs, range1(n), x, y, n);
            st.finish();
        });
    }
};

// ---- batchnorm2d ----------------------------------------------------------------------

template <class T> struct BatchNormK final : SyclKernel<BatchNorm2d, T> {
    using SyclKernel<BatchNorm2d, T>::SyclKernel;
    DeviceCopy<T> scale_, shift_;
    void run(const typename BatchNorm2d::Args<T> &a) override {
        const auto &p = this->p;
        const int64_t n = p.N * p.C * p.HW;
        if (n <= 0) return;
        guarded("running batchnorm2d", [&] {
            Staging st(this->qs);
            const T *x = st.in(a.input, std::size_t(n));
            T *y = st.out(a.output, std::size_t(n));
            // The layer owns its folded scale and shift and never changes them.
            const T *s = scale_.get(this->qs, a.scale, std::size_t(p.C), 0, true);
            const T *t = shift_.get(this->qs, a.shift, std::size_t(p.C), 0, true);
            launch_batchnorm2d<T>(this->qs, range1(n), x, s, t, y, p);
            st.finish();
        });
    }
};

// ---- add, mul -------------------------------------------------------------------------

// Drops size-1 dims and merges adjacent dims across which both operands stay dense (or
// both broadcast), so the kernel decodes as few dims as the broadcast really has.
sk::BroadcastParams collapse(const BinaryParams &p) {
    sk::BroadcastParams q;
    q.total = 1;
    for (int d = 0; d < p.rank; ++d) {
        q.total *= p.shape[d];
        if (p.shape[d] == 1) continue;
        const int k = q.rank - 1;
        if (k >= 0 && q.a_stride[k] == p.a_stride[d] * p.shape[d] && q.b_stride[k] == p.b_stride[d] * p.shape[d]) {
            q.shape[k] *= p.shape[d];
            q.a_stride[k] = p.a_stride[d];
            q.b_stride[k] = p.b_stride[d];
        } else {
            q.shape[q.rank] = p.shape[d];
            q.a_stride[q.rank] = p.a_stride[d];
            q.b_stride[q.rank] = p.b_stride[d];
            ++q.rank;
        }
    }
    if (q.rank == 0) { // a scalar (or every dim 1)
        q.rank = 1;
        q.shape[0] = 1;
    }
    return q;
}

// Elements an operand spans (its largest offset + 1), what must be staged of it.
int64_t extent(int rank, const int64_t *shape, const int64_t *stride) {
    int64_t last = 0;
    for (int d = 0; d < rank; ++d) last += (shape[d] - 1) * stride[d];
    return last + 1;
}

template <class Op, class T> struct BinaryK final : SyclKernel<Op, T> {
    using SyclKernel<Op, T>::SyclKernel;
    void run(const BinaryArgs<T> &a) override {
        const sk::BroadcastParams q = collapse(this->p);
        if (q.total <= 0) return;
        guarded(std::is_same_v<Op, Add> ? "running add" : "running mul", [&] {
            Staging st(this->qs);
            const T *x = st.in(a.a, std::size_t(extent(q.rank, q.shape, q.a_stride)));
            const T *w = st.in(a.b, std::size_t(extent(q.rank, q.shape, q.b_stride)));
            T *y = st.out(a.output, std::size_t(q.total));
            if constexpr (std::is_same_v<Op, Add>)
                launch_add<T>(this->qs, range1(q.total), x, w, y, q);
            else
                launch_mul<T>(this->qs, range1(q.total), x, w, y, q);
            st.finish();
        });
    }
};
template <class T> using AddK = BinaryK<Add, T>;
template <class T> using MulK = BinaryK<Mul, T>;

// ---- cat, split, permute ----------------------------------------------------------------

template <class T> struct CatK final : SyclKernel<Cat, T> {
    using SyclKernel<Cat, T>::SyclKernel;
    void run(const typename Cat::Args<T> &a) override {
        const auto &p = this->p;
        int64_t total = 0;
        for (int i = 0; i < p.n; ++i) total += p.inner[i];
        if (p.outer <= 0 || total <= 0) return;
        guarded("running cat", [&] {
            Staging st(this->qs);
            T *y = st.out(a.output, std::size_t(p.outer * total));
            // `inputs` is a host array of (host or device) pointers: one launch per input
            // instead of reading the array on the device.
            int64_t off = 0;
            for (int i = 0; i < p.n; ++i) {
                const int64_t inner = p.inner[i];
                if (inner > 0) {
                    const T *x = st.in(a.inputs[i], std::size_t(p.outer * inner));
                    launch_cat_piece<T>(this->qs, range3(1, p.outer, inner), x, y, p.outer, inner, total, off);
                }
                off += inner;
            }
            st.finish();
        });
    }
};

template <class T> struct SplitK final : SyclKernel<Split, T> {
    using SyclKernel<Split, T>::SyclKernel;
    void run(const UnaryArgs<T> &a) override {
        const auto &p = this->p;
        const int64_t row = p.len * p.inner;
        if (p.outer <= 0 || row <= 0) return;
        guarded("running split", [&] {
            Staging st(this->qs);
            const T *x = st.in(a.input, std::size_t(p.outer * p.dim * p.inner));
            T *y = st.out(a.output, std::size_t(p.outer * row));
            launch_split<T>(this->qs, range3(1, p.outer, row), x, y, p);
            st.finish();
        });
    }
};

// The output's shape and, per output dim, the input's stride; size-1 dims dropped and
// dims that stay adjacent in the input merged (NCHW -> NHWC becomes N x HW x C).
sk::StridedParams permuted(const PermuteParams &p) {
    int64_t in_stride[kMaxRank];
    int64_t s = 1;
    for (int d = p.rank - 1; d >= 0; --d) {
        in_stride[d] = s;
        s *= p.in_shape[d];
    }
    sk::StridedParams q;
    for (int d = 0; d < p.rank; ++d) {
        const int64_t n = p.in_shape[p.perm[d]], st = in_stride[p.perm[d]];
        if (n == 1) continue;
        const int k = q.rank - 1;
        if (k >= 0 && q.stride[k] == st * n) {
            q.shape[k] *= n;
            q.stride[k] = st;
        } else {
            q.shape[q.rank] = n;
            q.stride[q.rank] = st;
            ++q.rank;
        }
    }
    if (q.rank == 0) {
        q.rank = 1;
        q.shape[0] = s > 0 ? 1 : 0;
    }
    q.rows = 1;
    for (int d = 0; d + 1 < q.rank; ++d) q.rows *= q.shape[d];
    return q;
}

template <class T> struct PermuteK final : SyclKernel<Permute, T> {
    using SyclKernel<Permute, T>::SyclKernel;
    void run(const UnaryArgs<T> &a) override {
        const sk::StridedParams q = permuted(this->p);
        const int64_t inner = q.shape[q.rank - 1], n = q.rows * inner;
        if (n <= 0) return;
        guarded("running permute", [&] {
            Staging st(this->qs);
            const T *x = st.in(a.input, std::size_t(n));
            T *y = st.out(a.output, std::size_t(n));
            launch_permute<T>(this->qs, range3(1, q.rows, inner), x, y, q);
            st.finish();
        });
    }
};

// ---- mean, layernorm: reductions ------------------------------------------------------------

// One work-group of up to 128 work-items per reduced row.
sycl::nd_range<3> group_per_row(int64_t rows, int64_t len) {
    const std::size_t wg = wg_for(len, 128);
    return {sycl::range<3>(1, std::size_t(rows), wg), sycl::range<3>(1, 1, wg)};
}

template <class T> struct MeanK final : SyclKernel<Mean, T> {
    using SyclKernel<Mean, T>::SyclKernel;
    void run(const UnaryArgs<T> &a) override {
        const auto &p = this->p;
        if (p.outer <= 0 || p.inner <= 0) return;
        guarded("running mean", [&] {
            Staging st(this->qs);
            const T *x = st.in(a.input, std::size_t(p.outer * p.reduce * p.inner));
            T *y = st.out(a.output, std::size_t(p.outer * p.inner));
            if (p.inner == 1)
                launch_mean_rows<T>(this->qs, group_per_row(p.outer, p.reduce), x, y, p);
            else
                launch_mean_cols<T>(this->qs, range3(1, p.outer, p.inner), x, y, p);
            st.finish();
        });
    }
};

template <class T> struct LayerNormK final : SyclKernel<LayerNorm, T> {
    using SyclKernel<LayerNorm, T>::SyclKernel;
    DeviceCopy<T> w_, b_;
    void run(const typename LayerNorm::Args<T> &a) override {
        const auto &p = this->p;
        if (p.M <= 0 || p.D <= 0) return;
        AI3_CHECK(p.inner > 0 && p.M % p.inner == 0, ValueError, "layernorm: ", p.M, " groups is not a multiple of ",
                  p.inner, " positions");
        sk::LayerNormGeometry g;
        g.M = p.M;
        g.D = p.D;
        g.inner = p.inner;
        g.has_weight = p.has_weight && a.weight;
        g.has_bias = p.has_bias && a.bias;
        guarded("running layernorm", [&] {
            Staging st(this->qs);
            const T *x = st.in(a.input, std::size_t(p.M * p.D));
            T *y = st.out(a.output, std::size_t(p.M * p.D));
            // The layer owns its weight and bias and never changes them.
            const T *w = g.has_weight ? w_.get(this->qs, a.weight, std::size_t(p.D), 0, true) : nullptr;
            const T *b = g.has_bias ? b_.get(this->qs, a.bias, std::size_t(p.D), 0, true) : nullptr;
            if (p.inner == 1)
                launch_layernorm_rows<T>(this->qs, group_per_row(p.M, p.D), x, w, b, y, g, T(p.eps));
            else
                launch_layernorm_cols<T>(this->qs, range3(1, p.M / p.inner, p.inner), x, w, b, y, g, T(p.eps));
            st.finish();
        });
    }
};

} // namespace

AI3_FACTORY(make_batchnorm2d, BatchNorm2d, BatchNormK)
AI3_FACTORY(make_add, Add, AddK)
AI3_FACTORY(make_mul, Mul, MulK)
AI3_FACTORY(make_cat, Cat, CatK)
AI3_FACTORY(make_split, Split, SplitK)
AI3_FACTORY(make_permute, Permute, PermuteK)
AI3_FACTORY(make_reshape, Reshape, ReshapeK)
AI3_FACTORY(make_mean, Mean, MeanK)
AI3_FACTORY(make_layernorm, LayerNorm, LayerNormK)
AI3_FACTORY(make_relu6, ReLU6, Relu6K)
AI3_FACTORY(make_hardswish, Hardswish, HardswishK)
AI3_FACTORY(make_hardsigmoid, Hardsigmoid, HardsigmoidK)
AI3_FACTORY(make_silu, SiLU, SiluK)
AI3_FACTORY(make_sigmoid, Sigmoid, SigmoidK)
AI3_FACTORY(make_gelu, Gelu, GeluK)

} // namespace ai3::syclrt
