// Kernel sources embedded into ai3._sycl at build time (cmake/ai3_embed.cmake):
// {include name, text}, handed to the SYCL run-time compiler as include files.
#pragma once
#include <cstddef>

namespace ai3::syclrt {
struct EmbeddedFile {
    const char *name;
    const char *text;
};
extern const EmbeddedFile embedded_files[];
extern const std::size_t embedded_file_count;
} // namespace ai3::syclrt
