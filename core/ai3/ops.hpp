// Op descriptions shared by every backend: the shape/hyper-parameters of one call
// (Params, fixed per (layer, input shape)) and the pointers of one call (Args).
// All tensors are dense row-major (NCHW for images). Sizes are 64-bit.
#pragma once
#include <cstdint>

namespace ai3 {

// A pointwise activation fused into a kernel's epilogue (ai3.Model applies the ReLU or
// ReLU6 that directly follows a convolution while the conv writes its output, instead
// of a second pass over it).
enum class Activation : uint8_t { none = 0, relu = 1, relu6 = 2 };

// The fused activations, one formula for scalars and for the kernels' SIMD vectors
// (V: T or a GCC vector of T). torch's semantics: NaN passes through (relu(nan) = nan,
// relu6(nan) = nan), so each clamp is written as a comparison that is false for NaN
// and keeps the value. Always inlined: the SIMD kernels call these from code compiled
// under an ISA's target pragma, where an out-of-line copy (built for the baseline ISA)
// would pass the vectors through memory.
// Under nvcc the same functions are device functions too (CUDA's kernels call them).
#if defined(__CUDACC__)
#define AI3_ALWAYS_INLINE __forceinline__ __host__ __device__
#elif defined(__GNUC__) || defined(__clang__)
#define AI3_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define AI3_ALWAYS_INLINE inline
#endif
template <class T, class V = T> AI3_ALWAYS_INLINE V relu_of(V v) { return v < T(0) ? V{} : v; }
template <class T, class V = T> AI3_ALWAYS_INLINE V relu6_of(V v) {
    v = relu_of<T, V>(v);
    return v > T(6) ? V{} + T(6) : v;
}
template <class T, class V = T> AI3_ALWAYS_INLINE V activate(Activation a, V v) {
    if (a == Activation::relu) return relu_of<T, V>(v);
    if (a == Activation::relu6) return relu6_of<T, V>(v);
    return v;
}
// torch's hardsigmoid and hardswish (aten/src/ATen/native/cpu/Activation.cpp): x + 3
// clamped to [0, 6], then / 6; the clamp keeps a NaN (both comparisons are false), and
// hardswish(-inf) = -inf * 0 = NaN as in torch. Every backend's kernel calls these.
template <class T> AI3_ALWAYS_INLINE T hardsigmoid_of(T x) {
    const T r = x + T(3);
    return (r < T(0) ? T(0) : (r > T(6) ? T(6) : r)) / T(6);
}
template <class T> AI3_ALWAYS_INLINE T hardswish_of(T x) {
    const T r = x + T(3);
    return x * (r < T(0) ? T(0) : (r > T(6) ? T(6) : r)) / T(6);
}
// torch's sigmoid, SiLU and GELU (both forms), written once over a math policy M that
// names the compiler's exp/erf/tanh: ai3::HostMath (ai3/host_math.hpp) for the CPU,
// SyclMath (sycl/common.hpp) in SYCL device code, CudaMath (cuda/pointwise.cuh) under
// nvcc. exp overflow gives the exact limits (sigmoid(-inf) = 0, silu(-inf) = -0), and
// NaN passes through every formula.
template <class M, class T> AI3_ALWAYS_INLINE T sigmoid_of(T x) { return T(1) / (T(1) + M::exp(-x)); }
template <class M, class T> AI3_ALWAYS_INLINE T silu_of(T x) { return x / (T(1) + M::exp(-x)); }
// x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
template <class M, class T> AI3_ALWAYS_INLINE T gelu_erf_of(T x) {
    return T(0.5) * x * (T(1) + M::erf(x * T(0.70710678118654752440)));
}
// approximate='tanh': 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
template <class M, class T> AI3_ALWAYS_INLINE T gelu_tanh_of(T x) {
    return T(0.5) * x * (T(1) + M::tanh(T(0.79788456080286535588) * (x + T(0.044715) * x * x * x)));
}

// x - x is 0 for finite x and NaN for NaN and +-inf: a test with no <cmath>, so SYCL
// device code shares it (the build keeps IEEE semantics, see CMakeLists.txt).
template <class T> AI3_ALWAYS_INLINE bool is_finite(T x) { return x - x == T(0); }

// How a 4-D value is stored. Logical shapes stay (N, C, H, W) either way; an NHWC value
// is the dense array [N][H][W][C]. ai3.Model's graph picks NHWC per layer where the
// kernels of a region support it (CPU fallback; core/src/graph.cpp).
enum class Layout : uint8_t { nchw = 0, nhwc = 1 };

// Convolution with implicit zero padding: any input index outside [0,H)x[0,W) reads 0.
// Only the leading pads are stored; P and Q (computed by the caller from both pads,
// stride and dilation) fix the trailing ones, so asymmetric 'same' padding needs no
// special case. Other padding modes are materialised by the caller before the kernel.
struct Conv2dParams {
    int64_t N = 0, C = 0, H = 0, W = 0; // input
    int64_t K = 0, R = 0, S = 0;        // weight is K x (C/groups) x R x S
    int64_t P = 0, Q = 0;               // output spatial size
    int64_t stride_h = 1, stride_w = 1;
    int64_t pad_h = 0, pad_w = 0; // leading (top, left) zero padding
    int64_t dil_h = 1, dil_w = 1;
    int64_t groups = 1;
    bool has_bias = false;
    // Fused epilogue: y = act(conv + bias), for a conv a ReLU or ReLU6 directly follows
    // (ai3.Model fuses them so the output is written once, not re-read). Only the CPU
    // fallback's kernels read it; ai3 never fuses on other backends.
    Activation act = Activation::none;
    // Fused after the activation: a 2x2, stride-2 max pool (floor), so the output is
    // N x K x P/2 x Q/2 and the full-size conv output is never written (VGG's conv,
    // ReLU, MaxPool2d(2, 2)). Only kernels that implement it accept it (fallback
    // winograd); every other kernel refuses params that ask for it.
    bool max_pool_2x2 = false;
    // Input and output stored NHWC: only kernels that implement it accept it (fallback
    // direct for depthwise layers, smm/gemm for 1x1 ones); every other kernel refuses.
    Layout layout = Layout::nchw;
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
    int64_t dil_h = 1, dil_w = 1; // maxpool only
    int64_t P = 0, Q = 0;
    bool count_include_pad = true; // avgpool only
    int64_t divisor_override = 0;  // avgpool only; 0 = none
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

// ---- graph operations (ai3.Model's graph form) ------------------------------------

// Inference batch normalisation folded to a per-channel affine map:
// out[n, c, i] = in[n, c, i] * scale[c] + shift[c] over N x C x HW.
struct BatchNorm2dParams {
    int64_t N = 0, C = 0, HW = 0;
};

struct BatchNorm2d {
    static constexpr const char *name = "batchnorm2d";
    using Params = BatchNorm2dParams;
    template <class T> struct Args {
        const T *input;
        const T *scale; // C
        const T *shift; // C
        T *output;
    };
};

// Elementwise binary op with torch broadcasting, on shapes right-aligned to `rank`
// (at most kMaxRank) dims. A stride of 0 broadcasts that dim of an operand; the
// output is dense. The output may alias an operand of the output's own shape.
constexpr int kMaxRank = 8;

struct BinaryParams {
    int rank = 0;
    int64_t shape[kMaxRank] = {}; // output shape
    int64_t a_stride[kMaxRank] = {}, b_stride[kMaxRank] = {};
};

template <class T> struct BinaryArgs {
    const T *a;
    const T *b;
    T *output;
};

struct Add {
    static constexpr const char *name = "add";
    using Params = BinaryParams;
    template <class T> using Args = BinaryArgs<T>;
};

struct Mul {
    static constexpr const char *name = "mul";
    using Params = BinaryParams;
    template <class T> using Args = BinaryArgs<T>;
};

// Concatenation along one dim: every input is outer x inner[i] (inner[i] = its size
// along the dim times everything after it); the output is outer x sum(inner).
struct CatParams {
    int64_t outer = 0;
    int64_t inner[64] = {};
    int n = 0; // number of inputs (<= 64)
};

struct Cat {
    static constexpr const char *name = "cat";
    using Params = CatParams;
    template <class T> struct Args {
        const T *const *inputs; // n pointers
        T *output;
    };
};

// One piece of chunk/split (torch.narrow): output = input[:, start:start+len, :] on an
// input viewed as outer x dim x inner.
struct SplitParams {
    int64_t outer = 0, dim = 0, inner = 0, start = 0, len = 0;
};

struct Split {
    static constexpr const char *name = "split";
    using Params = SplitParams;
    template <class T> using Args = UnaryArgs<T>;
};

// Dense permutation copy: out[idx] = in[idx permuted]; in_shape is the input's shape,
// perm[i] the input dim that becomes output dim i.
struct PermuteParams {
    int rank = 0;
    int64_t in_shape[kMaxRank] = {};
    int perm[kMaxRank] = {};
};

struct Permute {
    static constexpr const char *name = "permute";
    using Params = PermuteParams;
    template <class T> using Args = UnaryArgs<T>;
};

// Reshape/view is only a new shape on the same dense data; its kernel is the copy
// into the output buffer (a graph aliases the buffer instead of running it).
struct Reshape {
    static constexpr const char *name = "reshape";
    using Params = ElementwiseParams;
    template <class T> using Args = UnaryArgs<T>;
};

// Mean over one contiguous block of dims: input outer x reduce x inner -> outer x inner.
struct MeanParams {
    int64_t outer = 0, reduce = 0, inner = 0;
};

struct Mean {
    static constexpr const char *name = "mean";
    using Params = MeanParams;
    template <class T> using Args = UnaryArgs<T>;
};

// Layer normalisation (torch.nn.functional.layer_norm) of M groups of D elements. The
// input is (M / inner) x D x inner: inner == 1 normalises the last D elements of each row;
// inner > 1 normalises over a middle dim, e.g. the channels of NCHW (inner = H*W), which
// is ConvNeXt's LayerNorm2d without its two permutes.
struct LayerNormParams {
    int64_t M = 0, D = 0, inner = 1;
    double eps = 1e-5;
    bool has_weight = false, has_bias = false;
};

struct LayerNorm {
    static constexpr const char *name = "layernorm";
    using Params = LayerNormParams;
    template <class T> struct Args {
        const T *input;
        const T *weight; // D or nullptr
        const T *bias;   // D or nullptr
        T *output;
    };
};

// Pointwise activations; all may run in place (input == output).
struct ReLU6 {
    static constexpr const char *name = "relu6";
    using Params = ElementwiseParams;
    template <class T> using Args = UnaryArgs<T>;
};

struct Hardswish {
    static constexpr const char *name = "hardswish";
    using Params = ElementwiseParams;
    template <class T> using Args = UnaryArgs<T>;
};

struct Hardsigmoid {
    static constexpr const char *name = "hardsigmoid";
    using Params = ElementwiseParams;
    template <class T> using Args = UnaryArgs<T>;
};

struct SiLU {
    static constexpr const char *name = "silu";
    using Params = ElementwiseParams;
    template <class T> using Args = UnaryArgs<T>;
};

struct Sigmoid {
    static constexpr const char *name = "sigmoid";
    using Params = ElementwiseParams;
    template <class T> using Args = UnaryArgs<T>;
};

struct GeluParams {
    int64_t n = 0;
    bool tanh = false; // approximate='tanh'
};

struct Gelu {
    static constexpr const char *name = "gelu";
    using Params = GeluParams;
    template <class T> using Args = UnaryArgs<T>;
};

} // namespace ai3
