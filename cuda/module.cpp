// ai3._cuda: the CUDA backend module. Importing it registers its kernels into
// ai3._core's registry (through the capsule ai3._core._registry) whether or not a
// GPU is present: loading needs only the libraries, and every GPU query reports a
// missing driver or device as an exception, never a crash.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "kernels.hpp"

#ifndef AI3_CUDNN_BUILT_VERSION
#define AI3_CUDNN_BUILT_VERSION "unknown"
#endif

namespace py = pybind11;

namespace ai3::cuda {
void register_cuda(Registry &r);
}

using namespace ai3;

namespace {

std::string version_str(int v, int major_div, int minor_div) {
    return str(v / major_div, ".", (v % major_div) / minor_div);
}

// Why no GPU is usable, or "" when at least one is.
std::string unusable_reason() {
    try {
        int n = cuda::device_count();
        if (n == 0) return "no CUDA GPU found (cudaGetDeviceCount returned 0)";
        return "";
    } catch (const std::exception &e) { return e.what(); }
}

} // namespace

PYBIND11_MODULE(_cuda, m) {
    m.doc() = "ai3's CUDA backend: cuDNN/cuBLAS wrappers and ai3's own CUDA kernels";

    py::module_ core = py::module_::import("ai3._core");
    py::object cap = core.attr("_registry");
    auto *reg = static_cast<Registry *>(PyCapsule_GetPointer(cap.ptr(), "ai3.Registry"));
    if (!reg) throw py::error_already_set();
    cuda::register_cuda(*reg);

    // Errors raised by this module's own functions (kernels run from ai3._core, whose
    // translator maps the same exported types).
    py::register_local_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const ai3::Error &e) {
            py::module_ errors = py::module_::import("ai3.errors");
            // The same classes as ai3._core's translator.
            py::object cls = errors.attr(dynamic_cast<const ai3::ValueError *>(&e)      ? "InvalidInputError"
                                         : dynamic_cast<const ai3::TypeError *>(&e)     ? "DTypeError"
                                         : dynamic_cast<const ai3::Unimplemented *>(&e) ? "UnsupportedError"
                                                                                        : "BackendError");
            PyErr_SetString(cls.ptr(), e.what());
        }
    });

    m.def("unusable_reason", &unusable_reason,
          "Why no CUDA GPU is usable (no driver, no device, ...), or '' when one is.");
    m.def("device_count", &cuda::device_count, "Number of CUDA GPUs; raises BackendError saying why there are none.");
    m.def(
        "device_name",
        [](int index) {
            cudaDeviceProp prop{};
            AI3_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
            return std::string(prop.name);
        },
        py::arg("index"));
    m.def(
        "context",
        [](int index, uintptr_t stream) { return reinterpret_cast<uintptr_t>(&cuda::context(index, stream)); },
        py::arg("index"), py::arg("stream") = 0,
        "The device handle for (GPU index, cudaStream_t as an int; 0 = the legacy default stream).");
    m.def(
        "_raise_status",
        [](const std::string &library, int code) {
            // The error path of every CUDA/cuDNN/cuBLAS call, reachable without a GPU
            // (the libraries name their statuses without one): tests check the message
            // and exception class a failing call produces.
            if (library == "cuda") AI3_CUDA_CHECK(static_cast<cudaError_t>(code));
            if (library == "cudnn") AI3_CUDNN_CHECK(static_cast<cudnnStatus_t>(code));
            if (library == "cublas") AI3_CUBLAS_CHECK(static_cast<cublasStatus_t>(code));
        },
        py::arg("library"), py::arg("code"));
    m.def("versions", [] {
        py::dict d;
        d["cudnn_built"] = AI3_CUDNN_BUILT_VERSION;
        d["cudnn_loaded"] = version_str(int(cudnnGetVersion()), 10000, 100);
        d["cuda_runtime_built"] = version_str(CUDART_VERSION, 1000, 10);
        int rt = 0, drv = 0;
        d["cuda_runtime"] = cudaRuntimeGetVersion(&rt) == cudaSuccess ? version_str(rt, 1000, 10) : "unknown";
        cudaError_t e = cudaDriverGetVersion(&drv);
        d["cuda_driver"] = (e == cudaSuccess && drv > 0) ? version_str(drv, 1000, 10) : "none";
        int cublas = 0;
        // cuBLAS's version needs no handle (and so no GPU).
        d["cublas"] = cublasGetProperty(MAJOR_VERSION, &cublas) == CUBLAS_STATUS_SUCCESS
                          ? str(cublas, ".",
                                [] {
                                    int v = 0;
                                    cublasGetProperty(MINOR_VERSION, &v);
                                    return v;
                                }())
                          : "unknown";
        return d;
    });
}
