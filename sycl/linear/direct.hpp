// linear, y[M, N] = x[M, K] w[N, K]^T + b: the shared register-blocked GEMM
// (gemm/gemm.hpp) with rows = output features (so a work-item's TM accumulators
// share one input row element) and columns = input rows; the host sets strides.
#pragma once
#include "../gemm/gemm.hpp"
