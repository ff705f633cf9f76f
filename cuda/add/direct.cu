// add on the GPU: a + b with torch broadcasting (residual connections, biases).
// The output may alias an operand of its own shape (see broadcast.cuh).
#include "broadcast.cuh"

namespace ai3::cuda {

namespace {

template <class T> struct AddFn {
    __device__ T operator()(T x, T y) const { return x + y; }
};

} // namespace

template <class T> KernelPtr<Add, T> make_add_direct(const BinaryParams &p, const Device &dev) {
    AI3_CHECK(p.rank >= 0 && p.rank <= kMaxRank, ValueError, "add: rank ", p.rank, " is outside [0, ", kMaxRank, "]");
    return std::make_unique<BroadcastKernel<Add, T, AddFn<T>>>(p, dev);
}
template KernelPtr<Add, float> make_add_direct<float>(const BinaryParams &, const Device &);
template KernelPtr<Add, double> make_add_direct<double>(const BinaryParams &, const Device &);

} // namespace ai3::cuda
