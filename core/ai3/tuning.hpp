// Tuned winners: the algorithm `default` runs for a conv2d layer shape once
// ai3.tune has measured it. Python loads the on-disk cache (entries for this CPU's
// ISA) into this table at import and adds what ai3.tune measures.
#pragma once
#include "dtype.hpp"
#include "ops.hpp"

#include <optional>
#include <string>

namespace ai3 {

// A canonical key for a conv2d layer shape on a device with a thread count.
std::string conv2d_tune_key(const Conv2dParams &p, DType dtype, Backend backend, int threads);

void set_tuned(const std::string &key, const std::string &algorithm);
std::optional<std::string> tuned(const std::string &key);
void clear_tuned();

} // namespace ai3
