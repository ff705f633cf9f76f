// Typed launchers, one per kernels.def line: launch_<name><T>(queue, nd_range, args...).
// Run-time compiled builds look the kernel up by name (compiling its bundle on first
// use) and pass the arguments with set_args; ahead-of-time builds (icpx -fsycl, acpp)
// wrap the same device function in a parallel_for lambda. Either way the kernel body
// is the one in sycl/<op>/<algorithm>.hpp.
#pragma once
#include "all.hpp"
#include "runtime.hpp"

#include <algorithm>

namespace ai3::syclrt {

#define AI3_UNPAREN(...) __VA_ARGS__
#ifdef AI3_SYCL_AOT
#define AI3_SYCL_KERNEL(bundle, name, dims, params, args)                                                              \
    template <typename T>                                                                                              \
    inline void launch_##name(QueueState &qs, const sycl::nd_range<dims> &range, AI3_UNPAREN params) {                 \
        note_launch();                                                                                                 \
        qs.q.parallel_for(range, [=](sycl::nd_item<dims> it) { ::ai3::sk::name<T>(it, AI3_UNPAREN args); });           \
    }
#else
#define AI3_SYCL_KERNEL(bundle, name, dims, params, args)                                                              \
    template <typename T>                                                                                              \
    inline void launch_##name(QueueState &qs, const sycl::nd_range<dims> &range, AI3_UNPAREN params) {                 \
        static const char kernel_name[] = "ai3k_" #name;                                                               \
        note_launch();                                                                                                 \
        sycl::kernel ai3_kernel_ = rtc_kernel(qs, Bundle::bundle, dtype_of<T>::value, kernel_name);                    \
        qs.q.submit([&](sycl::handler &h) {                                                                            \
            h.set_args(AI3_UNPAREN args);                                                                              \
            h.parallel_for(range, ai3_kernel_);                                                                        \
        });                                                                                                            \
    }
#endif
#include "kernels.def"
#undef AI3_SYCL_KERNEL

// Work-group sizes: the last dimension is the one the CPU device vectorises over.
inline std::size_t wg_for(int64_t n, std::size_t max_wg) {
    std::size_t w = 1;
    while (w < max_wg && int64_t(w) < n) w *= 2;
    return w;
}
inline std::size_t round_up(int64_t n, std::size_t m) { return (std::size_t(n) + m - 1) / m * m; }

inline sycl::nd_range<1> range1(int64_t n) {
    std::size_t wg = wg_for(n, 256);
    return {sycl::range<1>(round_up(n, wg)), sycl::range<1>(wg)};
}
inline sycl::nd_range<3> range3(int64_t d0, int64_t d1, int64_t d2, std::size_t max_wg = 32) {
    std::size_t wg = wg_for(d2, max_wg);
    return {sycl::range<3>(std::size_t(d0), std::size_t(d1), round_up(d2, wg)), sycl::range<3>(1, 1, wg)};
}

// Work-groups of up to 256 work-items over the last dim, then the one before it: the CPU
// device pays a fixed cost per work-group, which with range3's 32 dominated memory-bound
// kernels (1.2M elements: ~37k groups). Kernels launched with it check dims 1 and 2.
inline sycl::nd_range<3> wide3(int64_t d0, int64_t d1, int64_t d2) {
    const std::size_t w2 = wg_for(d2, 256), w1 = wg_for(d1, 256 / w2);
    return {sycl::range<3>(std::size_t(d0), round_up(d1, w1), round_up(d2, w2)), sycl::range<3>(1, w1, w2)};
}

// Runs `f` translating SYCL exceptions into ai3 errors.
template <class F> void guarded(const char *what, F &&f) {
    try {
        f();
    } catch (const sycl::exception &e) { rethrow_sycl(e, what); }
}

// A device copy of a host parameter (weights, bias), refreshed only when the tensor's
// address, version counter or (for memory ai3 does not own) contents fingerprint change.
uint64_t fingerprint(const void *p, std::size_t bytes);

template <class T> class DeviceCopy {
  public:
    ~DeviceCopy() { release(); }
    const T *get(QueueState &qs, const T *host, std::size_t n, uint64_t version, bool owned) {
        if (!host || qs.is_device(host)) return host;
        const uint64_t fp = owned ? 0 : fingerprint(host, n * sizeof(T));
        if (dev_ && host == host_ && n == n_ && version == version_ && fp == fp_) return dev_;
        if (!dev_ || n != n_) {
            release();
            qs_ = &qs;
            dev_ = static_cast<T *>(qs.alloc(n * sizeof(T)));
            n_ = n;
        }
        guarded("uploading parameters", [&] { qs.q.memcpy(dev_, host, n * sizeof(T)).wait_and_throw(); });
        ++generation_;
        host_ = host;
        version_ = version;
        fp_ = fp;
        return dev_;
    }
    void release() {
        if (dev_ && qs_) qs_->free(dev_);
        dev_ = nullptr;
    }
    // Changes whenever get() uploaded new contents (derived data must be recomputed).
    uint64_t generation() const { return generation_; }

  private:
    QueueState *qs_ = nullptr;
    T *dev_ = nullptr;
    uint64_t generation_ = 0;
    const T *host_ = nullptr;
    std::size_t n_ = 0;
    uint64_t version_ = 0, fp_ = 0;
};

// Device scratch owned by a kernel object (lowered columns, Winograd tiles, tables).
template <class T> class Scratch {
  public:
    ~Scratch() {
        if (p_ && qs_) qs_->free(p_);
    }
    T *get(QueueState &qs, std::size_t n) {
        if (n > n_) {
            if (p_) qs.free(p_);
            p_ = static_cast<T *>(qs.alloc(n * sizeof(T)));
            qs_ = &qs;
            n_ = n;
        }
        return p_;
    }

  private:
    QueueState *qs_ = nullptr;
    T *p_ = nullptr;
    std::size_t n_ = 0;
};

} // namespace ai3::syclrt
