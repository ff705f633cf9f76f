// Host side of the SYCL conv2d algorithms: one Kernel class per algorithm, all
// sharing the staging of host pointers and the cached device copies of the
// weights. The device code is in sycl/conv2d/<algorithm>.hpp.
#include "ai3/guess.hpp"
#include "kernels.hpp"
#include "launch.hpp"

#include <vector>

namespace ai3::syclrt {

namespace {

constexpr int TM = AI3_SYCL_GEMM_TM;

template <class T> struct ConvBase : Kernel<Conv2d, T> {
    Conv2dParams p;
    QueueState &qs;
    DeviceCopy<T> w_, b_;
    Scratch<T> packed_;
    uint64_t packed_generation = 0;
    bool have_packed = false;
    const char *what;

    ConvBase(const Conv2dParams &p, const Device &dev, const char *what) : p(p), qs(queue_of(dev)), what(what) {
        AI3_CHECK(dtype_of<T>::value != DType::f64 || qs.fp64, Unimplemented,
                  "float64 needs a SYCL device with aspect::fp64; ", qs.name, " has none (use float32)");
    }
    int64_t Kg() const { return p.K / p.groups; }
    int64_t Cg() const { return p.C / p.groups; }
    int64_t RS() const { return p.R * p.S; }
    int64_t PQ() const { return p.P * p.Q; }
    int64_t MB() const { return sk::ceil_div(Kg(), TM); }
    // Elements of one group's packed weights (MB blocks of TM rows of Cg*R*S).
    int64_t packed_group() const { return MB() * TM * Cg() * RS(); }
    // Winograd transforms the weights itself; every other kernel reads them packed.
    virtual bool packs_weights() const { return true; }

    void run(const typename Conv2d::Args<T> &a) override {
        guarded(what, [&] {
            Staging st(qs);
            const T *x = st.in(a.input, std::size_t(p.N * p.C * p.H * p.W));
            T *y = st.out(a.output, std::size_t(p.N * p.K * PQ()));
            const T *w = w_.get(qs, a.weight, std::size_t(p.K * Cg() * RS()), a.weight_version, a.weight_owned);
            const T *b = p.has_bias ? b_.get(qs, a.bias, std::size_t(p.K), a.weight_version, a.weight_owned) : nullptr;
            if (packs_weights()) {
                // Repacked whenever new weights were uploaded (or always, for weights already
                // in device memory, which ai3 cannot watch).
                T *pk = packed_.get(qs, std::size_t(p.groups * packed_group()));
                if (!have_packed || w_.generation() != packed_generation || w == a.weight) {
                    launch_pack_rows<T>(qs, range3(p.groups, MB(), Cg() * RS()), w, pk, Kg(), Cg() * RS());
                    packed_generation = w_.generation();
                    have_packed = true;
                }
                w = pk;
            }
            compute(x, w, b, y, a);
            st.finish();
        });
    }
    virtual void compute(const T *x, const T *w, const T *b, T *y, const typename Conv2d::Args<T> &a) = 0;
};

template <class T> struct Direct final : ConvBase<T> {
    Direct(const Conv2dParams &p, const Device &d) : ConvBase<T>(p, d, "running conv2d 'direct'") {}
    // The depthwise kernel reads the weights as they are.
    bool packs_weights() const override { return !sk::direct_depthwise(this->p); }
    void compute(const T *x, const T *w, const T *b, T *y, const typename Conv2d::Args<T> &) override {
        const auto &p = this->p;
        if (sk::direct_depthwise(p)) {
            const auto r = wide3(p.N * p.K, p.P, p.Q);
            switch (sk::depthwise_variant(p)) {
            case 1: launch_conv2d_depthwise_3x3s1<T>(this->qs, r, x, w, b, y, p); break;
            case 2: launch_conv2d_depthwise_3x3s2<T>(this->qs, r, x, w, b, y, p); break;
            default: launch_conv2d_depthwise<T>(this->qs, r, x, w, b, y, p);
            }
            return;
        }
        const int64_t blocks = sk::ceil_div(this->Kg(), AI3_SYCL_DIRECT_KB) * p.groups;
        if (sk::direct_3x3(p))
            launch_conv2d_direct_3x3<T>(this->qs, range3(p.N * blocks, p.P, p.Q), x, w, b, y, p);
        else
            launch_conv2d_direct<T>(this->qs, range3(p.N * blocks, p.P, p.Q), x, w, b, y, p);
    }
};

// The packed GEMM's launch: two columns per work-item (gemm_impl<T, true>).
sycl::nd_range<3> gemm_range(int64_t batch, const sk::GemmParams &g) {
    return range3(batch, sk::ceil_div(g.M, TM), sk::ceil_div(g.N, 2));
}

// The weights as GEMM A per group (Kg x Cg*R*S) times lowered columns.
template <class T> sk::GemmParams conv_gemm(const Conv2dParams &p, int64_t width, int64_t cols) {
    const int64_t Kg = p.K / p.groups, KD = (p.C / p.groups) * p.R * p.S;
    sk::GemmParams g;
    g.M = Kg;
    g.N = cols;
    g.K = KD;
    g.lda_m = KD;
    g.lda_k = 1;
    g.a_batch = sk::ceil_div(Kg, TM) * TM * KD; // packed weights per group
    g.ldb_k = width;
    g.ldb_n = 1;
    g.b_batch = KD * width;
    g.ldc_m = p.P * p.Q;
    g.c_batch = Kg * p.P * p.Q;
    g.bias_batch = Kg;
    g.batch_inner = p.groups;
    g.has_bias = p.has_bias;
    return g;
}

template <class T> struct Smm final : ConvBase<T> {
    Scratch<T> col_;
    Smm(const Conv2dParams &p, const Device &d) : ConvBase<T>(p, d, "running conv2d 'smm'") {}
    void compute(const T *x, const T *w, const T *b, T *y, const typename Conv2d::Args<T> &) override {
        const auto &p = this->p;
        const int64_t PQ = this->PQ(), RS = this->RS();
        T *col = col_.get(this->qs, std::size_t(p.N * p.C * RS * PQ + sk::kGemmSlack));
        launch_im2col<T>(this->qs, range3(p.N * p.C, RS, PQ), x, col, p, int64_t(0), PQ);
        sk::GemmParams g = conv_gemm<T>(p, PQ, PQ);
        g.b_outer = p.C * RS * PQ; // image n's columns
        g.c_outer = p.K * PQ;
        launch_gemm<T>(this->qs, gemm_range(p.N * p.groups, g), w, col, b, y, g);
    }
};

template <class T> struct Gemm final : ConvBase<T> {
    Scratch<T> col_;
    int64_t width;
    Gemm(const Conv2dParams &p, const Device &d) : ConvBase<T>(p, d, "running conv2d 'gemm'") {
        // Panels of ~1 MiB of lowered columns (all groups of one image): cache resident.
        const int64_t per_col = p.C * this->RS() * int64_t(sizeof(T));
        width = std::max<int64_t>(32, ((int64_t(1) << 20) / std::max<int64_t>(1, per_col)) / 32 * 32);
        width = std::min<int64_t>(width, int64_t(round_up(this->PQ(), 32)));
    }
    void compute(const T *x, const T *w, const T *b, T *y, const typename Conv2d::Args<T> &) override {
        const auto &p = this->p;
        const int64_t PQ = this->PQ(), RS = this->RS();
        T *col = col_.get(this->qs, std::size_t(p.C * RS * width + sk::kGemmSlack));
        for (int64_t n = 0; n < p.N; ++n)
            for (int64_t j0 = 0; j0 < PQ; j0 += width) {
                const int64_t cols = std::min(width, PQ - j0);
                launch_im2col<T>(this->qs, range3(p.C, RS, cols), x + n * p.C * p.H * p.W, col, p, j0, width);
                sk::GemmParams g = conv_gemm<T>(p, width, cols);
                launch_gemm<T>(this->qs, gemm_range(p.groups, g), w, col, b, y + n * p.K * PQ + j0, g);
            }
    }
};

template <class T> struct Implicit final : ConvBase<T> {
    Implicit(const Conv2dParams &p, const Device &d) : ConvBase<T>(p, d, "running conv2d 'implicit gemm'") {}
    void compute(const T *x, const T *w, const T *b, T *y, const typename Conv2d::Args<T> &) override {
        const auto &p = this->p;
        launch_conv2d_implicit_gemm<T>(this->qs, range3(p.N * p.groups, sk::ceil_div(this->Kg(), TM), this->PQ()), x, w,
                                       b, y, p);
    }
};

template <class T> struct ImplicitPrecomp final : ConvBase<T> {
    Scratch<int64_t> table_;
    bool have_table = false;
    ImplicitPrecomp(const Conv2dParams &p, const Device &d)
        : ConvBase<T>(p, d, "running conv2d 'implicit precomp gemm'") {}
    void compute(const T *x, const T *w, const T *b, T *y, const typename Conv2d::Args<T> &) override {
        const auto &p = this->p;
        const int64_t KD = this->Cg() * this->RS();
        int64_t *table = table_.get(this->qs, std::size_t(3 * KD));
        if (!have_table) { // once per layer shape: offsets and tap displacements per reduction row
            std::vector<int64_t> t(std::size_t(3 * KD));
            for (int64_t c = 0, k = 0; c < this->Cg(); ++c)
                for (int64_t r = 0; r < p.R; ++r)
                    for (int64_t s = 0; s < p.S; ++s, ++k) {
                        t[std::size_t(k)] = c * p.H * p.W + r * p.dil_h * p.W + s * p.dil_w;
                        t[std::size_t(KD + k)] = r * p.dil_h;
                        t[std::size_t(2 * KD + k)] = s * p.dil_w;
                    }
            this->qs.q.memcpy(table, t.data(), t.size() * sizeof(int64_t)).wait_and_throw();
            have_table = true;
        }
        launch_conv2d_implicit_precomp_gemm<T>(this->qs,
                                               range3(p.N * p.groups, sk::ceil_div(this->Kg(), TM), this->PQ()), x, w,
                                               b, y, static_cast<const int64_t *>(table), p);
    }
};

template <class T> struct Winograd final : ConvBase<T> {
    Scratch<T> u_, v_, m_, exact_packed_;
    Scratch<int> flags_; // [0]: the input held a NaN/inf this call; [1]: the weights of U do
    const T *u_weight = nullptr;
    uint64_t u_version = 0, u_fp = 0;
    bool have_u = false, u_finite = true;
    sk::WinogradParams wp;
    Direct<T> exact_; // runs a call whose input or weights are not all finite

    bool packs_weights() const override { return false; }
    Winograd(const Conv2dParams &p, const Device &d)
        : ConvBase<T>(p, d, "running conv2d 'winograd'"), exact_(refused_or(p), d) {
        wp.conv = p;
        wp.tiles_h = sk::ceil_div(p.P, 2);
        wp.tiles_w = sk::ceil_div(p.Q, 2);
        wp.tiles = p.N * wp.tiles_h * wp.tiles_w;
    }
    // The refusal comes before exact_'s construction (a member initialiser).
    static const Conv2dParams &refused_or(const Conv2dParams &p) {
        check_conv2d_runs("winograd", p);
        return p;
    }
    void compute(const T *x, const T *w, const T *b, T *y, const typename Conv2d::Args<T> &a) override {
        const auto &p = this->p;
        const int64_t Kg = this->Kg(), Cg = this->Cg(), G = p.groups, T_ = wp.tiles;
        const std::size_t u_size = std::size_t(16 * G * this->MB() * TM * Cg);
        T *U = u_.get(this->qs, u_size);
        int *flags = flags_.get(this->qs, 2);
        // The transformed filters follow the weights: same device copy, same version/contents.
        const uint64_t fp = a.weight_owned ? 0 : fingerprint(a.weight, std::size_t(p.K * Cg * 9) * sizeof(T));
        if (!have_u || a.weight != u_weight || a.weight_version != u_version || fp != u_fp) {
            if (!have_u) this->qs.q.memset(U, 0, u_size * sizeof(T)); // the packed blocks' padding rows
            this->qs.q.memset(flags + 1, 0, sizeof(int));
            launch_winograd_filter<T>(this->qs, range3(1, p.K, Cg), w, U, flags, p);
            int raised = 0; // once per weights: calls with non-finite weights skip winograd
            this->qs.q.memcpy(&raised, flags + 1, sizeof(int)).wait_and_throw();
            u_finite = !raised;
            u_weight = a.weight;
            u_version = a.weight_version;
            u_fp = fp;
            have_u = true;
        }
        if (!u_finite) return run_exact(x, w, b, y, a);
        T *V = v_.get(this->qs, std::size_t(16 * p.C * T_ + sk::kGemmSlack));
        T *M = m_.get(this->qs, std::size_t(16 * p.K * T_));
        this->qs.q.memset(flags, 0, sizeof(int));
        launch_winograd_input<T>(this->qs, range3(p.C, 1, T_), x, V, flags, wp);
        sk::GemmParams g;
        g.M = Kg;
        g.N = T_;
        g.K = Cg;
        g.lda_m = Cg;
        g.lda_k = 1;
        g.a_batch = this->MB() * TM * Cg; // U packed per (e, g)
        g.ldb_k = T_;
        g.ldb_n = 1;
        g.b_batch = Cg * T_;
        g.ldc_m = T_;
        g.c_batch = Kg * T_;
        g.batch_inner = 16 * G;
        g.has_bias = false;
        launch_gemm<T>(this->qs, gemm_range(16 * G, g), static_cast<const T *>(U), static_cast<const T *>(V),
                       static_cast<const T *>(nullptr), M, g);
        launch_winograd_output<T>(this->qs, range3(p.K, 1, T_), static_cast<const T *>(M), b, y, wp);
        int raised = 0; // the input transform met a NaN or an infinity
        this->qs.q.memcpy(&raised, flags, sizeof(int)).wait_and_throw();
        if (raised) run_exact(x, w, b, y, a);
    }
    // The call again as the convolution itself, over what winograd wrote.
    void run_exact(const T *x, const T *w, const T *b, T *y, const typename Conv2d::Args<T> &a) {
        const T *wk = w;
        if (exact_.packs_weights()) {
            T *pk = exact_packed_.get(this->qs, std::size_t(this->p.groups * this->packed_group()));
            launch_pack_rows<T>(this->qs, range3(this->p.groups, this->MB(), this->Cg() * this->RS()), w, pk,
                                this->Kg(), this->Cg() * this->RS());
            wk = pk;
        }
        exact_.compute(x, wk, b, y, a);
    }
};

} // namespace

#define AI3_CONV_FACTORY(fn, K)                                                                                        \
    template <class T> KernelPtr<Conv2d, T> fn(const Conv2dParams &p, const Device &d) {                               \
        return std::make_unique<K<T>>(p, d);                                                                           \
    }                                                                                                                  \
    template KernelPtr<Conv2d, float> fn<float>(const Conv2dParams &, const Device &);                                 \
    template KernelPtr<Conv2d, double> fn<double>(const Conv2dParams &, const Device &);

AI3_CONV_FACTORY(make_conv_direct, Direct)
AI3_CONV_FACTORY(make_conv_smm, Smm)
AI3_CONV_FACTORY(make_conv_gemm, Gemm)
AI3_CONV_FACTORY(make_conv_implicit_gemm, Implicit)
AI3_CONV_FACTORY(make_conv_implicit_precomp_gemm, ImplicitPrecomp)
AI3_CONV_FACTORY(make_conv_winograd, Winograd)

} // namespace ai3::syclrt
