// mul on the GPU: a * b with torch broadcasting (SE gates, layer scales).
// The output may alias an operand of its own shape (see broadcast.cuh).
#include "broadcast.cuh"

namespace ai3::cuda {

namespace {

template <class T> struct MulFn {
    __device__ T operator()(T x, T y) const { return x * y; }
};

} // namespace

template <class T> KernelPtr<Mul, T> make_mul_direct(const BinaryParams &p, const Device &dev) {
    AI3_CHECK(p.rank >= 0 && p.rank <= kMaxRank, ValueError, "mul: rank ", p.rank, " is outside [0, ", kMaxRank, "]");
    return std::make_unique<BroadcastKernel<Mul, T, MulFn<T>>>(p, dev);
}
template KernelPtr<Mul, float> make_mul_direct<float>(const BinaryParams &, const Device &);
template KernelPtr<Mul, double> make_mul_direct<double>(const BinaryParams &, const Device &);

} // namespace ai3::cuda
