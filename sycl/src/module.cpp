// ai3._sycl: the SYCL backend as its own extension module. ai3 imports it lazily
// (python/ai3/_sycl_backend.py) so a missing SYCL runtime never breaks `import ai3`.
// On import it registers its kernels and its DeviceOps into ai3._core's one
// Registry, reached through the capsule ai3._core._registry.
#include <link.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>

#include "dpctl4pybind11.hpp"
#include "kernels.hpp"
#include "runtime.hpp"

namespace py = pybind11;
using namespace ai3;
using namespace ai3::syclrt;

namespace {

QueueState &from_handle(uintptr_t h) { return queue_of(Device{Backend::sycl, 0, reinterpret_cast<void *>(h)}); }

// A dpctl.SyclDevice or dpctl.SyclQueue as ai3's queue for it (dpctl must be imported
// before dpctl4pybind11's casters run: they segfault otherwise).
uintptr_t handle_for(const py::object &obj) {
    py::module_::import("dpctl");
    std::string type = py::str(py::type::of(obj).attr("__name__"));
    if (type == "SyclQueue") return reinterpret_cast<uintptr_t>(&queue_for(obj.cast<sycl::queue>()));
    if (type == "SyclDevice") return reinterpret_cast<uintptr_t>(&queue_for(obj.cast<sycl::device>()));
    throw ValueError(str("expected a dpctl.SyclDevice or dpctl.SyclQueue, got ", type));
}

// The SYCL runtime library this process loaded (libsycl for DPC++ and the intel-sycl-rt
// wheel, libacpp-rt for AdaptiveCpp): the build's path may be a deleted build environment.
std::string runtime_library() {
    std::string found;
    dl_iterate_phdr(
        [](dl_phdr_info *info, std::size_t, void *out) {
            const char *name = info->dlpi_name;
            const char *base = name ? std::strrchr(name, '/') : nullptr;
            base = base ? base + 1 : name;
            if (base && (std::strncmp(base, "libsycl.so", 10) == 0 || std::strncmp(base, "libacpp-rt.so", 13) == 0)) {
                *static_cast<std::string *>(out) = name;
                return 1;
            }
            return 0;
        },
        &found);
    return found;
}

} // namespace

PYBIND11_MODULE(_sycl, m) {
    m.doc() = "ai3's SYCL backend: kernels for SYCL devices, run-time or ahead-of-time compiled";

    py::module_ core = py::module_::import("ai3._core");
    py::capsule cap = core.attr("_registry");
    auto *reg = static_cast<Registry *>(PyCapsule_GetPointer(cap.ptr(), "ai3.Registry"));
    if (!reg) throw py::error_already_set();
    register_sycl(*reg);
    reg->set_device_ops(Backend::sycl, std::make_shared<SyclDeviceOps>());

    m.def("mode", [] { return std::string(mode()); }, "'rtc' (kernels compiled at run time) or 'aot'.");
    m.def("runtime_library", &runtime_library, "Path of the SYCL runtime library loaded in this process, or ''.");
    m.def("handle_for", &handle_for, py::arg("device_or_queue"),
          "ai3's queue (an opaque handle) for a dpctl.SyclDevice or dpctl.SyclQueue.");
    m.def("device_name", [](uintptr_t h) { return from_handle(h).name; }, py::arg("handle"));
    m.def("has_fp64", [](uintptr_t h) { return from_handle(h).fp64; }, py::arg("handle"));
    m.def(
        "is_device_pointer",
        [](uintptr_t h, uintptr_t p) { return from_handle(h).is_device(reinterpret_cast<void *>(p)); },
        py::arg("handle"), py::arg("pointer"), "Whether a pointer is USM memory of this device's context.");
    m.def(
        "compile",
        [](uintptr_t h, const std::string &bundle, const std::string &dtype) {
            QueueState &qs = from_handle(h);
            AI3_CHECK(bundle == "conv" || bundle == "layers" || bundle == "graph", ValueError,
                      "unknown SYCL kernel bundle '", bundle, "' (layers, conv or graph)");
            Bundle b = bundle == "conv" ? Bundle::conv : bundle == "graph" ? Bundle::graph : Bundle::layers;
            DType d = parse_dtype(dtype);
            py::gil_scoped_release nogil;
            return rtc_compile(qs, b, d);
        },
        py::arg("handle"), py::arg("bundle"), py::arg("dtype"),
        "Compile a kernel bundle for a device now (no-op if already compiled); returns seconds spent.");
    m.def("launch_count", &launch_count, "SYCL kernel launches by ai3 so far in this process.");
    m.def(
        "build_source",
        [](uintptr_t h, const std::string &source, const std::vector<std::string> &names) {
            QueueState &qs = from_handle(h);
            py::gil_scoped_release nogil;
            build_source(qs, source, names, "user source");
        },
        py::arg("handle"), py::arg("source"), py::arg("kernel_names"),
        "Compile SYCL source (with ai3's kernel headers includable) for a device, as ai3 compiles its own.");
    m.def("compile_stats", [] { return compile_stats(); }, "(bundles compiled by this process, seconds spent).");
    m.def(
        "shutdown",
        [] {
            py::gil_scoped_release nogil;
            shutdown();
        },
        "Release every SYCL object (ai3 calls this from atexit).");
}
