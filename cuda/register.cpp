// register_cuda: every CUDA kernel, one line each, plus the backend's device memory.
#include "kernels.hpp"

namespace ai3::cuda {

namespace {

// Device memory for ai3.Model's activation buffers on a CUDA device. Copies are
// stream-ordered on the device's stream; cudaMemcpyDefault lets CUDA tell host from
// device memory (unified addressing), so one call serves every direction.
struct CudaDeviceOps final : DeviceOps {
    void *alloc(std::size_t bytes, const Device &dev) override {
        Context &ctx = context_of(dev);
        DeviceGuard g(ctx.device);
        void *p = nullptr;
        AI3_CUDA_CHECK(cudaMalloc(&p, bytes));
        return p;
    }
    void free(void *p, const Device &dev) noexcept override {
        // cudaFree waits for work using the block; errors at exit are ignored.
        auto *ctx = static_cast<Context *>(dev.handle);
        int prev = -1;
        cudaGetDevice(&prev);
        if (ctx && prev != ctx->device) cudaSetDevice(ctx->device);
        cudaFree(p);
        if (ctx && prev >= 0 && prev != ctx->device) cudaSetDevice(prev);
    }
    void copy(void *dst, const void *src, std::size_t bytes, const Device &dev) override {
        Context &ctx = context_of(dev);
        DeviceGuard g(ctx.device);
        AI3_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, ctx.stream));
    }
    void synchronize(const Device &dev) override {
        Context &ctx = context_of(dev);
        DeviceGuard g(ctx.device);
        AI3_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
    }
};

} // namespace

void register_cuda(Registry &r) {
    const Backend B = Backend::cuda;
    // conv2d: cuDNN's algorithms under their names, ai3's own kernels for direct and smm.
    r.add<Conv2d, float>("gemm", B, &make_conv2d_cudnn_gemm<float>);
    r.add<Conv2d, double>("gemm", B, &make_conv2d_cudnn_gemm<double>);
    r.add<Conv2d, float>("implicit gemm", B, &make_conv2d_cudnn_implicit_gemm<float>);
    r.add<Conv2d, double>("implicit gemm", B, &make_conv2d_cudnn_implicit_gemm<double>);
    r.add<Conv2d, float>("implicit precomp gemm", B, &make_conv2d_cudnn_implicit_precomp_gemm<float>);
    r.add<Conv2d, double>("implicit precomp gemm", B, &make_conv2d_cudnn_implicit_precomp_gemm<double>);
    r.add<Conv2d, float>("winograd", B, &make_conv2d_winograd<float>);
    r.add<Conv2d, double>("winograd", B, &make_conv2d_winograd<double>);
    r.add<Conv2d, float>("guess", B, &make_conv2d_cudnn_guess<float>);
    r.add<Conv2d, double>("guess", B, &make_conv2d_cudnn_guess<double>);
    r.add<Conv2d, float>("default", B, &make_conv2d_cudnn_default<float>);
    r.add<Conv2d, double>("default", B, &make_conv2d_cudnn_default<double>);
    r.add<Conv2d, float>("direct", B, &make_conv2d_direct<float>);
    r.add<Conv2d, double>("direct", B, &make_conv2d_direct<double>);
    r.add<Conv2d, float>("smm", B, &make_conv2d_smm<float>);
    r.add<Conv2d, double>("smm", B, &make_conv2d_smm<double>);
    // The other ops.
    r.add<Linear, float>("direct", B, &make_linear_cublas<float>);
    r.add<Linear, double>("direct", B, &make_linear_cublas<double>);
    r.add<MaxPool2d, float>("direct", B, &make_maxpool2d_direct<float>);
    r.add<MaxPool2d, double>("direct", B, &make_maxpool2d_direct<double>);
    r.add<AvgPool2d, float>("direct", B, &make_avgpool2d_direct<float>);
    r.add<AvgPool2d, double>("direct", B, &make_avgpool2d_direct<double>);
    r.add<AdaptiveAvgPool2d, float>("direct", B, &make_adaptiveavgpool2d_direct<float>);
    r.add<AdaptiveAvgPool2d, double>("direct", B, &make_adaptiveavgpool2d_direct<double>);
    r.add<ReLU, float>("direct", B, &make_relu_direct<float>);
    r.add<ReLU, double>("direct", B, &make_relu_direct<double>);
    r.add<Flatten, float>("direct", B, &make_flatten_direct<float>);
    r.add<Flatten, double>("direct", B, &make_flatten_direct<double>);
    r.add<Pad2d, float>("direct", B, &make_pad2d_direct<float>);
    r.add<Pad2d, double>("direct", B, &make_pad2d_direct<double>);
    // The graph ops (ai3.Model's graph form: swap_backend of ResNets, MobileNets, ConvNeXt, ...).
    r.add<BatchNorm2d, float>("direct", B, &make_batchnorm2d_direct<float>);
    r.add<BatchNorm2d, double>("direct", B, &make_batchnorm2d_direct<double>);
    r.add<Add, float>("direct", B, &make_add_direct<float>);
    r.add<Add, double>("direct", B, &make_add_direct<double>);
    r.add<Mul, float>("direct", B, &make_mul_direct<float>);
    r.add<Mul, double>("direct", B, &make_mul_direct<double>);
    r.add<Cat, float>("direct", B, &make_cat_direct<float>);
    r.add<Cat, double>("direct", B, &make_cat_direct<double>);
    r.add<Split, float>("direct", B, &make_split_direct<float>);
    r.add<Split, double>("direct", B, &make_split_direct<double>);
    r.add<Permute, float>("direct", B, &make_permute_direct<float>);
    r.add<Permute, double>("direct", B, &make_permute_direct<double>);
    r.add<Reshape, float>("direct", B, &make_reshape_direct<float>);
    r.add<Reshape, double>("direct", B, &make_reshape_direct<double>);
    r.add<Mean, float>("direct", B, &make_mean_direct<float>);
    r.add<Mean, double>("direct", B, &make_mean_direct<double>);
    r.add<LayerNorm, float>("direct", B, &make_layernorm_direct<float>);
    r.add<LayerNorm, double>("direct", B, &make_layernorm_direct<double>);
    r.add<ReLU6, float>("direct", B, &make_relu6_direct<float>);
    r.add<ReLU6, double>("direct", B, &make_relu6_direct<double>);
    r.add<Hardswish, float>("direct", B, &make_hardswish_direct<float>);
    r.add<Hardswish, double>("direct", B, &make_hardswish_direct<double>);
    r.add<Hardsigmoid, float>("direct", B, &make_hardsigmoid_direct<float>);
    r.add<Hardsigmoid, double>("direct", B, &make_hardsigmoid_direct<double>);
    r.add<SiLU, float>("direct", B, &make_silu_direct<float>);
    r.add<SiLU, double>("direct", B, &make_silu_direct<double>);
    r.add<Sigmoid, float>("direct", B, &make_sigmoid_direct<float>);
    r.add<Sigmoid, double>("direct", B, &make_sigmoid_direct<double>);
    r.add<Gelu, float>("direct", B, &make_gelu_direct<float>);
    r.add<Gelu, double>("direct", B, &make_gelu_direct<double>);
    r.set_device_ops(B, std::make_shared<CudaDeviceOps>());
}

} // namespace ai3::cuda
