// Device code shared by the pointwise graph ops (relu6, hardswish, hardsigmoid, silu,
// sigmoid, gelu): one grid-stride map over n elements. Each op's own file supplies the
// scalar function, so the arithmetic stays per op (as fallback/pointwise.hpp does on CPU).
// Included only by .cu files.
#pragma once
#include "kernels.hpp"

namespace ai3::cuda {

// The math policy of ai3/ops.hpp's transcendental activations under nvcc, by overload:
// float calls the single-precision function, never a silent promotion to double (slow on
// most GPUs) or a demotion of double.
struct CudaMath {
    __host__ __device__ static float exp(float x) { return expf(x); }
    __host__ __device__ static double exp(double x) { return ::exp(x); }
    __host__ __device__ static float erf(float x) { return erff(x); }
    __host__ __device__ static double erf(double x) { return ::erf(x); }
    __host__ __device__ static float tanh(float x) { return tanhf(x); }
    __host__ __device__ static double tanh(double x) { return ::tanh(x); }
};

// No __restrict__: the ops run in place (in == out), and each element is read by the
// thread that writes it, so aliasing is safe.
template <class T, class F> __global__ void pointwise_kernel(const T *in, T *out, int64_t n, F f) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        out[i] = f(in[i]);
}

// The caller (UnaryKernel::run) checks the launch.
template <class T, class F> void launch_pointwise(int64_t n, const T *in, T *out, F f, cudaStream_t s) {
    if (n <= 0) return;
    pointwise_kernel<T, F><<<blocks_for(n), kThreads, 0, s>>>(in, out, n, f);
}

} // namespace ai3::cuda
