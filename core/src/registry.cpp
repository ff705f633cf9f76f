#include "ai3/registry.hpp"

namespace ai3 {

Registry &registry() {
    static Registry r;
    return r;
}

} // namespace ai3
