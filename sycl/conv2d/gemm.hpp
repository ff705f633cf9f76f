// conv2d 'gemm' (cuDNN's sense): explicit lowering panel by panel. For each image,
// a panel of output columns is lowered (conv2d/im2col.hpp with a panel width sized
// to stay cache resident) and multiplied straight into that slice of the output
// (gemm/gemm.hpp), so scratch memory is O(panel), not O(whole im2col).
#pragma once
#include "../conv2d/im2col.hpp"
#include "../gemm/gemm.hpp"
