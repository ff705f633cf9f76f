// The portable C++ fallback kernels (float and double, multithreaded through
// ai3::parallel_for). One file per (op, algorithm); each template is explicitly
// instantiated for float and double in its .cpp and registered in register.cpp.
#pragma once
#include "ai3/ops.hpp"
#include "ai3/registry.hpp"

namespace ai3::fallback {

// Convolution, four algorithms:
//  direct: the loop nest itself, register/cache blocked, no lowering.
//  smm:    im2col of a whole (image, group) into one column matrix, then one GEMM.
//  gemm:   explicit lowering panel by panel (memory O(panel)), each panel GEMMed
//          straight into its output slice.
template <class T> void conv2d_direct(const Conv2dParams &p, const Conv2d::Args<T> &a);
template <class T> void conv2d_smm(const Conv2dParams &p, const Conv2d::Args<T> &a);
template <class T> void conv2d_gemm(const Conv2dParams &p, const Conv2d::Args<T> &a);
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

} // namespace ai3::fallback
