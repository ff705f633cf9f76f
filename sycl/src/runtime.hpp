// Host side of the SYCL backend: queues, device memory, staging of host
// pointers, and (run-time compiled builds) the lazily built kernel bundles.
//
// Every SYCL object lives on the heap behind one State that is released from a
// Python atexit hook (shutdown()): SYCL objects in static storage abort at exit.
#pragma once
#include <sycl/sycl.hpp>

#include "ai3/device_ops.hpp"
#include "ai3/dtype.hpp"
#include "ai3/errors.hpp"
#include "embedded.hpp"

#include <cstddef>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ai3::syclrt {

enum class Bundle : int { layers = 0, conv = 1, graph = 2 };
const char *bundle_name(Bundle b);

// One device (and context) ai3 runs on: an in-order queue, its allocations, a pool of
// staging buffers and the kernels compiled for it. `Device::handle` points at one.
struct QueueState {
    sycl::queue q;
    std::string name;
    bool fp64 = false;

    std::mutex mu;
    std::recursive_mutex compile_mu; // bundles and kernels
    std::recursive_mutex &mu_compile() { return compile_mu; }
    std::set<void *> allocations;            // freed at shutdown
    std::multimap<std::size_t, void *> pool; // free staging buffers by size
    std::size_t pool_bytes = 0;
    std::map<std::pair<int, int>, sycl::kernel_bundle<sycl::bundle_state::executable>> bundles;
    std::map<std::pair<const void *, int>, sycl::kernel> kernels;

    explicit QueueState(sycl::queue queue);
    void *alloc(std::size_t bytes);
    void free(void *p) noexcept;
    // Staging buffers: reused between calls instead of allocated per call.
    void *take(std::size_t bytes);
    void give(void *p, std::size_t bytes) noexcept;
    bool is_device(const void *p) const;
};

bool alive();
// The QueueState behind a device handle (checks it is one of ours and alive).
QueueState &queue_of(const Device &dev);
// The queue for a SYCL device / an existing queue (same context and device share one).
QueueState &queue_for(const sycl::queue &q);
QueueState &queue_for(const sycl::device &d);
// Wait for every queue, free every allocation and drop every SYCL object.
void shutdown() noexcept;

// Run-time compiled kernels: the kernel `name<T>` of a bundle, compiled for this queue's
// context on first use (logged once per process) and cached in memory; libsycl's persistent
// cache (SYCL_CACHE_PERSISTENT, set by ai3 at import) keeps it for later processes.
sycl::kernel rtc_kernel(QueueState &qs, Bundle b, DType dtype, const char *name);
// Compile the bundle now (ai3.warmup). Returns seconds spent.
double rtc_compile(QueueState &qs, Bundle b, DType dtype);
// How many bundles this process compiled and how long they took (tests, warmup's report).
std::pair<int, double> compile_stats();
// Kernel launches so far in this process (tests prove SYCL, not the fallback, ran).
void note_launch() noexcept;
uint64_t launch_count() noexcept;
// Compile SYCL source for a queue's device with ai3's error handling (a compile error
// becomes an ai3 RuntimeError carrying the compiler's output). RTC builds only.
sycl::kernel_bundle<sycl::bundle_state::executable>
build_source(QueueState &qs, const std::string &source, const std::vector<std::string> &names, const std::string &what);
// "rtc" or "aot".
const char *mode();

// Any failure of the SYCL runtime as an ai3 error carrying its message.
[[noreturn]] void rethrow_sycl(const sycl::exception &e, const char *what);

// Host pointers given to a kernel are copied into device staging buffers (inputs) and
// back (outputs) around the launch; device pointers pass through untouched.
class Staging {
  public:
    explicit Staging(QueueState &qs) : qs_(qs) {}
    ~Staging();
    Staging(const Staging &) = delete;
    Staging &operator=(const Staging &) = delete;

    template <class T> const T *in(const T *p, std::size_t n) {
        return static_cast<const T *>(stage(const_cast<T *>(p), n * sizeof(T), true, false));
    }
    template <class T> T *out(T *p, std::size_t n) { return static_cast<T *>(stage(p, n * sizeof(T), false, true)); }
    // Copies staged outputs back and waits; without it (an exception) buffers are only released.
    void finish();

  private:
    struct Item {
        void *host, *dev;
        std::size_t bytes;
        bool out;
    };
    void *stage(void *p, std::size_t bytes, bool copy_in, bool out);
    QueueState &qs_;
    std::vector<Item> items_;
    bool finished_ = false;
};

// DeviceOps over USM device allocations (ai3::Model's activation buffers).
struct SyclDeviceOps final : DeviceOps {
    void *alloc(std::size_t bytes, const Device &dev) override;
    void free(void *p, const Device &dev) noexcept override;
    void copy(void *dst, const void *src, std::size_t bytes, const Device &dev) override;
    void synchronize(const Device &dev) override;
};

} // namespace ai3::syclrt
