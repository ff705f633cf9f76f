// The SYCL backend's Kernel factories (src/layers.cpp, src/conv2d.cpp,
// src/graph_ops.cpp), registered
// by src/register.cpp.
#pragma once
#include "ai3/registry.hpp"

namespace ai3::syclrt {

template <class T> KernelPtr<ReLU, T> make_relu(const ElementwiseParams &, const Device &);
template <class T> KernelPtr<Flatten, T> make_flatten(const ElementwiseParams &, const Device &);
template <class T> KernelPtr<MaxPool2d, T> make_maxpool2d(const Pool2dParams &, const Device &);
template <class T> KernelPtr<AvgPool2d, T> make_avgpool2d(const Pool2dParams &, const Device &);
template <class T>
KernelPtr<AdaptiveAvgPool2d, T> make_adaptiveavgpool2d(const AdaptiveAvgPool2dParams &, const Device &);
template <class T> KernelPtr<Pad2d, T> make_pad2d(const Pad2dParams &, const Device &);
template <class T> KernelPtr<Linear, T> make_linear(const LinearParams &, const Device &);

template <class T> KernelPtr<Conv2d, T> make_conv_direct(const Conv2dParams &, const Device &);
template <class T> KernelPtr<Conv2d, T> make_conv_smm(const Conv2dParams &, const Device &);
template <class T> KernelPtr<Conv2d, T> make_conv_gemm(const Conv2dParams &, const Device &);
template <class T> KernelPtr<Conv2d, T> make_conv_implicit_gemm(const Conv2dParams &, const Device &);
template <class T> KernelPtr<Conv2d, T> make_conv_implicit_precomp_gemm(const Conv2dParams &, const Device &);
template <class T> KernelPtr<Conv2d, T> make_conv_winograd(const Conv2dParams &, const Device &);

// Graph ops (src/graph_ops.cpp).
template <class T> KernelPtr<BatchNorm2d, T> make_batchnorm2d(const BatchNorm2dParams &, const Device &);
template <class T> KernelPtr<Add, T> make_add(const BinaryParams &, const Device &);
template <class T> KernelPtr<Mul, T> make_mul(const BinaryParams &, const Device &);
template <class T> KernelPtr<Cat, T> make_cat(const CatParams &, const Device &);
template <class T> KernelPtr<Split, T> make_split(const SplitParams &, const Device &);
template <class T> KernelPtr<Permute, T> make_permute(const PermuteParams &, const Device &);
template <class T> KernelPtr<Reshape, T> make_reshape(const ElementwiseParams &, const Device &);
template <class T> KernelPtr<Mean, T> make_mean(const MeanParams &, const Device &);
template <class T> KernelPtr<LayerNorm, T> make_layernorm(const LayerNormParams &, const Device &);
template <class T> KernelPtr<ReLU6, T> make_relu6(const ElementwiseParams &, const Device &);
template <class T> KernelPtr<Hardswish, T> make_hardswish(const ElementwiseParams &, const Device &);
template <class T> KernelPtr<Hardsigmoid, T> make_hardsigmoid(const ElementwiseParams &, const Device &);
template <class T> KernelPtr<SiLU, T> make_silu(const ElementwiseParams &, const Device &);
template <class T> KernelPtr<Sigmoid, T> make_sigmoid(const ElementwiseParams &, const Device &);
template <class T> KernelPtr<Gelu, T> make_gelu(const GeluParams &, const Device &);

void register_sycl(Registry &r);

} // namespace ai3::syclrt
