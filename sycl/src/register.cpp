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
    add<Conv2d, make_conv_implicit_precomp_gemm<float>, make_conv_implicit_precomp_gemm<double>>(r, "implicit precomp gemm");
    add<Conv2d, make_conv_winograd<float>, make_conv_winograd<double>>(r, "winograd");
    add<Linear, make_linear<float>, make_linear<double>>(r, "direct");
    add<MaxPool2d, make_maxpool2d<float>, make_maxpool2d<double>>(r, "direct");
    add<AvgPool2d, make_avgpool2d<float>, make_avgpool2d<double>>(r, "direct");
    add<AdaptiveAvgPool2d, make_adaptiveavgpool2d<float>, make_adaptiveavgpool2d<double>>(r, "direct");
    add<ReLU, make_relu<float>, make_relu<double>>(r, "direct");
    add<Flatten, make_flatten<float>, make_flatten<double>>(r, "direct");
    add<Pad2d, make_pad2d<float>, make_pad2d<double>>(r, "direct");
}

} // namespace ai3::syclrt
