// What every SYCL Kernel object shares (src/layers.cpp, src/graph_ops.cpp): the queue
// checked for the dtype once at construction, the op's parameters, and the factory
// definitions registered by src/register.cpp.
#pragma once
#include "ai3/registry.hpp"
#include "launch.hpp"
#include "runtime.hpp"

#include <string>

#include <memory>

namespace ai3::syclrt {

inline QueueState &checked_queue(const Device &dev, DType dtype) {
    QueueState &qs = queue_of(dev);
    AI3_CHECK(dtype != DType::f64 || qs.fp64, Unimplemented, "float64 needs a SYCL device with aspect::fp64; ", qs.name,
              " has none (use float32)");
    return qs;
}

template <class Op, class T> struct SyclKernel : Kernel<Op, T> {
    SyclKernel(const typename Op::Params &p, const Device &dev) : p(p), qs(checked_queue(dev, dtype_of<T>::value)) {}
    typename Op::Params p;
    QueueState &qs;
};

// The dense copy of an op that only changes the shape (flatten, reshape): an ai3.Model
// aliases the buffer and never runs it; a layer called on its own copies.
template <class Op, class T> struct CopyK final : SyclKernel<Op, T> {
    using SyclKernel<Op, T>::SyclKernel;
    void run(const UnaryArgs<T> &a) override {
        const int64_t n = this->p.n;
        if (n <= 0 || a.input == a.output) return;
        const std::string what = std::string("running ") + Op::name; // only on a call that copies
        guarded(what.c_str(), [&] {
            Staging st(this->qs);
            const T *x = st.in(a.input, std::size_t(n));
            T *y = st.out(a.output, std::size_t(n));
            launch_copy<T>(this->qs, range1(n), x, y, n);
            st.finish();
        });
    }
};

// make_<op><T>: the factory of kernels.hpp for the Kernel class template K, both dtypes.
#define AI3_FACTORY(fn, Op, K)                                                                                         \
    template <class T> KernelPtr<Op, T> fn(const typename Op::Params &p, const Device &d) {                            \
        return std::make_unique<K<T>>(p, d);                                                                           \
    }                                                                                                                  \
    template KernelPtr<Op, float> fn<float>(const typename Op::Params &, const Device &);                              \
    template KernelPtr<Op, double> fn<double>(const typename Op::Params &, const Device &);

} // namespace ai3::syclrt
