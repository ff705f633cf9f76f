// Device memory for backends whose kernels cannot read host memory (SYCL, CUDA).
//
// An optional backend module registers one DeviceOps per backend with the
// registry; layers and models then keep activations in memory from `alloc` and
// move data with `copy`. The CPU fallback registers none: host memory is its
// device memory. Kernels of such a backend accept both host and device pointers
// (they stage host data themselves), so a single layer called on host tensors
// works, while a Model copies its input in once and its output out once.
#pragma once
#include "dtype.hpp"
#include "errors.hpp"

#include <cstddef>
#include <memory>

namespace ai3 {

// Where a kernel runs. `handle` is backend-specific (a sycl::queue*, a CUDA
// stream, ...) and owned by the backend module; the CPU fallback ignores it.
struct Device {
    Backend backend = Backend::cpu;
    int index = 0;
    void *handle = nullptr;
};

struct AI3_EXPORT DeviceOps {
    virtual ~DeviceOps() = default;
    virtual void *alloc(std::size_t bytes, const Device &dev) = 0;
    virtual void free(void *p, const Device &dev) noexcept = 0;
    // Any direction: host->device, device->host, device->device (like cudaMemcpyDefault).
    virtual void copy(void *dst, const void *src, std::size_t bytes, const Device &dev) = 0;
    // Waits for the device's queue/stream (before the host reads results).
    virtual void synchronize(const Device &dev) = 0;
};

// An owned allocation on a device (or on the host when `ops` is null).
class DeviceBuffer {
  public:
    DeviceBuffer() = default;
    DeviceBuffer(DeviceOps *ops, const Device &dev, std::size_t bytes);
    ~DeviceBuffer() { reset(); }
    DeviceBuffer(DeviceBuffer &&o) noexcept { *this = std::move(o); }
    DeviceBuffer &operator=(DeviceBuffer &&o) noexcept;
    DeviceBuffer(const DeviceBuffer &) = delete;
    DeviceBuffer &operator=(const DeviceBuffer &) = delete;

    void *data() const { return p_; }
    std::size_t bytes() const { return bytes_; }
    void reset() noexcept;

  private:
    DeviceOps *ops_ = nullptr;
    Device dev_;
    std::shared_ptr<void> host_;
    void *p_ = nullptr;
    std::size_t bytes_ = 0;
};

} // namespace ai3
