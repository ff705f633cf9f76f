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
#define AI3_SYCL_POINTWISE(K, Op, launch, what)                                                                        \
    template <class T> struct K final : SyclKernel<Op, T> {                                                            \
        using SyclKernel<Op, T>::SyclKernel;                                                                           \
        void run(const UnaryArgs<T> &a) override {                                                                     \
            const int64_t n = this->p.n;                                                                               \
            if (n <= 0) return;                                                                                        \
            guarded("running " what, [&] {                                                                             \
                Staging st(this->qs);                                                                                  \
                const T *x = st.in(a.input, std::size_t(n));                                                           \
                T *y = st.out(a.output, std::size_t(n));                                                               \
                launch<T>(this->qs, range1(n), x, y, n);                                                               \
                st.finish();                                                                                           \
            });                                                                                                        \
        }                                                                                                              \
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

template <class T> using ReshapeK = CopyK<Reshape, T>;

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
            launch_batchnorm2d<T>(this->qs, wide3(p.N, p.C, p.HW), x, s, t, y, p);
            st.finish();
        });
    }
};

// ---- add, mul -------------------------------------------------------------------------

// A strided view (of one or two operands) over a dense output shape, with size-1 dims
// dropped and adjacent dims merged where every operand stays dense (or broadcast)
// across them, padded with size-1 dims to at least 3. Kernels cover the last three dims;
// any before them (only where merging failed, e.g. (2,3,4,5) * (2,1,4,1)) are looped
// here, one launch each at offset pointers, so the kernels need no index decoding.
template <int K> struct Collapsed {
    int rank = 0;
    int64_t total = 1;
    int64_t shape[kMaxRank] = {};
    int64_t stride[K][kMaxRank] = {};

    void push(int64_t n, const int64_t (&st)[K]) {
        total *= n;
        if (n == 1) return;
        const int k = rank - 1;
        bool merge = k >= 0;
        for (int o = 0; o < K && merge; ++o) merge = stride[o][k] == st[o] * n;
        if (merge) {
            shape[k] *= n;
            for (int o = 0; o < K; ++o) stride[o][k] = st[o];
            return;
        }
        shape[rank] = n;
        for (int o = 0; o < K; ++o) stride[o][rank] = st[o];
        ++rank;
    }
    void pad3() {
        const int k = rank < 3 ? 3 - rank : 0;
        for (int d = rank - 1; d >= 0 && k; --d) {
            shape[d + k] = shape[d];
            for (int o = 0; o < K; ++o) stride[o][d + k] = stride[o][d];
        }
        for (int d = 0; d < k; ++d) {
            shape[d] = 1;
            for (int o = 0; o < K; ++o) stride[o][d] = 0;
        }
        rank += k;
    }
    // One launch covers the last three dims: (shape[r-3], shape[r-2], shape[r-1]).
    sycl::nd_range<3> range() const { return wide3(shape[rank - 3], shape[rank - 2], shape[rank - 1]); }
    // Calls f(offsets of the K operands, offset of the output) once per launch: once,
    // unless dims before the last three failed to merge.
    template <class F> void for_each_launch(F &&f) const {
        int64_t outer = 1;
        for (int d = 0; d + 3 < rank; ++d) outer *= shape[d];
        const int64_t block = shape[rank - 3] * shape[rank - 2] * shape[rank - 1];
        for (int64_t j = 0; j < outer; ++j) {
            int64_t off[K] = {}, rem = j;
            for (int d = rank - 4; d >= 0; --d) {
                const int64_t k = rem % shape[d];
                rem /= shape[d];
                for (int o = 0; o < K; ++o) off[o] += k * stride[o][d];
            }
            f(off, j * block);
        }
    }
    // Elements operand o spans (its largest offset + 1), what must be staged of it.
    int64_t extent(int o) const {
        int64_t last = 0;
        for (int d = 0; d < rank; ++d) last += (shape[d] - 1) * stride[o][d];
        return last + 1;
    }
};

