// Bindings of ai3's graph form (ai3::Graph and its layers). Kept out of module.cpp so
// the graph work merges without touching the core bindings beyond one call; the
// conversion helpers module.cpp owns are passed in.
#include "graph_bindings.hpp"

#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstring>

namespace py = pybind11;

namespace ai3 {

namespace {

// Python callables held by C++ layers: copied and destroyed with the interpreter lock
// held (a graph may be dropped from a thread that released it).
struct PyFn {
    std::shared_ptr<py::object> fn;
    explicit PyFn(py::object f)
        : fn(new py::object(std::move(f)), [](py::object *p) {
              py::gil_scoped_acquire gil;
              delete p;
          }) {}
};

} // namespace

void bind_graph(py::module_ &m, const GraphHelpers &h) {
    py::class_<BatchNorm2dLayer, Layer, std::shared_ptr<BatchNorm2dLayer>>(m, "BatchNorm2d")
        .def(py::init([h](const py::array &mean, const py::array &var, const std::optional<py::array> &weight,
                          const std::optional<py::array> &bias, double eps, const std::string &algorithm,
                          const std::string &dtype) {
                 DType d = h.parse_dtype(dtype);
                 std::optional<Tensor> w, b;
                 if (weight) w = h.owned(*weight, d);
                 if (bias) b = h.owned(*bias, d);
                 return std::make_shared<BatchNorm2dLayer>(h.owned(mean, d), h.owned(var, d), w, b, eps, algorithm);
             }),
             py::arg("running_mean"), py::arg("running_var"), py::arg("weight"), py::arg("bias"), py::arg("eps"),
             py::arg("algorithm"), py::arg("dtype"))
        .def_static(
            "affine",
            [h](const py::array &scale, const py::array &shift, const std::string &algorithm,
                const std::string &dtype) {
                DType d = h.parse_dtype(dtype);
                return std::make_shared<BatchNorm2dLayer>(h.owned(scale, d), h.owned(shift, d), algorithm);
            },
            py::arg("scale"), py::arg("shift"), py::arg("algorithm"), py::arg("dtype"));

    py::enum_<PointwiseLayer::Kind>(m, "PointwiseKind")
        .value("relu6", PointwiseLayer::relu6)
        .value("hardswish", PointwiseLayer::hardswish)
        .value("hardsigmoid", PointwiseLayer::hardsigmoid)
        .value("silu", PointwiseLayer::silu)
        .value("sigmoid", PointwiseLayer::sigmoid)
        .value("gelu", PointwiseLayer::gelu)
        .value("gelu_tanh", PointwiseLayer::gelu_tanh);
    py::class_<PointwiseLayer, Layer, std::shared_ptr<PointwiseLayer>>(m, "Pointwise")
        .def(py::init<PointwiseLayer::Kind, std::string>(), py::arg("kind"), py::arg("algorithm"));

    py::enum_<BinaryLayer::Kind>(m, "BinaryKind").value("add", BinaryLayer::add).value("mul", BinaryLayer::mul);
    py::class_<BinaryLayer, Layer, std::shared_ptr<BinaryLayer>>(m, "Binary")
        .def(py::init<BinaryLayer::Kind, std::string>(), py::arg("kind"), py::arg("algorithm"));

    py::class_<CatLayer, Layer, std::shared_ptr<CatLayer>>(m, "Cat").def(py::init<int64_t, std::string>(),
                                                                         py::arg("dim"), py::arg("algorithm"));
    py::class_<SplitLayer, Layer, std::shared_ptr<SplitLayer>>(m, "Split")
        .def(py::init<int64_t, int64_t, int64_t, std::string>(), py::arg("dim"), py::arg("start"), py::arg("length"),
             py::arg("algorithm"));
    py::class_<PermuteLayer, Layer, std::shared_ptr<PermuteLayer>>(m, "Permute")
        .def(py::init<std::vector<int64_t>, std::string>(), py::arg("perm"), py::arg("algorithm"))
        .def_static(
            "transpose",
            [](int64_t d0, int64_t d1, const std::string &algorithm) {
                return std::make_shared<PermuteLayer>(d0, d1, algorithm);
            },
            py::arg("dim0"), py::arg("dim1"), py::arg("algorithm"));
    py::class_<ReshapeLayer, Layer, std::shared_ptr<ReshapeLayer>>(m, "Reshape")
        .def(py::init([](const std::vector<std::tuple<int, int64_t, int64_t>> &target, int n_inputs,
                         const std::string &algorithm) {
                 std::vector<ReshapeLayer::Entry> t;
                 for (auto &[src, dim, size] : target) t.push_back({src, dim, size});
                 return std::make_shared<ReshapeLayer>(t, n_inputs, algorithm);
             }),
             py::arg("target"), py::arg("n_inputs"), py::arg("algorithm"));
    py::class_<MeanLayer, Layer, std::shared_ptr<MeanLayer>>(m, "Mean").def(
        py::init<std::vector<int64_t>, bool, std::string>(), py::arg("dims"), py::arg("keepdim"), py::arg("algorithm"));
    py::class_<LayerNormLayer, Layer, std::shared_ptr<LayerNormLayer>>(m, "LayerNorm")
        .def(py::init([h](const Shape &nshape, const std::optional<py::array> &weight,
                          const std::optional<py::array> &bias, double eps, const std::string &algorithm,
                          const std::string &dtype, bool over_channels) {
                 DType d = h.parse_dtype(dtype);
                 std::optional<Tensor> w, b;
                 if (weight) w = h.owned(*weight, d);
                 if (bias) b = h.owned(*bias, d);
                 return std::make_shared<LayerNormLayer>(nshape, w, b, eps, d, algorithm, over_channels);
             }),
             py::arg("normalized_shape"), py::arg("weight"), py::arg("bias"), py::arg("eps"), py::arg("algorithm"),
             py::arg("dtype"), py::arg("over_channels") = false);
    py::class_<ConstantLayer, Layer, std::shared_ptr<ConstantLayer>>(m, "Constant")
        .def(py::init([h](const py::array &value, const std::string &dtype) {
                 return std::make_shared<ConstantLayer>(h.owned(value, h.parse_dtype(dtype)));
             }),
             py::arg("value"), py::arg("dtype"));

    // shape_fn(list of input shapes) -> output shape;
    // run_fn(list of input addresses, list of input shapes, output address, output shape, dtype).
    py::class_<CallbackLayer, Layer, std::shared_ptr<CallbackLayer>>(m, "Callback")
        .def(py::init([](const std::string &name, int n_inputs, py::object shape_fn, py::object run_fn) {
                 PyFn s(std::move(shape_fn)), r(std::move(run_fn));
                 CallbackLayer::ShapeFn sf = [s](const std::vector<Shape> &in) {
                     py::gil_scoped_acquire gil;
                     return (*s.fn)(py::cast(in)).cast<Shape>();
                 };
                 CallbackLayer::RunFn rf = [r](const std::vector<const void *> &in, const std::vector<Shape> &shapes,
                                               void *out, const Shape &out_shape, DType dtype) {
                     py::gil_scoped_acquire gil;
                     std::vector<uintptr_t> addrs;
                     for (auto *p : in) addrs.push_back(reinterpret_cast<uintptr_t>(p));
                     (*r.fn)(addrs, shapes, reinterpret_cast<uintptr_t>(out), out_shape,
                             std::string(dtype_name(dtype)));
                 };
                 return std::make_shared<CallbackLayer>(name, n_inputs, sf, rf);
             }),
             py::arg("name"), py::arg("n_inputs"), py::arg("shape_fn"), py::arg("run_fn"))
        .def_property_readonly("name", &CallbackLayer::name);

    auto layer = py::reinterpret_borrow<py::class_<Layer, std::shared_ptr<Layer>>>(m.attr("Layer"));
    layer.def_property_readonly("arity", &Layer::arity)
        .def("out_shape_n",
             [](const Layer &l, const std::vector<Shape> &in) { return py::tuple(py::cast(l.out_shape_n(in))); })
        .def(
            "forward_n",
            [h](Layer &l, const std::vector<uintptr_t> &in, const std::vector<Shape> &shapes, uintptr_t out,
                const std::string &dtype, const py::object &device) {
                DType d = h.parse_dtype(dtype);
                Device dev = h.parse_device(device);
                l.out_shape_n(shapes);
                std::vector<const void *> ptrs;
                for (auto p : in) ptrs.push_back(reinterpret_cast<const void *>(p));
                py::gil_scoped_release nogil;
                l.forward_n(ptrs, shapes, reinterpret_cast<void *>(out), d, dev);
            },
            py::arg("inputs"), py::arg("shapes"), py::arg("output"), py::arg("dtype"), py::arg("device") = "cpu");

    py::class_<Graph, std::shared_ptr<Graph>>(m, "Graph")
        .def(py::init<std::vector<std::shared_ptr<Layer>>, std::vector<std::vector<int>>, int>(), py::arg("layers"),
             py::arg("inputs"), py::arg("output"))
        .def_property_readonly("layers", &Graph::layers)
        .def_property_readonly("inputs", &Graph::inputs)
        .def_property_readonly("output", &Graph::output)
        // Everything that takes the graph's lock lets go of the GIL first: a forward holds
        // that lock while a TorchFunction node takes the GIL, so the opposite order deadlocks.
        .def("set_profiling", &Graph::set_profiling, py::arg("on"), py::call_guard<py::gil_scoped_release>())
        .def("layer_seconds", &Graph::layer_seconds, py::call_guard<py::gil_scoped_release>())
        .def("clear_cache", &Graph::clear_cache, py::call_guard<py::gil_scoped_release>(),
             "Forget the plan and every layer's kernels (after tuning changed what 'default' picks).")
        .def("value_layouts",
             [](const Graph &g) {
                 std::vector<Layout> layouts;
                 {
                     py::gil_scoped_release nogil;
                     layouts = g.value_layouts();
                 }
                 std::vector<std::string> out;
                 for (Layout l : layouts) out.push_back(l == Layout::nhwc ? "nhwc" : "nchw");
                 return out;
             })
        .def("out_shape", [](const Graph &g, const Shape &in) { return py::tuple(py::cast(g.out_shape(in))); })
        .def(
            "value_shapes",
            [h](const Graph &g, const Shape &in, const std::string &dtype) {
                py::list out;
                for (auto &s : g.value_shapes(in, h.parse_dtype(dtype))) out.append(py::tuple(py::cast(s)));
                return out;
            },
            py::arg("shape"), py::arg("dtype") = "float32", "The shape of every value for this input (0: the input).")
        .def(
            "plan",
            [h](const Graph &g, const Shape &in, const std::string &dtype) {
                auto p = g.plan(in, h.parse_dtype(dtype));
                py::dict d;
                d["shapes"] = p.shapes;
                d["slot"] = p.slot;
                d["slot_bytes"] = p.slot_bytes;
                return d;
            },
            py::arg("shape"), py::arg("dtype"),
            "The buffer plan for an input shape: shapes, slot per value, bytes per slot.")
        .def(
            "forward",
            [h](Graph &g, uintptr_t in, const Shape &in_shape, const std::string &dtype, const py::object &device) {
                DType d = h.parse_dtype(dtype);
                Device dev = h.parse_device(device);
                py::gil_scoped_release nogil;
                return g.forward(reinterpret_cast<const void *>(in), in_shape, d, dev);
            },
            py::arg("input"), py::arg("shape"), py::arg("dtype"), py::arg("device") = "cpu");
}

} // namespace ai3
