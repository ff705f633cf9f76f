// The portable C++ fallback kernels (float and double, multithreaded through
// ai3::parallel_for). One file per (op, algorithm); each template is explicitly
// instantiated for float and double in its .cpp and registered in register.cpp.
#pragma once
#include "ai3/ops.hpp"
#include "ai3/registry.hpp"

namespace ai3::fallback {

// Convolution (one file per algorithm in conv2d/; the lowering ones below):
//  direct: the loop nest itself, register/cache blocked, no lowering.
//  smm:    im2col of a whole (image, group) into one column matrix, then one GEMM.
//  gemm:   explicit lowering panel by panel (memory O(panel)), each panel GEMMed
//          straight into its output slice.
template <class T> void conv2d_direct(const Conv2dParams &p, const Conv2d::Args<T> &a);
template <class T> void conv2d_smm(const Conv2dParams &p, const Conv2d::Args<T> &a);
template <class T> void conv2d_gemm(const Conv2dParams &p, const Conv2d::Args<T> &a);
namespace detail {
// The NHWC kernels (Conv2dParams::layout == nhwc) behind direct (depthwise layers) and
// smm/gemm (1x1 layers); see depthwise_nhwc.cpp and pointwise_nhwc.cpp.
template <class T> void conv2d_depthwise_nhwc(const Conv2dParams &p, const Conv2d::Args<T> &a);
template <class T> void conv2d_1x1_nhwc(const Conv2dParams &p, const Conv2d::Args<T> &a);
} // namespace detail
// implicit gemm: GEMM over the implicit matrix, the packing gathers straight from the
// input (coordinates decoded on the fly). implicit precomp gemm: the same with the
// input offsets precomputed once per layer shape (a kernel object owning the tables).
template <class T> void conv2d_implicit_gemm(const Conv2dParams &p, const Conv2d::Args<T> &a);
template <class T> KernelPtr<Conv2d, T> conv2d_implicit_precomp_gemm(const Conv2dParams &p, const Device &dev);
// winograd: F(2x2,3x3) / F(4x4,3x3) for 3x3, stride 1, dilation 1 (throws Unimplemented
// otherwise). A kernel object, because it caches the transformed filters per weight version.
template <class T> KernelPtr<Conv2d, T> make_winograd(const Conv2dParams &p, const Device &dev);

template <class T> void linear_direct(const LinearParams &p, const Linear::Args<T> &a);

template <class T> void maxpool2d_direct(const Pool2dParams &p, const UnaryArgs<T> &a);
template <class T> void avgpool2d_direct(const Pool2dParams &p, const UnaryArgs<T> &a);
template <class T> void adaptiveavgpool2d_direct(const AdaptiveAvgPool2dParams &p, const UnaryArgs<T> &a);

template <class T> void relu_direct(const ElementwiseParams &p, const UnaryArgs<T> &a);
template <class T> void flatten_direct(const ElementwiseParams &p, const UnaryArgs<T> &a);
template <class T> void pad2d_direct(const Pad2dParams &p, const UnaryArgs<T> &a);

// Graph operations (ai3.Model's graph form), one "direct" kernel each.
template <class T> void batchnorm2d_direct(const BatchNorm2dParams &p, const BatchNorm2d::Args<T> &a);
template <class T> void add_direct(const BinaryParams &p, const BinaryArgs<T> &a);
template <class T> void mul_direct(const BinaryParams &p, const BinaryArgs<T> &a);
template <class T> void cat_direct(const CatParams &p, const Cat::Args<T> &a);
template <class T> void split_direct(const SplitParams &p, const UnaryArgs<T> &a);
template <class T> void permute_direct(const PermuteParams &p, const UnaryArgs<T> &a);
template <class T> void reshape_direct(const ElementwiseParams &p, const UnaryArgs<T> &a);
template <class T> void mean_direct(const MeanParams &p, const UnaryArgs<T> &a);
template <class T> void layernorm_direct(const LayerNormParams &p, const LayerNorm::Args<T> &a);
template <class T> void relu6_direct(const ElementwiseParams &p, const UnaryArgs<T> &a);
template <class T> void hardswish_direct(const ElementwiseParams &p, const UnaryArgs<T> &a);
template <class T> void hardsigmoid_direct(const ElementwiseParams &p, const UnaryArgs<T> &a);
template <class T> void silu_direct(const ElementwiseParams &p, const UnaryArgs<T> &a);
template <class T> void sigmoid_direct(const ElementwiseParams &p, const UnaryArgs<T> &a);
template <class T> void gelu_direct(const GeluParams &p, const UnaryArgs<T> &a);

} // namespace ai3::fallback
