// ai3._core: the portable core and CPU fallback. Tensors cross this boundary as
// (address, shape, dtype) triples or buffers, never as torch objects: the
// extension does not link libtorch, and Python validates layout before calling.
#include <array>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "ai3/guess.hpp"
#include "ai3/layers.hpp"
#include "ai3/parallel.hpp"
#include "ai3/registry.hpp"
#include "ai3/scratch.hpp"
#include "ai3/tuning.hpp"
#include "gemm/gemm_isa.hpp"
#include "dlpack.hpp"
#include "graph_bindings.hpp"
#include "register.hpp"

#include <cstring>

namespace py = pybind11;
using namespace ai3;

#ifndef AI3_VERSION
#define AI3_VERSION "0.0.0"
#endif
#ifndef AI3_SYCL_STATUS
#define AI3_SYCL_STATUS "unknown"
#endif
#ifndef AI3_CUDA_STATUS
#define AI3_CUDA_STATUS "unknown"
#endif
#ifndef AI3_THREADS
#define AI3_THREADS "unknown"
#endif
#ifndef AI3_APPLE_STATUS
#define AI3_APPLE_STATUS "unknown"
#endif

namespace {

Backend parse_backend(const std::string &name) {
    for (Backend b : {Backend::cpu, Backend::sycl, Backend::cuda, Backend::apple})
        if (name == backend_name(b)) return b;
    throw ValueError(str("unknown ai3 backend '", name, "'"));
}

// A device crosses from Python (ai3.devices.Device.core) as "cpu" or as a
// (backend, index, handle) tuple whose handle the backend module made.
Device parse_device(const py::object &device) {
    if (py::isinstance<py::str>(device)) {
        auto name = device.cast<std::string>();
        if (name == "cpu") return Device{Backend::cpu, 0, nullptr};
        throw ValueError(str("device '", name, "' needs a handle from its backend module (use ai3.devices)"));
    }
    auto t = device.cast<std::tuple<std::string, int, uintptr_t>>();
    Device d{parse_backend(std::get<0>(t)), std::get<1>(t), reinterpret_cast<void *>(std::get<2>(t))};
    if (d.backend != Backend::cpu && !registry().device_ops(d.backend) && d.handle == nullptr)
        throw ValueError(str("backend '", backend_name(d.backend), "' is not loaded"));
    return d;
}

const void *as_ptr(uintptr_t p) { return reinterpret_cast<const void *>(p); }

// Copies a C-contiguous float32/float64 numpy array into an owned ai3::Tensor of `dtype`.
Tensor owned_tensor(const py::array &a, DType dtype) {
    Shape shape(a.shape(), a.shape() + a.ndim());
    Tensor t(shape, dtype);
    py::array src = dtype == DType::f32
                        ? py::array(py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a))
                        : py::array(py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(a));
    if (!src) throw TypeError("ai3 could not convert a parameter to a dense float array");
    if (t.nbytes()) std::memcpy(t.data(), src.data(), t.nbytes());
    return t;
}

std::optional<Tensor> owned_opt(const std::optional<py::array> &a, DType dtype) {
    if (!a) return std::nullopt;
    return owned_tensor(*a, dtype);
}

// Python exception classes from ai3.errors; handles are leaked on purpose so no
// Python object is destroyed after the interpreter has finalised.
struct ErrorTypes {
    PyObject *value, *type, *unimplemented, *runtime;
};
ErrorTypes &error_types() {
    static ErrorTypes t = [] {
        py::module_ m = py::module_::import("ai3.errors");
        auto get = [&](const char *name) { return py::object(m.attr(name)).release().ptr(); };
        return ErrorTypes{get("InvalidInputError"), get("DTypeError"), get("UnsupportedError"), get("BackendError")};
    }();
    return t;
}

