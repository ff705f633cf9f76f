// Entry point of the graph bindings (graph_bindings.cpp), called from _core's init.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "ai3/graph.hpp"

namespace ai3 {

// The conversions the core bindings define, shared so both parse alike.
struct GraphHelpers {
    DType (*parse_dtype)(const std::string &);
    Device (*parse_device)(const pybind11::object &);
    Tensor (*owned)(const pybind11::array &, DType);
};

void bind_graph(pybind11::module_ &m, const GraphHelpers &helpers);

} // namespace ai3
