// Op descriptions shared by every backend: the shape/hyper-parameters of one call
// (Params, fixed per (layer, input shape)) and the pointers of one call (Args).
// All tensors are dense row-major (NCHW for images). Sizes are 64-bit.
#pragma once
#include <cstdint>

namespace ai3 {

// Convolution with implicit zero padding: any input index outside [0,H)x[0,W) reads 0.
// Only the leading pads are stored; P and Q (computed by the caller from both pads,
// stride and dilation) fix the trailing ones, so asymmetric 'same' padding needs no
// special case. Other padding modes are materialised by the caller before the kernel.
struct Conv2dParams {
    int64_t N = 0, C = 0, H = 0, W = 0; // input
    int64_t K = 0, R = 0, S = 0;        // weight is K x (C/groups) x R x S
    int64_t P = 0, Q = 0;               // output spatial size
    int64_t stride_h = 1, stride_w = 1;
    int64_t pad_h = 0, pad_w = 0;       // leading (top, left) zero padding
    int64_t dil_h = 1, dil_w = 1;
    int64_t groups = 1;
    bool has_bias = false;
    // Fused epilogue: y = max(0, conv + bias), for a conv a ReLU directly follows
    // (ai3.Model fuses them so the output is written once, not re-read by a ReLU).
    bool relu = false;
};

struct Conv2d {
    static constexpr const char *name = "conv2d";
    using Params = Conv2dParams;
    template <class T> struct Args {
        const T *input;  // N x C x H x W
        const T *weight; // K x C/groups x R x S
        const T *bias;   // K, or nullptr
        T *output;       // N x K x P x Q
        // Changes whenever the weight's contents change through torch (its version
        // counter). Writes through `.data` bypass that counter, so unless
        // `weight_owned` (ai3 owns the memory and never changes it), kernels that cache
        // data derived from the weight must also compare a fingerprint() of it.
        uint64_t weight_version = 0;
        bool weight_owned = false;
    };
};

// y[M, N] = x[M, K] @ w[N, K]^T + b[N]
struct LinearParams {
    int64_t M = 0, K = 0, N = 0;
    bool has_bias = false;
};

struct Linear {
    static constexpr const char *name = "linear";
    using Params = LinearParams;
    template <class T> struct Args {
        const T *input;
        const T *weight;
        const T *bias;
        T *output;
    };
};

// Shared by max and average pooling. P and Q already account for ceil_mode.
struct Pool2dParams {
    int64_t N = 0, C = 0, H = 0, W = 0; // N*C planes are independent
    int64_t kh = 1, kw = 1;
    int64_t stride_h = 1, stride_w = 1;
    int64_t pad_h = 0, pad_w = 0;
    int64_t dil_h = 1, dil_w = 1;       // maxpool only
    int64_t P = 0, Q = 0;
    bool count_include_pad = true;      // avgpool only
    int64_t divisor_override = 0;       // avgpool only; 0 = none
};

template <class T> struct UnaryArgs {
    const T *input;
    T *output;
};

struct MaxPool2d {
    static constexpr const char *name = "maxpool2d";
    using Params = Pool2dParams;
    template <class T> using Args = UnaryArgs<T>;
};

struct AvgPool2d {
    static constexpr const char *name = "avgpool2d";
    using Params = Pool2dParams;
    template <class T> using Args = UnaryArgs<T>;
};

// torch's adaptive pooling: output cell (p, q) averages rows
// [floor(p*H/P), ceil((p+1)*H/P)) and the same for columns.
struct AdaptiveAvgPool2dParams {
    int64_t N = 0, C = 0, H = 0, W = 0, P = 0, Q = 0;
};

struct AdaptiveAvgPool2d {
    static constexpr const char *name = "adaptiveavgpool2d";
    using Params = AdaptiveAvgPool2dParams;
    template <class T> using Args = UnaryArgs<T>;
};

struct ElementwiseParams {
    int64_t n = 0;
};

struct ReLU {
    static constexpr const char *name = "relu";
    using Params = ElementwiseParams;
    template <class T> using Args = UnaryArgs<T>;
};

// Flatten changes only the shape; its kernel is the copy into the output buffer.
struct Flatten {
    static constexpr const char *name = "flatten";
    using Params = ElementwiseParams;
    template <class T> using Args = UnaryArgs<T>;
};

// Explicit padding for conv padding_mode 'reflect', 'replicate' and 'circular'
// (torch semantics of F.pad on the last two dims). Output is N x C x (H+top+bottom) x (W+left+right).
enum class PadMode : uint8_t { zeros = 0, reflect = 1, replicate = 2, circular = 3 };

struct Pad2dParams {
    int64_t N = 0, C = 0, H = 0, W = 0;
    int64_t top = 0, bottom = 0, left = 0, right = 0;
    PadMode mode = PadMode::zeros;
};

struct Pad2d {
    static constexpr const char *name = "pad2d";
    using Params = Pad2dParams;
    template <class T> using Args = UnaryArgs<T>;
};

} // namespace ai3
