#include "runtime.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace syclexp = sycl::ext::oneapi::experimental;

namespace ai3::syclrt {

namespace {

// Leaked on purpose: destroyed by shutdown() from Python's atexit, never by static
// destructors (which run after libsycl has begun tearing down).
struct State {
    std::mutex mu;
    std::vector<QueueState *> queues;
    bool alive = true;
    int compiled = 0;
    double compile_seconds = 0;
    bool announced = false;
};
State &state() {
    static State *s = new State;
    return *s;
}

struct KernelName {
    Bundle bundle;
    const char *name;
};
#define AI3_SYCL_KERNEL(bundle, name, dims, params, args) {Bundle::bundle, "ai3k_" #name},
const KernelName kernel_names[] = {
#include "kernels.def"
};
#undef AI3_SYCL_KERNEL

const char *type_name(DType d) { return d == DType::f32 ? "float" : "double"; }

const EmbeddedFile *embedded(const std::string &name) {
    for (std::size_t i = 0; i < embedded_file_count; ++i)
        if (name == embedded_files[i].name) return &embedded_files[i];
    return nullptr;
}

} // namespace

const char *bundle_name(Bundle b) {
    switch (b) {
    case Bundle::layers: return "layers";
    case Bundle::conv: return "conv";
    case Bundle::graph: return "graph";
    }
    return "?";
}

#ifdef AI3_SYCL_AOT
const char *mode() { return "aot"; }
#else
const char *mode() { return "rtc"; }
#endif

void rethrow_sycl(const sycl::exception &e, const char *what) {
    throw RuntimeError(str("SYCL error while ", what, ": ", e.what()));
}

QueueState::QueueState(sycl::queue queue) : q(std::move(queue)) {
    auto dev = q.get_device();
    name = dev.get_info<sycl::info::device::name>();
    fp64 = dev.has(sycl::aspect::fp64);
}

void *QueueState::alloc(std::size_t bytes) {
    void *p = nullptr;
    try {
        p = sycl::malloc_device(bytes ? bytes : 1, q);
    } catch (const sycl::exception &e) { rethrow_sycl(e, "allocating device memory"); }
    if (!p) throw RuntimeError(str("ai3 could not allocate ", bytes, " bytes on SYCL device ", name));
    std::lock_guard<std::mutex> lk(mu);
    allocations.insert(p);
    return p;
}

void QueueState::free(void *p) noexcept {
    if (!p || !alive()) return;
    {
        std::lock_guard<std::mutex> lk(mu);
        if (!allocations.erase(p)) return;
    }
    try {
        sycl::free(p, q);
    } catch (...) {}
}

void *QueueState::take(std::size_t bytes) {
    {
        std::lock_guard<std::mutex> lk(mu);
        auto it = pool.lower_bound(bytes);
        // Reuse a buffer up to twice as big; a much bigger one is left for a bigger request.
        if (it != pool.end() && it->first <= 2 * bytes + 4096) {
            void *p = it->second;
            pool_bytes -= it->first;
            pool.erase(it);
            return p;
        }
    }
    return alloc(bytes);
}

void QueueState::give(void *p, std::size_t bytes) noexcept {
    // Sizes are recorded by the caller's request; the pool keys by that, which is never
    // more than the allocation.
    std::vector<void *> drop;
    {
        std::lock_guard<std::mutex> lk(mu);
        pool.emplace(bytes, p);
        pool_bytes += bytes;
        // Keep at most 1 GiB of idle staging memory: drop the smallest buffers first.
        while (pool_bytes > (std::size_t(1) << 30) && !pool.empty()) {
            pool_bytes -= pool.begin()->first;
            drop.push_back(pool.begin()->second);
            pool.erase(pool.begin());
        }
    }
    for (void *d : drop) free(d);
}

bool QueueState::is_device(const void *p) const {
    if (!p) return true;
    return sycl::get_pointer_type(p, q.get_context()) != sycl::usm::alloc::unknown;
}

bool alive() {
    State &s = state();
    std::lock_guard<std::mutex> lk(s.mu);
    return s.alive;
}

QueueState &queue_of(const Device &dev) {
    State &s = state();
    std::lock_guard<std::mutex> lk(s.mu);
    AI3_CHECK(s.alive, RuntimeError, "ai3's SYCL runtime has been shut down (interpreter exit)");
    for (QueueState *qs : s.queues)
        if (qs == dev.handle) return *qs;
    throw ValueError("this SYCL device handle is not one of ai3's (resolve devices with ai3.devices / device=)");
}

QueueState &queue_for(const sycl::queue &q) {
    State &s = state();
    std::lock_guard<std::mutex> lk(s.mu);
    AI3_CHECK(s.alive, RuntimeError, "ai3's SYCL runtime has been shut down (interpreter exit)");
    for (QueueState *qs : s.queues)
        if (qs->q.get_context() == q.get_context() && qs->q.get_device() == q.get_device()) return *qs;
    try {
        // ai3 relies on in-order execution (kernels of a layer and of a Model follow each other).
        auto *qs = new QueueState(sycl::queue(q.get_context(), q.get_device(), sycl::property::queue::in_order()));
        s.queues.push_back(qs);
        return *qs;
    } catch (const sycl::exception &e) { rethrow_sycl(e, "creating a queue"); }
}

QueueState &queue_for(const sycl::device &d) {
    {
        State &s = state();
        std::lock_guard<std::mutex> lk(s.mu);
        for (QueueState *qs : s.queues)
            if (qs->q.get_device() == d) return *qs;
    }
    try {
        return queue_for(sycl::queue(d));
    } catch (const sycl::exception &e) { rethrow_sycl(e, "creating a queue"); }
}

void shutdown() noexcept {
    State &s = state();
    std::vector<QueueState *> qs;
    {
        std::lock_guard<std::mutex> lk(s.mu);
        if (!s.alive) return;
        qs.swap(s.queues);
    }
    for (QueueState *q : qs) {
        try {
            q->q.wait();
            for (void *p : q->allocations) sycl::free(p, q->q);
        } catch (...) {}
    }
    {
        std::lock_guard<std::mutex> lk(s.mu);
        s.alive = false;
    }
    for (QueueState *q : qs) delete q;
}

namespace {
std::atomic<uint64_t> launches{0};
}
void note_launch() noexcept { launches.fetch_add(1, std::memory_order_relaxed); }
uint64_t launch_count() noexcept { return launches.load(std::memory_order_relaxed); }

std::pair<int, double> compile_stats() {
    State &s = state();
    std::lock_guard<std::mutex> lk(s.mu);
    return {s.compiled, s.compile_seconds};
}

#ifndef AI3_SYCL_AOT
namespace {

using Exe = sycl::kernel_bundle<sycl::bundle_state::executable>;

Exe &bundle_locked(QueueState &qs, Bundle b, DType dtype, double *seconds) {
    auto key = std::make_pair(int(b), int(dtype));
    auto it = qs.bundles.find(key);
    if (it != qs.bundles.end()) return it->second;
    AI3_CHECK(dtype != DType::f64 || qs.fp64, Unimplemented, "float64 needs a SYCL device with aspect::fp64; ", qs.name,
              " has none (use float32)");
    {
        State &s = state();
        std::lock_guard<std::mutex> lk(s.mu);
        if (!s.announced && !std::getenv("AI3_QUIET")) {
            std::fprintf(stderr,
                         "ai3: compiling SYCL kernels for %s on first use (about a second per kernel bundle; "
                         "cached for later runs, see ai3.warmup)\n",
                         qs.name.c_str());
            s.announced = true;
        }
    }
    const EmbeddedFile *main = embedded("rtc/bundle.cpp");
    AI3_CHECK(main, RuntimeError, "ai3._sycl was built without its kernel sources");
    std::vector<std::string> names;
    for (auto &k : kernel_names)
        if (k.bundle == b) names.push_back(str(k.name, "<", type_name(dtype), ">"));
    auto t0 = std::chrono::steady_clock::now();
    Exe exe = build_source(qs, main->text, names, str("bundle '", bundle_name(b), "', ", type_name(dtype)));
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    {
        State &s = state();
        std::lock_guard<std::mutex> lk(s.mu);
        s.compiled += 1;
        s.compile_seconds += dt;
    }
    if (seconds) *seconds = dt;
    return qs.bundles.emplace(key, std::move(exe)).first->second;
}

} // namespace

Exe build_source(QueueState &qs, const std::string &source, const std::vector<std::string> &names,
                 const std::string &what) {
    syclexp::include_files files;
    for (std::size_t i = 0; i < embedded_file_count; ++i)
        if (std::string(embedded_files[i].name) != "rtc/bundle.cpp")
            files.add(embedded_files[i].name, embedded_files[i].text);
    try {
        auto src = syclexp::create_kernel_bundle_from_source(qs.q.get_context(), syclexp::source_language::sycl, source,
                                                             syclexp::properties{files});
        syclexp::registered_names reg;
        for (auto &n : names) reg.add(n);
        return syclexp::build(src, std::vector<sycl::device>{qs.q.get_device()},
                              syclexp::properties{syclexp::build_options{std::vector<std::string>{"-O3"}}, reg});
    } catch (const sycl::exception &e) {
        throw RuntimeError(str("ai3 could not compile its SYCL kernels (", what, ") for ", qs.name,
                               ". The SYCL run-time compiler needs a C++ toolchain's standard headers "
                               "(libstdc++/glibc, e.g. apt install g++). Compiler output:\n",
                               e.what()));
    }
}

sycl::kernel rtc_kernel(QueueState &qs, Bundle b, DType dtype, const char *name) {
    std::lock_guard<std::recursive_mutex> lk(qs.mu_compile());
    auto key = std::make_pair(static_cast<const void *>(name), int(dtype));
    auto it = qs.kernels.find(key);
    if (it != qs.kernels.end()) return it->second;
    Exe &exe = bundle_locked(qs, b, dtype, nullptr);
    try {
        sycl::kernel k = exe.ext_oneapi_get_kernel(str(name, "<", type_name(dtype), ">"));
        qs.kernels.emplace(key, k);
        return k;
    } catch (const sycl::exception &e) { rethrow_sycl(e, "looking up a compiled kernel"); }
}

double rtc_compile(QueueState &qs, Bundle b, DType dtype) {
    std::lock_guard<std::recursive_mutex> lk(qs.mu_compile());
    double dt = 0;
    bundle_locked(qs, b, dtype, &dt);
    return dt;
}
#else
sycl::kernel_bundle<sycl::bundle_state::executable>
build_source(QueueState &, const std::string &, const std::vector<std::string> &, const std::string &) {
    throw RuntimeError("ai3._sycl was compiled ahead of time; it does not compile SYCL source at run time");
}
sycl::kernel rtc_kernel(QueueState &, Bundle, DType, const char *) {
    throw RuntimeError("ai3._sycl was compiled ahead of time; it has no run-time compiled kernels");
}
double rtc_compile(QueueState &qs, Bundle, DType dtype) {
    AI3_CHECK(dtype != DType::f64 || qs.fp64, Unimplemented, "float64 needs a SYCL device with aspect::fp64; ", qs.name,
              " has none (use float32)");
    return 0;
}
#endif

// ---- staging -------------------------------------------------------------------

void *Staging::stage(void *p, std::size_t bytes, bool copy_in, bool out) {
    if (!p || bytes == 0 || qs_.is_device(p)) return p;
    for (auto &it : items_)
        if (it.host == p) { // the same host buffer as input and output (in-place relu)
            it.out = it.out || out;
            return it.dev;
        }
    void *d = qs_.take(bytes);
    items_.push_back({p, d, bytes, out});
    if (copy_in) {
        try {
            qs_.q.memcpy(d, p, bytes);
        } catch (const sycl::exception &e) { rethrow_sycl(e, "copying an input to the device"); }
    }
    return d;
}

void Staging::finish() {
    try {
        for (auto &it : items_)
            if (it.out) qs_.q.memcpy(it.host, it.dev, it.bytes);
        if (!items_.empty()) qs_.q.wait_and_throw();
    } catch (const sycl::exception &e) { rethrow_sycl(e, "running a kernel"); }
    finished_ = true;
}

Staging::~Staging() {
    if (items_.empty()) return;
    if (!finished_) {
        try {
            qs_.q.wait();
        } catch (...) {}
    }
    for (auto &it : items_) qs_.give(it.dev, it.bytes);
}

// ---- DeviceOps -----------------------------------------------------------------

void *SyclDeviceOps::alloc(std::size_t bytes, const Device &dev) { return queue_of(dev).alloc(bytes); }

void SyclDeviceOps::free(void *p, const Device &dev) noexcept {
    if (!alive()) return;
    try {
        queue_of(dev).free(p);
    } catch (...) {}
}

void SyclDeviceOps::copy(void *dst, const void *src, std::size_t bytes, const Device &dev) {
    if (!bytes) return;
    try {
        queue_of(dev).q.memcpy(dst, src, bytes).wait_and_throw();
    } catch (const sycl::exception &e) { rethrow_sycl(e, "copying memory"); }
}

void SyclDeviceOps::synchronize(const Device &dev) {
    try {
        queue_of(dev).q.wait_and_throw();
    } catch (const sycl::exception &e) { rethrow_sycl(e, "running kernels"); }
}

} // namespace ai3::syclrt
