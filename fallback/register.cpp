#include "register.hpp"
#include "kernels.hpp"

namespace ai3 {

void register_fallback(Registry &r) {
    using namespace fallback;
    r.add_fn<Conv2d, conv2d_direct<float>, conv2d_direct<double>>("direct", Backend::cpu);
    r.add_fn<Conv2d, conv2d_smm<float>, conv2d_smm<double>>("smm", Backend::cpu);
    r.add_fn<Conv2d, conv2d_gemm<float>, conv2d_gemm<double>>("gemm", Backend::cpu);
    r.add_fn<Conv2d, conv2d_implicit_gemm<float>, conv2d_implicit_gemm<double>>("implicit gemm", Backend::cpu);
    r.add<Conv2d, float>("implicit precomp gemm", Backend::cpu, &conv2d_implicit_precomp_gemm<float>);
    r.add<Conv2d, double>("implicit precomp gemm", Backend::cpu, &conv2d_implicit_precomp_gemm<double>);
    r.add<Conv2d, float>("winograd", Backend::cpu, &make_winograd<float>);
    r.add<Conv2d, double>("winograd", Backend::cpu, &make_winograd<double>);
    r.add_fn<Linear, linear_direct<float>, linear_direct<double>>("direct", Backend::cpu);
    r.add_fn<MaxPool2d, maxpool2d_direct<float>, maxpool2d_direct<double>>("direct", Backend::cpu);
    r.add_fn<AvgPool2d, avgpool2d_direct<float>, avgpool2d_direct<double>>("direct", Backend::cpu);
    r.add_fn<AdaptiveAvgPool2d, adaptiveavgpool2d_direct<float>, adaptiveavgpool2d_direct<double>>("direct",
                                                                                                   Backend::cpu);
    r.add_fn<ReLU, relu_direct<float>, relu_direct<double>>("direct", Backend::cpu);
    r.add_fn<Flatten, flatten_direct<float>, flatten_direct<double>>("direct", Backend::cpu);
    r.add_fn<BatchNorm2d, batchnorm2d_direct<float>, batchnorm2d_direct<double>>("direct", Backend::cpu);
    r.add_fn<Add, add_direct<float>, add_direct<double>>("direct", Backend::cpu);
    r.add_fn<Mul, mul_direct<float>, mul_direct<double>>("direct", Backend::cpu);
    r.add_fn<Cat, cat_direct<float>, cat_direct<double>>("direct", Backend::cpu);
    r.add_fn<Split, split_direct<float>, split_direct<double>>("direct", Backend::cpu);
    r.add_fn<Permute, permute_direct<float>, permute_direct<double>>("direct", Backend::cpu);
    r.add_fn<Reshape, reshape_direct<float>, reshape_direct<double>>("direct", Backend::cpu);
    r.add_fn<Mean, mean_direct<float>, mean_direct<double>>("direct", Backend::cpu);
    r.add_fn<LayerNorm, layernorm_direct<float>, layernorm_direct<double>>("direct", Backend::cpu);
    r.add_fn<ReLU6, relu6_direct<float>, relu6_direct<double>>("direct", Backend::cpu);
    r.add_fn<Hardswish, hardswish_direct<float>, hardswish_direct<double>>("direct", Backend::cpu);
    r.add_fn<Hardsigmoid, hardsigmoid_direct<float>, hardsigmoid_direct<double>>("direct", Backend::cpu);
    r.add_fn<SiLU, silu_direct<float>, silu_direct<double>>("direct", Backend::cpu);
    r.add_fn<Sigmoid, sigmoid_direct<float>, sigmoid_direct<double>>("direct", Backend::cpu);
    r.add_fn<Gelu, gelu_direct<float>, gelu_direct<double>>("direct", Backend::cpu);
    r.add_fn<Pad2d, pad2d_direct<float>, pad2d_direct<double>>("direct", Backend::cpu);
}

} // namespace ai3
