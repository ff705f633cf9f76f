#include "ai3/scratch.hpp"
#include "ai3/errors.hpp"

#include <cstdlib>
#include <new>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define AI3_SCRATCH_MMAP 1
#else
#define AI3_SCRATCH_MMAP 0
#endif

namespace ai3 {
namespace {

// Scratch of 64 KiB and more is mapped from the OS directly: a slot grows step by step
// as bigger layers come (ResNet-50's GEMM packing slot grows eight times), and through
// malloc each freed step would stay resident as a heap hole (glibc raises its mmap
// threshold to the size of the last block freed): 6 MiB of a ResNet-50 Model's peak
// memory at batch 1 (benchmarks/models.py: 811 -> 805 MiB). munmap returns it.
constexpr std::size_t kMapBytes = std::size_t(64) << 10;

void *take(std::size_t bytes) {
#if AI3_SCRATCH_MMAP
    if (bytes >= kMapBytes) {
        void *p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? nullptr : p;
    }
#endif
    return std::aligned_alloc(64, bytes);
}

void give(void *p, std::size_t bytes) {
    if (!p) return;
#if AI3_SCRATCH_MMAP
    if (bytes >= kMapBytes) {
        munmap(p, bytes);
        return;
    }
#endif
    (void)bytes;
    std::free(p);
}

struct Slot {
    void *ptr = nullptr;
    std::size_t bytes = 0;
};

struct Slots {
    Slot s[kScratchSlots];
    ~Slots() {
        for (auto &x : s) give(x.ptr, x.bytes);
    }
};

thread_local Slots slots;

} // namespace

void *scratch_bytes(std::size_t bytes, int slot) {
    AI3_CHECK(slot >= 0 && slot < kScratchSlots, RuntimeError, "scratch slot ", slot, " out of range");
    Slot &s = slots.s[slot];
    if (bytes > s.bytes) {
        give(s.ptr, s.bytes);
        s.ptr = nullptr;
        s.bytes = 0;
        std::size_t rounded = (bytes + 63) / 64 * 64;
        void *p = take(rounded);
        if (!p) throw RuntimeError(str("ai3 could not allocate ", bytes, " bytes of scratch memory"));
        s.ptr = p;
        s.bytes = rounded;
    }
    return s.ptr;
}

void release_scratch() {
    for (auto &x : slots.s) {
        give(x.ptr, x.bytes);
        x = Slot{};
    }
}

} // namespace ai3
