#include "ai3/scratch.hpp"
#include "ai3/errors.hpp"

#include <cstdlib>
#include <new>

namespace ai3 {
namespace {

struct Slot {
    void *ptr = nullptr;
    std::size_t bytes = 0;
};

struct Slots {
    Slot s[kScratchSlots];
    ~Slots() {
        for (auto &x : s) std::free(x.ptr);
    }
};

thread_local Slots slots;

} // namespace

void *scratch_bytes(std::size_t bytes, int slot) {
    AI3_CHECK(slot >= 0 && slot < kScratchSlots, RuntimeError, "scratch slot ", slot, " out of range");
    Slot &s = slots.s[slot];
    if (bytes > s.bytes) {
        std::free(s.ptr);
        s.ptr = nullptr;
        s.bytes = 0;
        std::size_t rounded = (bytes + 63) / 64 * 64;
        void *p = std::aligned_alloc(64, rounded);
        if (!p) throw RuntimeError(str("ai3 could not allocate ", bytes, " bytes of scratch memory"));
        s.ptr = p;
        s.bytes = rounded;
    }
    return s.ptr;
}

void release_scratch() {
    for (auto &x : slots.s) {
        std::free(x.ptr);
        x = Slot{};
    }
}

} // namespace ai3
