// Every SYCL kernel ai3 has, one registration line each (float32 and float64;
// float64 kernels refuse devices without aspect::fp64 when built).
#include "kernels.hpp"

namespace ai3::syclrt {

namespace {
template <class Op, Factory<Op, float> F32, Factory<Op, double> F64> void add(Registry &r, const char *algorithm) {
    r.add<Op, float>(algorithm, Backend::sycl, F32);
    r.add<Op, double>(algorithm, Backend::sycl, F64);
}
} // namespace

void register_sycl(Registry &r) {
    add<Conv2d, make_conv_direct<float>, make_conv_direct<double>>(r, "direct");
    add<Conv2d, make_conv_smm<float>, make_conv_smm<double>>(r, "smm");
    add<Conv2d, make_conv_gemm<float>, make_conv_gemm<double>>(r, "gemm");
    add<Conv2d, make_conv_implicit_gemm<float>, make_conv_implicit_gemm<double>>(r, "implicit gemm");
    add<Conv2d, make_conv_implicit_precomp_gemm<float>, make_conv_implicit_precomp_gemm<double>>(
        r, "implicit precomp gemm");
    add<Conv2d, make_conv_winograd<float>, make_conv_winograd<double>>(r, "winograd");
    add<Linear, make_linear<float>, make_linear<double>>(r, "direct");
    add<MaxPool2d, make_maxpool2d<float>, make_maxpool2d<double>>(r, "direct");
    add<AvgPool2d, make_avgpool2d<float>, make_avgpool2d<double>>(r, "direct");
    add<AdaptiveAvgPool2d, make_adaptiveavgpool2d<float>, make_adaptiveavgpool2d<double>>(r, "direct");
    add<ReLU, make_relu<float>, make_relu<double>>(r, "direct");
    add<Flatten, make_flatten<float>, make_flatten<double>>(r, "direct");
    add<Pad2d, make_pad2d<float>, make_pad2d<double>>(r, "direct");
    add<BatchNorm2d, make_batchnorm2d<float>, make_batchnorm2d<double>>(r, "direct");
    add<Add, make_add<float>, make_add<double>>(r, "direct");
    add<Mul, make_mul<float>, make_mul<double>>(r, "direct");
    add<Cat, make_cat<float>, make_cat<double>>(r, "direct");
    add<Split, make_split<float>, make_split<double>>(r, "direct");
    add<Permute, make_permute<float>, make_permute<double>>(r, "direct");
    add<Reshape, make_reshape<float>, make_reshape<double>>(r, "direct");
    add<Mean, make_mean<float>, make_mean<double>>(r, "direct");
    add<LayerNorm, make_layernorm<float>, make_layernorm<double>>(r, "direct");
    add<ReLU6, make_relu6<float>, make_relu6<double>>(r, "direct");
    add<Hardswish, make_hardswish<float>, make_hardswish<double>>(r, "direct");
    add<Hardsigmoid, make_hardsigmoid<float>, make_hardsigmoid<double>>(r, "direct");
    add<SiLU, make_silu<float>, make_silu<double>>(r, "direct");
    add<Sigmoid, make_sigmoid<float>, make_sigmoid<double>>(r, "direct");
    add<Gelu, make_gelu<float>, make_gelu<double>>(r, "direct");
}

} // namespace ai3::syclrt
