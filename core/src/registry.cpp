#include "ai3/registry.hpp"

#include <cstdlib>

namespace ai3 {

Registry &registry() {
    static Registry r;
    return r;
}

} // namespace ai3

namespace ai3 {

DeviceBuffer::DeviceBuffer(DeviceOps *ops, const Device &dev, std::size_t bytes) : ops_(ops), dev_(dev), bytes_(bytes) {
    if (!bytes) return;
    if (ops_) {
        p_ = ops_->alloc(bytes, dev_);
    } else {
        std::size_t rounded = (bytes + 63) / 64 * 64;
        host_ = std::shared_ptr<void>(std::aligned_alloc(64, rounded), [](void *q) { std::free(q); });
        p_ = host_.get();
    }
    if (!p_) throw RuntimeError(str("ai3 could not allocate ", bytes, " bytes on ", backend_name(dev.backend)));
}

DeviceBuffer &DeviceBuffer::operator=(DeviceBuffer &&o) noexcept {
    if (this != &o) {
        reset();
        ops_ = o.ops_;
        dev_ = o.dev_;
        host_ = std::move(o.host_);
        p_ = o.p_;
        bytes_ = o.bytes_;
        o.p_ = nullptr;
        o.bytes_ = 0;
    }
    return *this;
}

void DeviceBuffer::reset() noexcept {
    if (p_ && ops_) ops_->free(p_, dev_);
    host_.reset();
    p_ = nullptr;
    bytes_ = 0;
}

} // namespace ai3
