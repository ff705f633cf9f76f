// Shared by every CUDA kernel of ai3._cuda: error checks that turn CUDA, cuDNN and
// cuBLAS failures into ai3 exceptions carrying the library's own message, the
// per-(device, stream) Context that a Device's handle points to, device memory that
// grows, and the staging that lets a kernel take host or device pointers.
//
// Compiled by both g++ (.cpp) and nvcc (.cu): no device code here.
#pragma once
#include "ai3/device_ops.hpp"
#include "ai3/errors.hpp"
#include "ai3/ops.hpp"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

namespace ai3::cuda {

// ---- errors ---------------------------------------------------------------------

[[noreturn]] void throw_cuda(cudaError_t e, const char *call, const char *file, int line);
[[noreturn]] void throw_cudnn(cudnnStatus_t s, const char *call, const char *file, int line);
[[noreturn]] void throw_cublas(cublasStatus_t s, const char *call, const char *file, int line);
const char *cublas_status_name(cublasStatus_t s);

} // namespace ai3::cuda

#define AI3_CUDA_CHECK(call)                                                                                           \
    do {                                                                                                               \
        cudaError_t ai3_e_ = (call);                                                                                   \
        if (ai3_e_ != cudaSuccess) ::ai3::cuda::throw_cuda(ai3_e_, #call, __FILE__, __LINE__);                         \
    } while (0)
#define AI3_CUDNN_CHECK(call)                                                                                          \
    do {                                                                                                               \
        cudnnStatus_t ai3_s_ = (call);                                                                                 \
        if (ai3_s_ != CUDNN_STATUS_SUCCESS) ::ai3::cuda::throw_cudnn(ai3_s_, #call, __FILE__, __LINE__);               \
    } while (0)
#define AI3_CUBLAS_CHECK(call)                                                                                         \
    do {                                                                                                               \
        cublasStatus_t ai3_s_ = (call);                                                                                \
        if (ai3_s_ != CUBLAS_STATUS_SUCCESS) ::ai3::cuda::throw_cublas(ai3_s_, #call, __FILE__, __LINE__);             \
    } while (0)
// After a kernel launch: launch errors (bad configuration, no kernel image for
// this GPU) surface here; errors during execution surface at the next sync.
#define AI3_CUDA_CHECK_LAUNCH() AI3_CUDA_CHECK(cudaGetLastError())

namespace ai3::cuda {

// ---- device memory ----------------------------------------------------------------

// A device allocation that only grows. Growing waits for `stream` first: work
// already queued may still read the old block.
class DevMem {
  public:
    DevMem() = default;
    ~DevMem();
    DevMem(const DevMem &) = delete;
    DevMem &operator=(const DevMem &) = delete;
    void *ensure(std::size_t bytes, cudaStream_t stream);
    void *data() const { return p_; }
    std::size_t bytes() const { return bytes_; }

  private:
    void *p_ = nullptr;
    std::size_t bytes_ = 0;
};

// ---- context ----------------------------------------------------------------------

// What an ai3 Device's handle points to for the CUDA backend: one per (device
// ordinal, stream), created on first use and kept for the process (a torch stream
// lives as long as torch's pool). Its cuDNN/cuBLAS handles are bound to the stream.
// Kernels lock `mu` for a run: the scratch buffers are shared by every kernel on the
// stream, and stream order makes that safe between runs.
struct Context {
    int device = 0;
    cudaStream_t stream = nullptr;
    cudnnHandle_t cudnn = nullptr;
    cublasHandle_t cublas = nullptr;
    // Float32 convolutions may use TF32 tensor cores (AI3_CUDA_TF32=1, like torch's
    // torch.backends.cudnn.allow_tf32); off by default so results match float32 to 1e-4.
    bool allow_tf32 = false;
    std::mutex mu;
    DevMem workspace;           // cuDNN workspace, im2col columns
    DevMem stage_in, stage_out; // host inputs/outputs copied to the device
    DevMem stage_w, stage_b;    // borrowed host weights (uploaded per call)
    DevMem padded;              // pre-padded input (asymmetric padding for cuDNN)
};

// The context for (device, stream); creates it (and the handles) on first use.
// `stream` is a cudaStream_t as an integer (torch's stream.cuda_stream), 0 = legacy default.
Context &context(int device, uintptr_t stream);
Context &context_of(const Device &dev);

// Number of usable devices, or throws ai3::RuntimeError saying why there are none
// (no driver, driver too old, no GPU), with CUDA's message.
int device_count();

// Makes `ctx.device` current for the scope and restores the caller's device.
class DeviceGuard {
  public:
    explicit DeviceGuard(int device);
    ~DeviceGuard();
    DeviceGuard(const DeviceGuard &) = delete;
    DeviceGuard &operator=(const DeviceGuard &) = delete;

  private:
    int prev_ = -1;
};

// Whether `p` is device (or managed) memory that `device` can use; host memory
// (pageable or pinned) is false. Device memory of another GPU is a ValueError.
bool is_device_pointer(const void *p, int device);

// A run of one kernel: locks the context, makes its device current, and stages
// host pointers through the context's buffers.
class Run {
  public:
    explicit Run(Context &ctx) : ctx_(ctx), lock_(ctx.mu), guard_(ctx.device) {}
    Context &ctx() { return ctx_; }
    cudaStream_t stream() const { return ctx_.stream; }

    // A device copy of `n` elements at `p`: `p` itself if it is device memory, else
    // an upload into `slot`.
    template <class T> const T *in(const T *p, std::size_t n, DevMem &slot) {
        if (!p || is_device_pointer(p, ctx_.device)) return p;
        void *d = slot.ensure(n * sizeof(T), ctx_.stream);
        AI3_CUDA_CHECK(cudaMemcpyAsync(d, p, n * sizeof(T), cudaMemcpyHostToDevice, ctx_.stream));
        return static_cast<const T *>(d);
    }
    // Where to write an output of `n` elements for `p`; finish() copies it back to
    // host memory (and waits) when `p` is on the host.
    template <class T> T *out(T *p, std::size_t n, DevMem &slot) {
        if (is_device_pointer(p, ctx_.device)) return p;
        host_out_ = p;
        out_bytes_ = n * sizeof(T);
        return static_cast<T *>(slot.ensure(out_bytes_, ctx_.stream));
    }
    template <class T> T *out(T *p, std::size_t n) { return out(p, n, ctx_.stage_out); }
    void finish(const void *staged_out);

  private:
    Context &ctx_;
    std::lock_guard<std::mutex> lock_;
    DeviceGuard guard_;
    void *host_out_ = nullptr;
    std::size_t out_bytes_ = 0;
};

// ---- launch helpers -----------------------------------------------------------------

constexpr int kThreads = 256;
// Blocks for a grid-stride loop over n items: the grid never exceeds what every
// CUDA GPU accepts in x, the loop covers the rest (n is 64-bit).
inline unsigned blocks_for(int64_t n) {
    int64_t b = (n + kThreads - 1) / kThreads;
    if (b < 1) b = 1;
    if (b > (int64_t(1) << 20)) b = int64_t(1) << 20;
    return unsigned(b);
}

// 64-bit min/max for device and host code (no reliance on CUDA's overload set).
#if defined(__CUDACC__)
#define AI3_HD __host__ __device__
#else
#define AI3_HD
#endif
AI3_HD inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
AI3_HD inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

// y[i] += b[(i / inner) % channels] for i < total (bias over NCHW or rows of a matrix).
template <class T> void add_bias(T *y, const T *b, int64_t total, int64_t inner, int64_t channels, cudaStream_t s);

// int arguments of cuDNN/cuBLAS calls: a value beyond int range is a clear error,
// never a silent truncation.
int to_int(int64_t v, const char *what);

} // namespace ai3::cuda
