// conv2d 'smm': im2col of the whole input into one column matrix (conv2d/im2col.hpp
// with width P*Q over every image and channel), then one batched GEMM (gemm/gemm.hpp)
// over (image, group): out[n, g] = W[g] (Kg x Cg*R*S) * col[n, g] (Cg*R*S x P*Q).
// The launch sequence lives in src/conv2d.cpp; the device code is those two kernels.
#pragma once
#include "../conv2d/im2col.hpp"
#include "../gemm/gemm.hpp"
