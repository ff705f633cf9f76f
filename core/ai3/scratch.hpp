// Reusable per-thread scratch memory for kernels (im2col panels, packed operands,
// padded inputs). A slot grows to the largest request seen and is reused by every
// later layer, so a network needs one buffer per slot rather than one per layer.
// Slots are per calling thread; kernels get them on the calling thread and hand the
// pointers to their pool workers. Memory is 64-byte aligned.
#pragma once
#include <cstddef>

namespace ai3 {

// Who owns which slot (a kernel must not use a slot its caller may hold):
//   kScratchA, kScratchPad  conv kernels (lowered panels, padded copies, packed filters)
//   kScratchB, kScratchC    the fallback GEMM's packing buffers
//   kScratchLayer           layers (core/src/layers.cpp): the input materialised for
//                           non-zero padding modes, alive while the conv kernel runs
//   kScratchT               the fallback GEMM's transposed result (ragged-N shapes)
enum ScratchSlot : int {
    kScratchA = 0,
    kScratchB = 1,
    kScratchC = 2,
    kScratchPad = 3,
    kScratchLayer = 4,
    kScratchT = 5,
    kScratchSlots = 6
};

void *scratch_bytes(std::size_t bytes, int slot);

template <class T> T *scratch(std::size_t count, int slot) {
    return static_cast<T *>(scratch_bytes(count * sizeof(T), slot));
}

// Gives back all scratch memory of the calling thread (after a large one-off model).
void release_scratch();

} // namespace ai3