char empty_buffer[64];

} // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "ai3's C++ core: registry, layers and the portable CPU fallback kernels";

    register_fallback(registry());
    // Optional backend modules (ai3._sycl, ai3._cuda) register their kernels and
    // device memory into this registry through this capsule.
    m.attr("KERNELS_PER_LAYER") = kKernelsPerLayer;
    m.attr("_registry") = py::capsule(static_cast<void *>(&registry()), "ai3.Registry");

    error_types();
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const ai3::ValueError &e) {
            PyErr_SetString(error_types().value, e.what());
        } catch (const ai3::TypeError &e) {
            PyErr_SetString(error_types().type, e.what());
        } catch (const ai3::Unimplemented &e) {
            PyErr_SetString(error_types().unimplemented, e.what());
        } catch (const ai3::Error &e) { PyErr_SetString(error_types().runtime, e.what()); }
    });

    m.def("set_num_threads", &set_num_threads, py::arg("n"));
    m.def("get_num_threads", &num_threads);
    m.def("release_scratch", &release_scratch, "Free the calling thread's kernel scratch memory.");
    m.def("set_tuned", &set_tuned, py::arg("key"), py::arg("algorithm"));
    m.def("tuned", &tuned, py::arg("key"), "The tuned winner stored under a key, or None.");
    m.def(
        "calibrate",
        [](const std::string &dtype, const py::object &device) {
            DType d = parse_dtype(dtype);
            Device dev = parse_device(device);
            py::gil_scoped_release nogil;
            return to_map(calibrate(d, dev));
        },
        py::arg("dtype"), py::arg("device") = "cpu",
        "Measure the cost model's constants on a device (returns them; does not install them).");
    m.def(
        "set_cost_constants",
        [](const std::string &dtype, const std::map<std::string, double> &c, const std::string &backend) {
            set_cost_constants(parse_dtype(dtype), parse_backend(backend), from_map(c));
        },
        py::arg("dtype"), py::arg("constants"), py::arg("backend") = "cpu");
    m.def(
        "cost_constants",
        [](const std::string &dtype, const std::string &backend) {
            return to_map(cost_constants(parse_dtype(dtype), parse_backend(backend)));
        },
        py::arg("dtype"), py::arg("backend") = "cpu");
    m.def("clear_tuned", &clear_tuned);
    m.def(
        "conv2d_refusal",
        [](const std::string &algorithm, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
           std::array<int64_t, 2> dilation, int64_t groups) {
            Conv2dParams p;
            p.R = kernel[0], p.S = kernel[1];
            p.stride_h = stride[0], p.stride_w = stride[1];
            p.dil_h = dilation[0], p.dil_w = dilation[1];
            p.groups = groups;
            return conv2d_refusal(algorithm, p);
        },
        py::arg("algorithm"), py::arg("kernel"), py::arg("stride"), py::arg("dilation"), py::arg("groups"),
        "Why a conv2d algorithm cannot run a layer of this configuration on any input, or ''.");
    m.def(
        "cpu_isa", [] { return std::string(fallback::detail::gemm_isa_name(fallback::detail::gemm_active_isa())); },
        "The instruction set the CPU kernels run with (avx512, avx2, generic).");

    m.def("registry_entries", [] {
        std::vector<std::tuple<std::string, std::string, std::string, std::string>> out;
        for (auto &k : registry().list())
            out.emplace_back(k.op, k.algorithm, backend_name(k.backend), dtype_name(k.dtype));
        return out;
    });

    m.def("build_info", [] {
        py::dict d;
        d["version"] = AI3_VERSION;
        py::dict b;
        b["cpu"] = "built (portable C++ fallback)";
        b["sycl"] = AI3_SYCL_STATUS;
        b["cuda"] = AI3_CUDA_STATUS;
        b["apple"] = AI3_APPLE_STATUS;
        d["backends"] = b;
        d["compiler"] = __VERSION__;
        d["threads"] = AI3_THREADS;
        return d;
    });

    py::class_<Tensor>(m, "Tensor", py::buffer_protocol())
        .def(py::init([](const py::object &obj) {
                 // Copies any float32/float64 array-like (numpy, torch CPU tensor, ai3.Tensor).
                 py::array a = py::array::ensure(obj);
                 if (!a) throw TypeError("ai3.Tensor needs an array-like of float32 or float64");
                 py::dtype dt = a.dtype();
                 if (dt.kind() != 'f' || (dt.itemsize() != 4 && dt.itemsize() != 8))
                     throw TypeError(str("ai3 supports float32 and float64, got dtype ", std::string(py::str(dt))));
                 return owned_tensor(a, dt.itemsize() == 4 ? DType::f32 : DType::f64);
             }),
             py::arg("tens"))
        .def_property_readonly("shape", [](const Tensor &t) { return py::tuple(py::cast(t.shape())); })
        .def_property_readonly("dtype", [](const Tensor &t) { return std::string(dtype_name(t.dtype())); })
        .def_property_readonly("nbytes", &Tensor::nbytes)
        .def_buffer([](Tensor &t) {
            std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end()), strides(shape.size());
            py::ssize_t s = py::ssize_t(dtype_size(t.dtype()));
            for (std::size_t i = shape.size(); i-- > 0;) {
                strides[i] = s;
                s *= shape[i];
            }
            void *data = t.data() ? t.data() : empty_buffer;
            if (t.dtype() == DType::f32)
                return py::buffer_info(static_cast<float *>(data), 4, py::format_descriptor<float>::format(),
                                       py::ssize_t(shape.size()), shape, strides);
            return py::buffer_info(static_cast<double *>(data), 8, py::format_descriptor<double>::format(),
                                   py::ssize_t(shape.size()), shape, strides);
        });

    ai3::dlpack::bind(m);

    py::class_<Layer, std::shared_ptr<Layer>>(m, "Layer")
        .def_property_readonly("op", [](const Layer &l) { return std::string(l.op()); })
        .def_property_readonly("algorithm", &Layer::algorithm)
        .def_property_readonly("resolved_algorithm", &Layer::resolved_algorithm)
        .def("clear_cache", &Layer::clear_cache, py::call_guard<py::gil_scoped_release>())
        .def("cached_kernels", &Layer::cached_kernels)
        .def("params", &Layer::params, "The owned parameters by name (tensors sharing the layer's storage).")
        .def("resolutions",
             [](const Layer &l) {
                 py::list out;
                 for (auto &r : l.resolutions())
                     out.append(py::make_tuple(r.tag, py::tuple(py::cast(r.shape)), std::string(dtype_name(r.dtype)),
                                               r.algorithm));
                 return out;
             })
        .def("out_shape", [](const Layer &l, const Shape &in) { return py::tuple(py::cast(l.out_shape(in))); })
        .def(
            "resolve_for",
            [](const Layer &l, const Shape &in, const std::string &dtype, const py::object &device) {
                return l.resolve_for(in, parse_dtype(dtype), parse_device(device));
            },
            py::arg("shape"), py::arg("dtype"), py::arg("device") = "cpu")
        .def(
            "forward",
            [](Layer &l, uintptr_t in, const Shape &in_shape, uintptr_t out, const std::string &dtype,
               const py::object &device) {
                DType d = parse_dtype(dtype);
                Device dev = parse_device(device);
                l.out_shape(in_shape);
                py::gil_scoped_release nogil;
                l.forward(as_ptr(in), in_shape, reinterpret_cast<void *>(out), d, dev);
            },
            py::arg("input"), py::arg("shape"), py::arg("output"), py::arg("dtype"), py::arg("device") = "cpu");

    py::enum_<PadMode>(m, "PadMode")
        .value("zeros", PadMode::zeros)
        .value("reflect", PadMode::reflect)
        .value("replicate", PadMode::replicate)
        .value("circular", PadMode::circular);

    auto conv_config = [](std::pair<int64_t, int64_t> stride, std::tuple<int64_t, int64_t, int64_t, int64_t> padding,
                          std::pair<int64_t, int64_t> dilation, int64_t groups, PadMode mode) {
        Conv2dConfig c;
        c.stride_h = stride.first;
        c.stride_w = stride.second;
        std::tie(c.pad_top, c.pad_bottom, c.pad_left, c.pad_right) = padding;
        c.dil_h = dilation.first;
        c.dil_w = dilation.second;
        c.groups = groups;
        c.padding_mode = mode;
        return c;
    };

    auto conv = py::class_<Conv2dLayer, Layer, std::shared_ptr<Conv2dLayer>>(m, "Conv2d");
    conv.def(py::init([conv_config](const py::array &weight, const std::optional<py::array> &bias,
                                    std::pair<int64_t, int64_t> stride,
                                    std::tuple<int64_t, int64_t, int64_t, int64_t> padding,
                                    std::pair<int64_t, int64_t> dilation, int64_t groups, PadMode mode,
                                    const std::string &algorithm, const std::string &dtype) {
                 DType d = parse_dtype(dtype);
                 return std::make_shared<Conv2dLayer>(owned_tensor(weight, d), owned_opt(bias, d),
                                                      conv_config(stride, padding, dilation, groups, mode), algorithm);
             }),
             py::arg("weight"), py::arg("bias"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
             py::arg("groups"), py::arg("padding_mode"), py::arg("algorithm"), py::arg("dtype"))
        .def_static(
            "borrowed",
            [conv_config](const Shape &weight_shape, bool has_bias, std::pair<int64_t, int64_t> stride,
                          std::tuple<int64_t, int64_t, int64_t, int64_t> padding, std::pair<int64_t, int64_t> dilation,
                          int64_t groups, PadMode mode, const std::string &algorithm) {
                return std::make_shared<Conv2dLayer>(weight_shape, has_bias,
                                                     conv_config(stride, padding, dilation, groups, mode), algorithm);
            },
            py::arg("weight_shape"), py::arg("has_bias"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
            py::arg("groups"), py::arg("padding_mode"), py::arg("algorithm"))
        .def(
            "forward_with",
            [](Conv2dLayer &l, uintptr_t in, const Shape &in_shape, uintptr_t w, uintptr_t b, uintptr_t out,
               const std::string &dtype, const py::object &device, uint64_t weight_version,
               const std::string &activation) {
                DType d = parse_dtype(dtype);
                Device dev = parse_device(device);
                Activation act = activation == "none"   ? Activation::none
                                 : activation == "relu" ? Activation::relu
                                 : activation == "relu6"
                                     ? Activation::relu6
                                     : throw ValueError(str("unknown conv2d activation '", activation,
                                                            "'; expected none, relu or relu6"));
                l.out_shape(in_shape);
                py::gil_scoped_release nogil;
                l.forward_with(as_ptr(in), in_shape, as_ptr(w), b ? as_ptr(b) : nullptr, reinterpret_cast<void *>(out),
                               d, dev, weight_version, act);
            },
            py::arg("input"), py::arg("shape"), py::arg("weight"), py::arg("bias"), py::arg("output"), py::arg("dtype"),
            py::arg("device") = "cpu", py::arg("weight_version") = 0, py::arg("activation") = "none");

    conv.def(
        "costs",
        [](const Conv2dLayer &l, const Shape &in, const std::string &dtype) {
            // The cost model's estimate (seconds) per applicable concrete algorithm.
            DType d = parse_dtype(dtype);
            Conv2dParams p = l.params(in);
            std::map<std::string, double> out;
            auto c = cost_constants(d, Backend::cpu);
            for (auto &a : conv2d_concrete_algorithms())
                if (registry().contains("conv2d", a, Backend::cpu, d) && conv2d_applicable(a, p))
                    out[a] = conv2d_cost(a, p, d, c);
            return out;
        },
        py::arg("shape"), py::arg("dtype"));
    conv.def(
        "tune_key",
        [](const Conv2dLayer &l, const Shape &in, const std::string &dtype, const py::object &device) {
            return l.tune_key(in, parse_dtype(dtype), parse_device(device));
        },
        py::arg("shape"), py::arg("dtype"), py::arg("device") = "cpu");

    py::class_<LinearLayer, Layer, std::shared_ptr<LinearLayer>>(m, "Linear")
        .def(py::init([](const py::array &weight, const std::optional<py::array> &bias, const std::string &algorithm,
                         const std::string &dtype) {
                 DType d = parse_dtype(dtype);
                 return std::make_shared<LinearLayer>(owned_tensor(weight, d), owned_opt(bias, d), algorithm);
             }),
             py::arg("weight"), py::arg("bias"), py::arg("algorithm"), py::arg("dtype"));

    auto pool_config = [](std::pair<int64_t, int64_t> k, std::pair<int64_t, int64_t> s, std::pair<int64_t, int64_t> p,
                          std::pair<int64_t, int64_t> d, bool ceil_mode, bool count_include_pad, int64_t divisor) {
        Pool2dConfig c;
        std::tie(c.kh, c.kw) = k;
        std::tie(c.stride_h, c.stride_w) = s;
        std::tie(c.pad_h, c.pad_w) = p;
        std::tie(c.dil_h, c.dil_w) = d;
        c.ceil_mode = ceil_mode;
        c.count_include_pad = count_include_pad;
        c.divisor_override = divisor;
        return c;
    };

    py::class_<Pool2dLayer, Layer, std::shared_ptr<Pool2dLayer>>(m, "Pool2d")
        .def_static(
            "max",
            [pool_config](std::pair<int64_t, int64_t> k, std::pair<int64_t, int64_t> s, std::pair<int64_t, int64_t> p,
                          std::pair<int64_t, int64_t> d, bool ceil_mode, const std::string &algorithm) {
                return std::make_shared<Pool2dLayer>(Pool2dLayer::max, pool_config(k, s, p, d, ceil_mode, true, 0),
                                                     algorithm);
            },
            py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("ceil_mode"),
            py::arg("algorithm"))
        .def_static(
            "avg",
            [pool_config](std::pair<int64_t, int64_t> k, std::pair<int64_t, int64_t> s, std::pair<int64_t, int64_t> p,
                          bool ceil_mode, bool count_include_pad, int64_t divisor_override,
                          const std::string &algorithm) {
                return std::make_shared<Pool2dLayer>(
                    Pool2dLayer::avg, pool_config(k, s, p, {1, 1}, ceil_mode, count_include_pad, divisor_override),
                    algorithm);
            },
            py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"),
            py::arg("count_include_pad"), py::arg("divisor_override"), py::arg("algorithm"));

    py::class_<AdaptiveAvgPool2dLayer, Layer, std::shared_ptr<AdaptiveAvgPool2dLayer>>(m, "AdaptiveAvgPool2d")
        .def(py::init<int64_t, int64_t, std::string>(), py::arg("out_h"), py::arg("out_w"), py::arg("algorithm"));

    py::class_<ReLULayer, Layer, std::shared_ptr<ReLULayer>>(m, "ReLU").def(py::init<std::string>(),
                                                                            py::arg("algorithm"));

    py::class_<FlattenLayer, Layer, std::shared_ptr<FlattenLayer>>(m, "Flatten")
        .def(py::init<int64_t, int64_t, std::string>(), py::arg("start_dim"), py::arg("end_dim"), py::arg("algorithm"));

    py::class_<Model, std::shared_ptr<Model>>(m, "Model")
        .def(py::init<std::vector<std::shared_ptr<Layer>>>(), py::arg("layers"))
        .def_property_readonly("layers", &Model::layers)
        // The GIL is released before the model's lock: a forward holds that lock while
        // a TorchFunction layer takes the GIL.
        .def("set_profiling", &Model::set_profiling, py::arg("on"), py::call_guard<py::gil_scoped_release>())
        .def("layer_seconds", &Model::layer_seconds, py::call_guard<py::gil_scoped_release>())
        .def("clear_cache", &Model::clear_cache, py::call_guard<py::gil_scoped_release>(),
             "Drop the plan and every layer's kernels (they are rebuilt on the next call).")
        .def("out_shape", [](const Model &mo, const Shape &in) { return py::tuple(py::cast(mo.out_shape(in))); })
        .def(
            "forward",
            [](Model &mo, uintptr_t in, const Shape &in_shape, const std::string &dtype, const py::object &device) {
                DType d = parse_dtype(dtype);
                Device dev = parse_device(device);
                py::gil_scoped_release nogil;
                return mo.forward(as_ptr(in), in_shape, d, dev);
            },
            py::arg("input"), py::arg("shape"), py::arg("dtype"), py::arg("device") = "cpu");

    // The graph form of ai3.Model and its layers (graph_bindings.cpp).
    bind_graph(m, GraphHelpers{&ai3::parse_dtype, &parse_device, &owned_tensor});
}
