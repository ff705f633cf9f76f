#include "ai3/parallel.hpp"
#include "ai3/fingerprint.hpp"

#if defined(AI3_USE_OPENMP)
#include <omp.h>
#endif

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <cstring>
#include <vector>

namespace ai3 {
namespace {

thread_local bool in_parallel_region = false;

int hardware_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

#if !defined(AI3_USE_OPENMP)
// Workers sleep on a condition variable between jobs; a job is split into one
// contiguous chunk per participating thread, the caller taking chunk 0.
class Pool {
  public:
    explicit Pool(int n) { resize(n); }
    ~Pool() { stop(); }

    int size() const { return n_threads_; }

    void resize(int n) {
        std::lock_guard<std::mutex> job_lock(job_mu_); // never while a job runs
        stop();
        n_threads_ = std::max(1, n);
        uint64_t gen;
        {
            std::lock_guard<std::mutex> lk(mu_);
            quit_ = false;
            gen = generation_;
        }
        for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i, gen] { loop(i, gen); });
    }

    void run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)> &f) {
        grain = std::max<int64_t>(1, grain);
        int64_t chunks = std::min<int64_t>(n_threads_, (n + grain - 1) / grain);
        if (chunks <= 1 || in_parallel_region) {
            f(0, n);
            return;
        }
        std::lock_guard<std::mutex> job_lock(job_mu_); // one job at a time from any caller
        {
            std::lock_guard<std::mutex> lk(mu_);
            fn_ = &f;
            n_ = n;
            chunks_ = chunks;
            pending_ = int(chunks) - 1;
            error_ = nullptr;
            ++generation_;
        }
        cv_.notify_all();
        run_chunk(0);
        std::unique_lock<std::mutex> lk(mu_);
        done_cv_.wait(lk, [this] { return pending_ == 0; });
        fn_ = nullptr;
        if (error_) std::rethrow_exception(error_);
    }

  private:
    void run_chunk(int64_t c) {
        int64_t b = n_ * c / chunks_, e = n_ * (c + 1) / chunks_;
        in_parallel_region = true;
        try {
            if (b < e) (*fn_)(b, e);
        } catch (...) {
            std::lock_guard<std::mutex> lk(mu_);
            if (!error_) error_ = std::current_exception();
        }
        in_parallel_region = false;
    }

    // `seen` starts at the generation current when the worker was created, so a
    // worker born in a resize never mistakes the last finished job for a new one.
    void loop(int id, uint64_t seen) {
        for (;;) {
            {
                std::unique_lock<std::mutex> lk(mu_);
                cv_.wait(lk, [&] { return quit_ || generation_ != seen; });
                if (quit_) return;
                seen = generation_;
                if (id >= chunks_) continue;
            }
            run_chunk(id);
            std::lock_guard<std::mutex> lk(mu_);
            if (--pending_ == 0) done_cv_.notify_one();
        }
    }

    void stop() {
        {
            std::lock_guard<std::mutex> lk(mu_);
            quit_ = true;
        }
        cv_.notify_all();
        for (auto &t : workers_) t.join();
        workers_.clear();
    }

    int n_threads_ = 1;
    std::vector<std::thread> workers_;
    std::mutex mu_, job_mu_;
    std::condition_variable cv_, done_cv_;
    const std::function<void(int64_t, int64_t)> *fn_ = nullptr;
    int64_t n_ = 0, chunks_ = 0;
    int pending_ = 0;
    uint64_t generation_ = 0;
    bool quit_ = false;
    std::exception_ptr error_;
};

// Leaked on purpose: joining threads from a static destructor at interpreter exit
// can deadlock; the OS reclaims them.
Pool &pool() {
    static Pool *p = new Pool(hardware_threads());
    return *p;
}
#endif

} // namespace

#if defined(AI3_USE_OPENMP)
// With OpenMP, ai3 runs on the process's OpenMP thread team. The extension links
// libgomp.so.1 by soname, and torch loads its own libgomp.so.1 first, so both share
// ONE runtime: no second set of threads competing for the cores, and the threads
// torch leaves spinning after its ops are the ones that pick up ai3's work (with a
// private pool, that spinning took about half the cores from ai3 for ~10 ms after
// every torch op).
std::atomic<int> omp_threads{0};

int num_threads() {
    int n = omp_threads.load();
    return n > 0 ? n : hardware_threads();
}

void set_num_threads(int n) { omp_threads.store(n <= 0 ? hardware_threads() : n); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)> &f) {
    if (n <= 0) return;
    grain = std::max<int64_t>(1, grain);
    int64_t chunks = std::min<int64_t>(num_threads(), (n + grain - 1) / grain);
    if (chunks <= 1 || in_parallel_region || omp_in_parallel()) {
        f(0, n);
        return;
    }
    std::exception_ptr error;
    std::mutex error_mu;
#pragma omp parallel num_threads(int(chunks))
    {
        int64_t c = omp_get_thread_num(), t = omp_get_num_threads();
        int64_t b = n * c / t, e = n * (c + 1) / t;
        bool outer = in_parallel_region;
        in_parallel_region = true;
        try {
            if (b < e) f(b, e);
        } catch (...) {
            std::lock_guard<std::mutex> lk(error_mu);
            if (!error) error = std::current_exception();
        }
        in_parallel_region = outer;
    }
    if (error) std::rethrow_exception(error);
}
#else
int num_threads() { return pool().size(); }

void set_num_threads(int n) {
    if (n <= 0) n = hardware_threads();
    if (n != pool().size()) pool().resize(n);
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)> &f) {
    if (n <= 0) return;
    pool().run(n, grain, f);
}
#endif

uint64_t fingerprint(const void *data, std::size_t bytes) {
    const int64_t n = detail::fingerprint_chunks(bytes);
    std::vector<uint64_t> parts(std::size_t(n), 0);
    parallel_for(n, 1, [&](int64_t b, int64_t e) {
        for (int64_t c = b; c < e; ++c) parts[std::size_t(c)] = detail::fingerprint_part(data, bytes, c);
    });
    uint64_t h = bytes;
    for (uint64_t x : parts) h = detail::fingerprint_combine(h, x);
    return h;
}

} // namespace ai3
