// Registers every fallback (Backend::cpu) kernel; called by the bindings' module init.
#pragma once
#include "ai3/registry.hpp"

namespace ai3 {

void register_fallback(Registry &r);

} // namespace ai3
