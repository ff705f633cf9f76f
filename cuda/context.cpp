#include "common.hpp"

#include <cstdlib>
#include <map>
#include <memory>
#include <utility>

namespace ai3::cuda {

// ---- errors ---------------------------------------------------------------------

void throw_cuda(cudaError_t e, const char *call, const char *file, int line) {
    cudaGetLastError(); // clear a sticky-free error so the next call starts clean
    std::string msg = str("CUDA error ", cudaGetErrorName(e), ": ", cudaGetErrorString(e), " (in ", call, " at ", file,
                          ":", line, ")");
    if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver || e == cudaErrorInvalidDevice)
        throw ValueError(msg); // a device that is not there: the caller's choice, not a crash
    throw RuntimeError(msg);
}

void throw_cudnn(cudnnStatus_t s, const char *call, const char *file, int line) {
    char detail[512] = {0};
    cudnnGetLastErrorString(detail, sizeof(detail));
    std::string msg = str("cuDNN error ", cudnnGetErrorString(s), detail[0] ? ": " : "", detail, " (in ", call, " at ",
                          file, ":", line, ")");
    if (s == CUDNN_STATUS_NOT_SUPPORTED || s == CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH) throw Unimplemented(msg);
    if (s == CUDNN_STATUS_BAD_PARAM) throw ValueError(msg);
    throw RuntimeError(msg);
}

const char *cublas_status_name(cublasStatus_t s) { return cublasGetStatusName(s); }

void throw_cublas(cublasStatus_t s, const char *call, const char *file, int line) {
    std::string msg = str("cuBLAS error ", cublasGetStatusName(s), ": ", cublasGetStatusString(s), " (in ", call,
                          " at ", file, ":", line, ")");
    if (s == CUBLAS_STATUS_NOT_SUPPORTED) throw Unimplemented(msg);
    if (s == CUBLAS_STATUS_INVALID_VALUE) throw ValueError(msg);
    throw RuntimeError(msg);
}

int to_int(int64_t v, const char *what) {
    AI3_CHECK(v >= 0 && v <= int64_t(0x7fffffff), ValueError, "ai3's CUDA backend: ", what, " = ", v,
              " does not fit the int that cuDNN/cuBLAS take");
    return int(v);
}

// ---- device memory ----------------------------------------------------------------

DevMem::~DevMem() {
    // Errors are ignored: at interpreter exit the CUDA runtime may already be gone.
    if (p_) cudaFree(p_);
}

void *DevMem::ensure(std::size_t bytes, cudaStream_t stream) {
    if (bytes <= bytes_ && p_) return p_;
    if (p_) {
        AI3_CUDA_CHECK(cudaStreamSynchronize(stream));
        AI3_CUDA_CHECK(cudaFree(p_));
        p_ = nullptr;
        bytes_ = 0;
    }
    // Grow by half again, so a slowly growing batch does not reallocate every call.
    std::size_t want = bytes + bytes / 2;
    if (want < 256) want = 256;
    cudaError_t e = cudaMalloc(&p_, want);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        want = bytes;
        e = cudaMalloc(&p_, want);
    }
    if (e != cudaSuccess) {
        p_ = nullptr;
        throw_cuda(e, "cudaMalloc", __FILE__, __LINE__);
    }
    bytes_ = want;
    return p_;
}

// ---- devices ------------------------------------------------------------------------

int device_count() {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        int drv = 0;
        const bool no_driver = cudaDriverGetVersion(&drv) == cudaSuccess && drv == 0;
        throw RuntimeError(str("no usable CUDA GPU: cudaGetDeviceCount failed with ", cudaGetErrorName(e), " (",
                               cudaGetErrorString(e), ")",
                               no_driver ? "; no NVIDIA driver is installed (libcuda.so.1 was not found)" : ""));
    }
    return n;
}

DeviceGuard::DeviceGuard(int device) {
    AI3_CUDA_CHECK(cudaGetDevice(&prev_));
    if (prev_ != device) AI3_CUDA_CHECK(cudaSetDevice(device));
}

DeviceGuard::~DeviceGuard() {
    int cur = -1;
    if (prev_ >= 0 && cudaGetDevice(&cur) == cudaSuccess && cur != prev_) cudaSetDevice(prev_);
}

bool is_device_pointer(const void *p, int device) {
    if (!p) return false;
    cudaPointerAttributes a{};
    cudaError_t e = cudaPointerGetAttributes(&a, p);
    if (e != cudaSuccess) { // pointers CUDA has never seen (older drivers): host memory
        cudaGetLastError();
        return false;
    }
    if (a.type == cudaMemoryTypeManaged) return true;
    if (a.type != cudaMemoryTypeDevice) return false;
    AI3_CHECK(a.device == device, ValueError, "a tensor is on cuda:", a.device,
              " but this ai3 layer runs on cuda:", device);
    return true;
}

void Run::finish(const void *staged_out) {
    if (host_out_) {
        AI3_CUDA_CHECK(cudaMemcpyAsync(host_out_, staged_out, out_bytes_, cudaMemcpyDeviceToHost, ctx_.stream));
        AI3_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream));
        host_out_ = nullptr;
    }
}

// ---- contexts -------------------------------------------------------------------------

namespace {

std::mutex contexts_mu;
// Leaked on purpose: contexts outlive every kernel, and destroying cuDNN/cuBLAS
// handles after the CUDA runtime has shut down (at exit) would crash.
std::map<std::pair<int, uintptr_t>, Context *> &contexts() {
    static auto *m = new std::map<std::pair<int, uintptr_t>, Context *>();
    return *m;
}

bool env_flag(const char *name) {
    const char *v = std::getenv(name);
    return v && *v && std::string(v) != "0";
}

} // namespace

Context &context(int device, uintptr_t stream) {
    std::lock_guard<std::mutex> lk(contexts_mu);
    auto key = std::make_pair(device, stream);
    auto it = contexts().find(key);
    if (it != contexts().end()) return *it->second;
    int n = device_count();
    AI3_CHECK(device >= 0 && device < n, ValueError, "CUDA device ", device, " does not exist (", n, " visible: cuda:0",
              n > 1 ? str(" .. cuda:", n - 1) : std::string(), ")");
    auto ctx = std::make_unique<Context>();
    ctx->device = device;
    ctx->stream = reinterpret_cast<cudaStream_t>(stream);
    ctx->allow_tf32 = env_flag("AI3_CUDA_TF32");
    DeviceGuard g(device);
    AI3_CUDNN_CHECK(cudnnCreate(&ctx->cudnn));
    AI3_CUDNN_CHECK(cudnnSetStream(ctx->cudnn, ctx->stream));
    AI3_CUBLAS_CHECK(cublasCreate(&ctx->cublas));
    AI3_CUBLAS_CHECK(cublasSetStream(ctx->cublas, ctx->stream));
    // Exact float32 GEMMs (no TF32) unless asked, as for cuDNN above.
    AI3_CUBLAS_CHECK(
        cublasSetMathMode(ctx->cublas, ctx->allow_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    Context *raw = ctx.release();
    contexts()[key] = raw;
    return *raw;
}

Context &context_of(const Device &dev) {
    AI3_CHECK(dev.backend == Backend::cuda && dev.handle != nullptr, ValueError,
              "ai3's CUDA kernels need a CUDA device from ai3.devices (got backend '", backend_name(dev.backend), "')");
    return *static_cast<Context *>(dev.handle);
}

} // namespace ai3::cuda