Collapsed<2> collapse(const BinaryParams &p) {
    Collapsed<2> c;
    for (int d = 0; d < p.rank; ++d) c.push(p.shape[d], {p.a_stride[d], p.b_stride[d]});
    c.pad3();
    return c;
}

sk::BroadcastParams broadcast_params(const Collapsed<2> &c) {
    const int r = c.rank;
    sk::BroadcastParams q;
    q.n1 = c.shape[r - 2];
    q.n2 = c.shape[r - 1];
    q.a0 = c.stride[0][r - 3];
    q.a1 = c.stride[0][r - 2];
    q.a2 = c.stride[0][r - 1];
    q.b0 = c.stride[1][r - 3];
    q.b1 = c.stride[1][r - 2];
    q.b2 = c.stride[1][r - 1];
    return q;
}

template <class Op, class T> struct BinaryK final : SyclKernel<Op, T> {
    using SyclKernel<Op, T>::SyclKernel;
    void run(const BinaryArgs<T> &a) override {
        const Collapsed<2> c = collapse(this->p);
        if (c.total <= 0) return;
        const sk::BroadcastParams q = broadcast_params(c);
        guarded(std::is_same_v<Op, Add> ? "running add" : "running mul", [&] {
            Staging st(this->qs);
            const T *x = st.in(a.a, std::size_t(c.extent(0)));
            const T *w = st.in(a.b, std::size_t(c.extent(1)));
            T *y = st.out(a.output, std::size_t(c.total));
            c.for_each_launch([&](const int64_t *off, int64_t out) {
                if constexpr (std::is_same_v<Op, Add>)
                    launch_add<T>(this->qs, c.range(), x + off[0], w + off[1], y + out, q);
                else
                    launch_mul<T>(this->qs, c.range(), x + off[0], w + off[1], y + out, q);
            });
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
                    launch_cat_piece<T>(this->qs, wide3(1, p.outer, inner), x, y, p.outer, inner, total, off);
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
            launch_split<T>(this->qs, wide3(1, p.outer, row), x, y, p);
            st.finish();
        });
    }
};

// The output's shape and, per output dim, the input's stride, collapsed (NCHW -> NHWC
// becomes N x HW x C at input strides (CHW, 1, HW)).
Collapsed<1> permuted(const PermuteParams &p) {
    int64_t in_stride[kMaxRank];
    int64_t s = 1;
    for (int d = p.rank - 1; d >= 0; --d) {
        in_stride[d] = s;
        s *= p.in_shape[d];
    }
    Collapsed<1> c;
    for (int d = 0; d < p.rank; ++d) c.push(p.in_shape[p.perm[d]], {in_stride[p.perm[d]]});
    c.pad3();
    return c;
}

template <class T> struct PermuteK final : SyclKernel<Permute, T> {
    using SyclKernel<Permute, T>::SyclKernel;
    void run(const UnaryArgs<T> &a) override {
        const Collapsed<1> c = permuted(this->p);
        if (c.total <= 0) return;
        const int r = c.rank;
        sk::StridedParams q;
        q.n1 = c.shape[r - 2];
        q.n2 = c.shape[r - 1];
        q.s0 = c.stride[0][r - 3];
        q.s1 = c.stride[0][r - 2];
        q.s2 = c.stride[0][r - 1];
        guarded("running permute", [&] {
            Staging st(this->qs);
            const T *x = st.in(a.input, std::size_t(c.total));
            T *y = st.out(a.output, std::size_t(c.total));
            c.for_each_launch([&](const int64_t *off, int64_t out) {
                launch_permute<T>(this->qs, c.range(), x + off[0], y + out, q);
            });
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
                launch_mean_cols<T>(this->qs, wide3(1, p.outer, p.inner), x, y, p);
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
                launch_layernorm_cols<T>(this->qs, wide3(1, p.M / p.inner, p.inner), x, w, b, y, g, T(p.eps));
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
