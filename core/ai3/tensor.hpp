// An owned, dense, row-major tensor: what ai3.Model passes between layers and
// hands to Python (which sees it through the buffer protocol without a copy).
#pragma once
#include "dtype.hpp"
#include "errors.hpp"

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

namespace ai3 {

using Shape = std::vector<int64_t>;

inline int64_t numel(const Shape &s) {
    int64_t n = 1;
    for (auto d : s) n *= d;
    return n;
}

std::string shape_str(const Shape &s);

// The number of elements, or a ValueError when it (times 8 bytes) would not fit
// in memory addressing, so sizes never wrap around into a small allocation.
inline int64_t checked_numel(const Shape &s) {
    int64_t n = 1;
    for (auto d : s) {
        AI3_CHECK(d >= 0, ValueError, "negative dimension in shape ", shape_str(s));
        if (d != 0 && n > (int64_t(1) << 59) / d)
            throw ValueError(str("shape ", shape_str(s), " has too many elements for ai3 (more than 2^59)"));
        n *= d;
    }
    return n;
}

class Tensor {
  public:
    Tensor() = default;
    Tensor(Shape shape, DType dtype) : shape_(std::move(shape)), dtype_(dtype) {
        std::size_t bytes = std::size_t(checked_numel(shape_)) * dtype_size(dtype_);
        std::size_t rounded = (bytes + 63) / 64 * 64;
        void *p = rounded ? std::aligned_alloc(64, rounded) : nullptr;
        if (rounded && !p) throw RuntimeError(str("ai3 could not allocate ", bytes, " bytes for a tensor"));
        storage_ = std::shared_ptr<void>(p, [](void *q) { std::free(q); });
    }

    void *data() const { return storage_.get(); }
    template <class T> T *data_as() const { return static_cast<T *>(storage_.get()); }
    const Shape &shape() const { return shape_; }
    DType dtype() const { return dtype_; }
    int64_t numel() const { return ai3::numel(shape_); }
    std::size_t nbytes() const { return std::size_t(numel()) * dtype_size(dtype_); }
    // Same storage, another shape with the same number of elements (flatten).
    Tensor reshaped(Shape s) const {
        Tensor t = *this;
        t.shape_ = std::move(s);
        return t;
    }
    bool defined() const { return storage_ != nullptr || numel() == 0; }

  private:
    std::shared_ptr<void> storage_;
    Shape shape_;
    DType dtype_ = DType::f32;
};

} // namespace ai3
