// The contents fingerprint that tells whether memory that may have changed without notice
// (a weight written through .data, bypassing torch's version counter) still holds what
// it held. Header-only so that the backend modules, which do not link the core, compute
// the same function: 1 MiB chunks hashed independently (ai3::fingerprint in
// core/src/parallel.cpp hashes them on the thread pool), then combined in order.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

namespace ai3::detail {

constexpr std::size_t kFingerprintChunk = std::size_t(1) << 20;

// Four independent multiply-xor chains per chunk keep the core busy while memory streams.
inline uint64_t fingerprint_chunk(const unsigned char *p, std::size_t bytes, uint64_t seed) {
    const uint64_t k = 0x9E3779B97F4A7C15ull;
    uint64_t h[4] = {seed ^ 0x243F6A8885A308D3ull, seed ^ 0x13198A2E03707344ull, seed ^ 0xA4093822299F31D0ull,
                     seed ^ 0x082EFA98EC4E6C89ull};
    std::size_t words = bytes / 8, i = 0;
    for (; i + 4 <= words; i += 4)
        for (int j = 0; j < 4; ++j) {
            uint64_t w;
            std::memcpy(&w, p + (i + j) * 8, 8);
            h[j] = (h[j] ^ w) * k;
        }
    for (; i < words; ++i) {
        uint64_t w;
        std::memcpy(&w, p + i * 8, 8);
        h[0] = (h[0] ^ w) * k;
    }
    for (std::size_t b = words * 8; b < bytes; ++b) h[1] = (h[1] ^ p[b]) * k;
    return (h[0] ^ (h[1] >> 17)) * k + (h[2] ^ (h[3] << 13));
}

// Chunks in the fingerprint of `bytes` bytes (at least one: the empty buffer has one).
inline int64_t fingerprint_chunks(std::size_t bytes) {
    return std::max<int64_t>(1, int64_t((bytes + kFingerprintChunk - 1) / kFingerprintChunk));
}

inline uint64_t fingerprint_part(const void *data, std::size_t bytes, int64_t c) {
    const std::size_t off = std::size_t(c) * kFingerprintChunk;
    if (off >= bytes) return 0;
    return fingerprint_chunk(static_cast<const unsigned char *>(data) + off, std::min(kFingerprintChunk, bytes - off),
                             uint64_t(c));
}

inline uint64_t fingerprint_combine(uint64_t h, uint64_t part) {
    return (h ^ part) * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
}

// The fingerprint on the calling thread alone.
inline uint64_t fingerprint_serial(const void *data, std::size_t bytes) {
    uint64_t h = bytes;
    for (int64_t c = 0, n = fingerprint_chunks(bytes); c < n; ++c)
        h = fingerprint_combine(h, fingerprint_part(data, bytes, c));
    return h;
}

} // namespace ai3::detail
