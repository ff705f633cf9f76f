// Host side of the SYCL kernels for every op but conv2d: validate the device,
// stage host pointers, launch.
#include "kernels.hpp"
#include "kernel_base.hpp"
#include "launch.hpp"

#include "ai3/fingerprint.hpp"

#include <cstring>
#include <type_traits>

namespace ai3::syclrt {

namespace {

template <class T> struct Relu final : SyclKernel<ReLU, T> {
    using SyclKernel<ReLU, T>::SyclKernel;
    void run(const UnaryArgs<T> &a) override {
        guarded("running relu", [&] {
            Staging st(this->qs);
            const T *x = st.in(a.input, this->p.n);
            T *y = st.out(a.output, this->p.n);
            launch_relu<T>(this->qs, range1(this->p.n), x, y, this->p.n);
            st.finish();
        });
    }
};

template <class Op, class T> struct Pool final : SyclKernel<Op, T> {
    using SyclKernel<Op, T>::SyclKernel;
    void run(const UnaryArgs<T> &a) override {
        const auto &p = this->p;
        guarded("running pooling", [&] {
            Staging st(this->qs);
            const T *x = st.in(a.input, std::size_t(p.N * p.C * p.H * p.W));
            T *y = st.out(a.output, std::size_t(p.N * p.C * p.P * p.Q));
            auto r = range3(p.N * p.C, p.P, p.Q);
            if constexpr (std::is_same_v<Op, MaxPool2d>)
                launch_maxpool2d<T>(this->qs, r, x, y, p);
            else if constexpr (std::is_same_v<Op, AvgPool2d>)
                launch_avgpool2d<T>(this->qs, r, x, y, p);
            else
                launch_adaptiveavgpool2d<T>(this->qs, r, x, y, p);
            st.finish();
        });
    }
};

template <class T> struct Pad final : SyclKernel<Pad2d, T> {
    using SyclKernel<Pad2d, T>::SyclKernel;
    void run(const UnaryArgs<T> &a) override {
        const auto &p = this->p;
        const int64_t OH = p.H + p.top + p.bottom, OW = p.W + p.left + p.right;
        guarded("running pad2d", [&] {
            Staging st(this->qs);
            const T *x = st.in(a.input, std::size_t(p.N * p.C * p.H * p.W));
            T *y = st.out(a.output, std::size_t(p.N * p.C * OH * OW));
            launch_pad2d<T>(this->qs, range3(p.N * p.C, OH, OW), x, y, p);
            st.finish();
        });
    }
};

// y[M, N] = x[M, K] w[N, K]^T + b as the shared GEMM with rows = output features.
template <class T> struct LinearK final : SyclKernel<Linear, T> {
    using SyclKernel<Linear, T>::SyclKernel;
    DeviceCopy<T> w_, b_;
    void run(const typename Linear::Args<T> &a) override {
        const auto &p = this->p;
        guarded("running linear", [&] {
            Staging st(this->qs);
            const T *x = st.in(a.input, std::size_t(p.M * p.K));
            T *y = st.out(a.output, std::size_t(p.M * p.N));
            // Linear layers own their parameters (ai3.Model), so they never change.
            const T *w = w_.get(this->qs, a.weight, std::size_t(p.N * p.K), 0, true);
            const T *b = p.has_bias ? b_.get(this->qs, a.bias, std::size_t(p.N), 0, true) : nullptr;
            sk::GemmParams g;
            g.M = p.N;
            g.N = p.M;
            g.K = p.K;
            g.lda_m = p.K;
            g.lda_k = 1;
            g.ldb_k = 1;
            g.ldb_n = p.K;
            g.ldc_m = 1;
            g.ldc_n = p.N;
            g.has_bias = p.has_bias;
            // The weights as they are (unpacked): the strided kernel.
            launch_gemm_strided<T>(this->qs, range3(1, sk::ceil_div(g.M, AI3_SYCL_GEMM_TM), g.N), w, x, b, y, g);
            st.finish();
        });
    }
};

} // namespace

uint64_t fingerprint(const void *p, std::size_t bytes) { return ai3::detail::fingerprint_serial(p, bytes); }

template <class T> using MaxPoolK = Pool<MaxPool2d, T>;
template <class T> using AvgPoolK = Pool<AvgPool2d, T>;
template <class T> using AdaptiveK = Pool<AdaptiveAvgPool2d, T>;

AI3_FACTORY(make_relu, ReLU, Relu)
template <class T> using FlattenK = CopyK<Flatten, T>;
AI3_FACTORY(make_flatten, Flatten, FlattenK)
AI3_FACTORY(make_maxpool2d, MaxPool2d, MaxPoolK)
AI3_FACTORY(make_avgpool2d, AvgPool2d, AvgPoolK)
AI3_FACTORY(make_adaptiveavgpool2d, AdaptiveAvgPool2d, AdaptiveK)
AI3_FACTORY(make_pad2d, Pad2d, Pad)
AI3_FACTORY(make_linear, Linear, LinearK)

} // namespace ai3::syclrt
