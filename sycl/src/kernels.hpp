// The SYCL backend's Kernel factories (src/layers.cpp, src/conv2d.cpp), registered
// by src/register.cpp.
#pragma once
#include "ai3/registry.hpp"

namespace ai3::syclrt {

template <class T> KernelPtr<ReLU, T> make_relu(const ElementwiseParams &, const Device &);
template <class T> KernelPtr<Flatten, T> make_flatten(const ElementwiseParams &, const Device &);
template <class T> KernelPtr<MaxPool2d, T> make_maxpool2d(const Pool2dParams &, const Device &);
template <class T> KernelPtr<AvgPool2d, T> make_avgpool2d(const Pool2dParams &, const Device &);
template <class T> KernelPtr<AdaptiveAvgPool2d, T> make_adaptiveavgpool2d(const AdaptiveAvgPool2dParams &, const Device &);
template <class T> KernelPtr<Pad2d, T> make_pad2d(const Pad2dParams &, const Device &);
template <class T> KernelPtr<Linear, T> make_linear(const LinearParams &, const Device &);

template <class T> KernelPtr<Conv2d, T> make_conv_direct(const Conv2dParams &, const Device &);
template <class T> KernelPtr<Conv2d, T> make_conv_smm(const Conv2dParams &, const Device &);
template <class T> KernelPtr<Conv2d, T> make_conv_gemm(const Conv2dParams &, const Device &);
template <class T> KernelPtr<Conv2d, T> make_conv_implicit_gemm(const Conv2dParams &, const Device &);
template <class T> KernelPtr<Conv2d, T> make_conv_implicit_precomp_gemm(const Conv2dParams &, const Device &);
template <class T> KernelPtr<Conv2d, T> make_conv_winograd(const Conv2dParams &, const Device &);

void register_sycl(Registry &r);

} // namespace ai3::syclrt
