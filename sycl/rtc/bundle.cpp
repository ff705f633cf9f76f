// The source the SYCL run-time compiler builds (embedded into ai3._sycl at build
// time with every header it includes). Each kernels.def line becomes a templated
// free-function kernel; the host registers only the instantiations of one bundle
// and dtype (e.g. "ai3k_relu<float>"), so only those are compiled.
#include <sycl/sycl.hpp>

#include "all.hpp"

#define AI3_UNPAREN(...) __VA_ARGS__
#define AI3_SYCL_KERNEL(bundle, name, dims, params, args)                                                              \
    template <typename T>                                                                                              \
    SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((sycl::ext::oneapi::experimental::nd_range_kernel<dims>))                        \
    void ai3k_##name params {                                                                                          \
        ai3::sk::name<T>(sycl::ext::oneapi::this_work_item::get_nd_item<dims>(), AI3_UNPAREN args);                    \
    }
#include "kernels.def"
