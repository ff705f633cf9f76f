// The CUDA backend's kernels as the registry sees them: one factory per
// (op, algorithm), defined in <op>/<algorithm>.{cu,cpp}, registered in register.cpp.
#pragma once
#include "ai3/registry.hpp"
#include "common.hpp"

namespace ai3::cuda {

// ---- conv2d ---------------------------------------------------------------------------
// cuDNN (conv2d/cudnn.cpp): one wrapper, the algorithm each name says.
template <class T> KernelPtr<Conv2d, T> make_conv2d_cudnn_gemm(const Conv2dParams &, const Device &);
template <class T> KernelPtr<Conv2d, T> make_conv2d_cudnn_implicit_gemm(const Conv2dParams &, const Device &);
template <class T> KernelPtr<Conv2d, T> make_conv2d_cudnn_implicit_precomp_gemm(const Conv2dParams &, const Device &);
template <class T> KernelPtr<Conv2d, T> make_conv2d_cudnn_winograd(const Conv2dParams &, const Device &);
template <class T> KernelPtr<Conv2d, T> make_conv2d_cudnn_guess(const Conv2dParams &, const Device &);
template <class T> KernelPtr<Conv2d, T> make_conv2d_cudnn_default(const Conv2dParams &, const Device &);
// ai3's own kernels. winograd: cuDNN's Winograd where it has one, else ai3's F(2x2, 3x3).
template <class T> KernelPtr<Conv2d, T> make_conv2d_winograd(const Conv2dParams &, const Device &);
template <class T> KernelPtr<Conv2d, T> make_conv2d_direct(const Conv2dParams &, const Device &);
template <class T> KernelPtr<Conv2d, T> make_conv2d_smm(const Conv2dParams &, const Device &);

// ---- the other ops ---------------------------------------------------------------------
template <class T> KernelPtr<Linear, T> make_linear_cublas(const LinearParams &, const Device &);
template <class T> KernelPtr<MaxPool2d, T> make_maxpool2d_direct(const Pool2dParams &, const Device &);
template <class T> KernelPtr<AvgPool2d, T> make_avgpool2d_direct(const Pool2dParams &, const Device &);
template <class T>
KernelPtr<AdaptiveAvgPool2d, T> make_adaptiveavgpool2d_direct(const AdaptiveAvgPool2dParams &, const Device &);
template <class T> KernelPtr<ReLU, T> make_relu_direct(const ElementwiseParams &, const Device &);
template <class T> KernelPtr<Flatten, T> make_flatten_direct(const ElementwiseParams &, const Device &);
template <class T> KernelPtr<Pad2d, T> make_pad2d_direct(const Pad2dParams &, const Device &);

// ---- graph ops (ai3.Model's graph form), one file each under <op>/direct.cu --------------
template <class T> KernelPtr<BatchNorm2d, T> make_batchnorm2d_direct(const BatchNorm2dParams &, const Device &);
template <class T> KernelPtr<Add, T> make_add_direct(const BinaryParams &, const Device &);
template <class T> KernelPtr<Mul, T> make_mul_direct(const BinaryParams &, const Device &);
template <class T> KernelPtr<Cat, T> make_cat_direct(const CatParams &, const Device &);
template <class T> KernelPtr<Split, T> make_split_direct(const SplitParams &, const Device &);
template <class T> KernelPtr<Permute, T> make_permute_direct(const PermuteParams &, const Device &);
template <class T> KernelPtr<Reshape, T> make_reshape_direct(const ElementwiseParams &, const Device &);
template <class T> KernelPtr<Mean, T> make_mean_direct(const MeanParams &, const Device &);
template <class T> KernelPtr<LayerNorm, T> make_layernorm_direct(const LayerNormParams &, const Device &);
template <class T> KernelPtr<ReLU6, T> make_relu6_direct(const ElementwiseParams &, const Device &);
template <class T> KernelPtr<Hardswish, T> make_hardswish_direct(const ElementwiseParams &, const Device &);
template <class T> KernelPtr<Hardsigmoid, T> make_hardsigmoid_direct(const ElementwiseParams &, const Device &);
template <class T> KernelPtr<SiLU, T> make_silu_direct(const ElementwiseParams &, const Device &);
template <class T> KernelPtr<Sigmoid, T> make_sigmoid_direct(const ElementwiseParams &, const Device &);
template <class T> KernelPtr<Gelu, T> make_gelu_direct(const GeluParams &, const Device &);

// Launchers other kernels reuse (stream-ordered, device pointers only).
template <class T> void launch_pad2d(const Pad2dParams &p, const T *in, T *out, cudaStream_t s);

// ---- a kernel of one input and one output --------------------------------------------------

template <class Op, class T> using UnaryLaunch = void (*)(const typename Op::Params &, const T *, T *, cudaStream_t);

// Stages host pointers, launches, and copies a host output back: pooling, relu, pad.
template <class Op, class T> class UnaryKernel final : public Kernel<Op, T> {
  public:
    UnaryKernel(const typename Op::Params &p, const Device &dev, UnaryLaunch<Op, T> launch, int64_t in_n, int64_t out_n)
        : p_(p), ctx_(context_of(dev)), launch_(launch), in_n_(std::size_t(in_n)), out_n_(std::size_t(out_n)) {}
    void run(const UnaryArgs<T> &a) override {
        if (out_n_ == 0) return;
        Run r(ctx_);
        const T *x = r.in(a.input, in_n_, ctx_.stage_in);
        T *y = r.out(a.output, out_n_);
        launch_(p_, x, y, r.stream());
        AI3_CUDA_CHECK_LAUNCH();
        r.finish(y);
    }

  private:
    typename Op::Params p_;
    Context &ctx_;
    UnaryLaunch<Op, T> launch_;
    std::size_t in_n_, out_n_;
};

// Parameters a kernel keeps on the device: used in place when they already are
// device memory; owned host parameters (ai3.Model's, which never change) are uploaded
// once; borrowed host parameters (a CPU tensor given to a CUDA layer) are uploaded on
// every call, as the input is: a fingerprint to skip it would read as many bytes.
template <class T> class DeviceParam {
  public:
    const T *get(const T *p, std::size_t n, bool owned, Run &r, DevMem &stage) {
        if (!p || is_device_pointer(p, r.ctx().device)) return p;
        if (!owned) return r.in(p, n, stage);
        if (src_ != p) {
            void *d = mem_.ensure(n * sizeof(T), r.stream());
            AI3_CUDA_CHECK(cudaMemcpyAsync(d, p, n * sizeof(T), cudaMemcpyHostToDevice, r.stream()));
            src_ = p;
        }
        return static_cast<const T *>(mem_.data());
    }

  private:
    DevMem mem_;
    const T *src_ = nullptr;
};

} // namespace ai3::cuda
