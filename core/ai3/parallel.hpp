// ai3's own CPU thread pool. Not OpenMP: torch ships its own OpenMP runtime, and two
// runtimes spinning in one process oversubscribe the cores; a private pool whose
// size follows torch.get_num_threads() (set from Python) does not.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>

namespace ai3 {

int num_threads();
// n <= 0 means "all hardware threads".
void set_num_threads(int n);

// Runs f(begin, end) over disjoint chunks of [0, n) covering it, in parallel. A chunk
// has at least `grain` items (except the last). Calls from inside a running
// parallel_for run serially on the calling thread. An exception thrown by any chunk
// is rethrown on the caller after all chunks finished.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)> &f);

// A 64-bit fingerprint of a buffer's contents (multithreaded, memory-bound), to tell
// whether memory that may have changed without notice still holds what it held.
uint64_t fingerprint(const void *data, std::size_t bytes);

} // namespace ai3
