#include "ai3/layers.hpp"
#include "ai3/parallel.hpp"
#include "ai3/scratch.hpp"
#include "ai3/tuning.hpp"

#include <algorithm>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <cstring>
#include <functional>
#include <numeric>
#include <sstream>

namespace ai3 {

std::string shape_str(const Shape &s) {
    std::ostringstream os;
    os << "(";
    for (std::size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
    os << (s.size() == 1 ? ",)" : ")");
    return os.str();
}

namespace {

using detail::resolve_simple;
using detail::with_dtype;

void check_image_rank(const char *op, const Shape &in) {
    AI3_CHECK(in.size() == 3 || in.size() == 4, ValueError, op,
              " expects a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape ", shape_str(in));
}

// Split a 3-D/4-D image shape into (N, C, H, W).
void nchw(const Shape &in, int64_t &N, int64_t &C, int64_t &H, int64_t &W) {
    bool batched = in.size() == 4;
    N = batched ? in[0] : 1;
    C = in[in.size() - 3];
    H = in[in.size() - 2];
    W = in[in.size() - 1];
}

Shape with_spatial(const Shape &in, int64_t C, int64_t P, int64_t Q) {
    Shape out = in;
    out[out.size() - 3] = C;
    out[out.size() - 2] = P;
    out[out.size() - 1] = Q;
    return out;
}

// Hyper-parameters beyond 2^31 are never meaningful and would let size arithmetic
// overflow int64; reject them up front.
constexpr int64_t kMaxParam = (int64_t(1) << 31) - 1;
void check_param(const char *op, const char *what, int64_t v) {
    AI3_CHECK(v <= kMaxParam, ValueError, op, " ", what, " = ", v, " is larger than ai3 supports (2^31 - 1)");
}

// Every Layer::out_shape ends here: the output must be addressable.
Shape checked(Shape s) {
    checked_numel(s);
    return s;
}

} // namespace

std::string Layer::resolve_for(const Shape &, DType, const Device &) const { return resolve_simple(algorithm_); }

Shape Layer::out_shape_n(const std::vector<Shape> &in) const {
    AI3_CHECK(in.size() == 1, ValueError, op(), " takes one input, got ", in.size());
    return out_shape(in[0]);
}

void Layer::forward_nhwc(const std::vector<const void *> &in, const std::vector<Shape> &in_shapes, void *out,
                         DType dtype, const Device &dev) {
    AI3_CHECK(layout_free(), Unimplemented, op(), " has no NHWC kernel");
    forward_n(in, in_shapes, out, dtype, dev);
}

void Layer::forward_n(const std::vector<const void *> &in, const std::vector<Shape> &in_shapes, void *out, DType dtype,
                      const Device &dev) {
    AI3_CHECK(in.size() == 1 && in_shapes.size() == 1, ValueError, op(), " takes one input, got ", in.size());
    forward(in[0], in_shapes[0], out, dtype, dev);
}

// ---- conv2d -------------------------------------------------------------------

Conv2dLayer::Conv2dLayer(Tensor weight, std::optional<Tensor> bias, Conv2dConfig cfg, std::string algorithm)
    : Conv2dLayer(weight.shape(), bias.has_value(), cfg, std::move(algorithm)) {
    if (bias) {
        AI3_CHECK(bias->dtype() == weight.dtype(), TypeError, "conv2d bias dtype ", dtype_name(bias->dtype()),
                  " differs from weight dtype ", dtype_name(weight.dtype()));
        AI3_CHECK(bias->shape() == Shape{wshape_[0]}, ValueError, "conv2d bias must have shape (", wshape_[0],
                  ",), got ", shape_str(bias->shape()));
    }
    weight_ = std::move(weight);
    bias_ = std::move(bias);
}

Conv2dLayer::Conv2dLayer(Shape weight_shape, bool has_bias, Conv2dConfig cfg, std::string algorithm)
    : Layer(std::move(algorithm)), wshape_(std::move(weight_shape)), has_bias_(has_bias), cfg_(cfg) {
    AI3_CHECK(wshape_.size() == 4, ValueError,
              "conv2d weight must be 4-D (out_channels, in_channels/groups, kH, kW), got shape ", shape_str(wshape_));
    for (auto d : wshape_) AI3_CHECK(d > 0, ValueError, "conv2d weight has an empty dimension: ", shape_str(wshape_));
    AI3_CHECK(cfg_.groups >= 1, ValueError, "conv2d groups must be positive, got ", cfg_.groups);
    AI3_CHECK(wshape_[0] % cfg_.groups == 0, ValueError, "conv2d out_channels (", wshape_[0],
              ") must be divisible by groups (", cfg_.groups, ")");
    AI3_CHECK(cfg_.stride_h >= 1 && cfg_.stride_w >= 1, ValueError, "conv2d stride must be positive, got (",
              cfg_.stride_h, ", ", cfg_.stride_w, ")");
    AI3_CHECK(cfg_.dil_h >= 1 && cfg_.dil_w >= 1, ValueError, "conv2d dilation must be positive, got (", cfg_.dil_h,
              ", ", cfg_.dil_w, ")");
    AI3_CHECK(cfg_.pad_top >= 0 && cfg_.pad_bottom >= 0 && cfg_.pad_left >= 0 && cfg_.pad_right >= 0, ValueError,
              "conv2d padding must be non-negative");
    for (int64_t v : {cfg_.stride_h, cfg_.stride_w, cfg_.dil_h, cfg_.dil_w, cfg_.groups})
        check_param("conv2d", "stride/dilation/groups", v);
    for (int64_t v : {cfg_.pad_top, cfg_.pad_bottom, cfg_.pad_left, cfg_.pad_right})
        check_param("conv2d", "padding", v);
    for (int64_t v : wshape_) check_param("conv2d", "weight dimension", v);
}

std::optional<DType> Conv2dLayer::param_dtype() const {
    if (weight_) return weight_->dtype();
    return std::nullopt;
}

Shape Conv2dLayer::out_shape(const Shape &in) const {
    check_image_rank("conv2d", in);
    int64_t N, C, H, W;
    nchw(in, N, C, H, W);
    int64_t K = wshape_[0], Cg = wshape_[1], R = wshape_[2], S = wshape_[3];
    AI3_CHECK(C == Cg * cfg_.groups, ValueError, "conv2d expected input with ", Cg * cfg_.groups, " channels (weight ",
              shape_str(wshape_), ", groups=", cfg_.groups, "), but got ", C, " channels (input shape ", shape_str(in),
              ")");
    if (cfg_.padding_mode != PadMode::zeros) {
        int64_t ph = std::max(cfg_.pad_top, cfg_.pad_bottom), pw = std::max(cfg_.pad_left, cfg_.pad_right);
        if (cfg_.padding_mode == PadMode::reflect)
            AI3_CHECK((ph == 0 || ph < H) && (pw == 0 || pw < W), ValueError,
                      "conv2d padding_mode='reflect' needs padding smaller than the input size, got padding (", ph,
                      ", ", pw, ") for input ", shape_str(in));
        if (cfg_.padding_mode == PadMode::circular)
            AI3_CHECK(ph <= H && pw <= W, ValueError,
                      "conv2d padding_mode='circular' needs padding at most the input size, got padding (", ph, ", ",
                      pw, ") for input ", shape_str(in));
        if (cfg_.padding_mode == PadMode::replicate)
            AI3_CHECK((ph == 0 || H > 0) && (pw == 0 || W > 0), ValueError,
                      "conv2d padding_mode='replicate' needs a non-empty input, got ", shape_str(in));
    }
    int64_t eh = cfg_.dil_h * (R - 1) + 1, ew = cfg_.dil_w * (S - 1) + 1;
    int64_t hp = H + cfg_.pad_top + cfg_.pad_bottom, wp = W + cfg_.pad_left + cfg_.pad_right;
    AI3_CHECK(hp >= eh && wp >= ew, ValueError, "conv2d input too small: padded input size (", hp, ", ", wp,
              ") is smaller than the dilated kernel size (", eh, ", ", ew, ") (input shape ", shape_str(in), ")");
    int64_t P = (hp - eh) / cfg_.stride_h + 1, Q = (wp - ew) / cfg_.stride_w + 1;
    return checked(with_spatial(in, K, P, Q));
}

Conv2dParams Conv2dLayer::params_for(const Shape &in) const {
    Shape out = out_shape(in);
    Conv2dParams p;
    nchw(in, p.N, p.C, p.H, p.W);
    p.K = wshape_[0];
    p.R = wshape_[2];
    p.S = wshape_[3];
    p.P = out[out.size() - 2];
    p.Q = out[out.size() - 1];
    p.stride_h = cfg_.stride_h;
    p.stride_w = cfg_.stride_w;
    p.pad_h = cfg_.pad_top;
    p.pad_w = cfg_.pad_left;
    p.dil_h = cfg_.dil_h;
    p.dil_w = cfg_.dil_w;
    p.groups = cfg_.groups;
    p.has_bias = has_bias_;
    if (cfg_.padding_mode != PadMode::zeros) {
        // The caller materialises the padding; the kernel sees a pre-padded input.
        p.H += cfg_.pad_top + cfg_.pad_bottom;
        p.W += cfg_.pad_left + cfg_.pad_right;
        p.pad_h = p.pad_w = 0;
    }
    return p;
}

std::string Conv2dLayer::resolve_for(const Shape &in, DType dtype, const Device &dev) const {
    std::string name = registry_name_for(in, dtype, dev);
    if (name != algorithm_ || (name != "guess" && name != "default")) return name;
    // The backend chooses inside the kernel (cuDNN's heuristic/Find): build one and ask.
    std::string ran;
    Conv2dParams p = params_for(in);
    with_dtype(dtype, [&](auto t) {
        using T = decltype(t);
        ran = registry().get<Conv2d, T>(name, dev.backend)(p, dev)->runs();
    });
    return ran.empty() ? name : ran;
}

std::string Conv2dLayer::registry_name_for(const Shape &in, DType dtype, const Device &dev) const {
    if (algorithm_ != "guess" && algorithm_ != "default") return algorithm_;
    // A backend whose library has its own heuristic and measurement (cuDNN's
    // GetConvolutionForwardAlgorithm_v7 and Find) registers 'guess'/'default' itself.
    if (registry().contains("conv2d", algorithm_, dev.backend, dtype)) return algorithm_;
    Conv2dParams p = params_for(in);
    if (algorithm_ == "default") {
        // The measured winner when ai3.tune has timed this shape here, else the guess.
        if (auto t = tuned(conv2d_tune_key(p, dtype, dev.backend, num_threads())))
            if (registry().contains("conv2d", *t, dev.backend, dtype) && conv2d_applicable(*t, p)) return *t;
    }
    return guess_conv2d(p, dtype, dev.backend);
}

std::string Conv2dLayer::tune_key(const Shape &in, DType dtype, const Device &dev) const {
    return conv2d_tune_key(params_for(in), dtype, dev.backend, num_threads());
}

void Layer::clear_cache() {
    std::lock_guard<std::mutex> lk(mu_);
    cache_.clear();
    resolved_.clear();
}

template <class T>
void Conv2dLayer::run(const T *in, const Shape &in_shape, const T *w, const T *b, T *out, const Device &dev,
                      uint64_t weight_version, Activation act, bool max_pool, Layout layout) {
    AI3_CHECK((act == Activation::none && !max_pool && layout == Layout::nchw) || dev.backend == Backend::cpu,
              Unimplemented, "a fused conv2d+activation/pool or an NHWC conv2d runs on the CPU fallback only");
    AI3_CHECK(layout == Layout::nchw || cfg_.padding_mode == PadMode::zeros, Unimplemented,
              "an NHWC conv2d takes zeros padding only");
    Conv2dParams p = params_for(in_shape);
    p.act = act;
    p.max_pool_2x2 = max_pool;
    p.layout = layout;
    static const char *const tags[2][2][3] = {
        {{"conv2d", "conv2d+relu", "conv2d+relu6"}, {"conv2d+pool", "conv2d+relu+pool", "conv2d+relu6+pool"}},
        {{"conv2d/nhwc", "conv2d+relu/nhwc", "conv2d+relu6/nhwc"}, {"", "", ""}}};
    const char *tag = tags[int(layout)][max_pool][int(act)];
    if (p.N == 0) {
        // Nothing to compute, but an algorithm that refuses this layer still says so.
        cached_kernel<Conv2d, T>(tag, in_shape, p, dev,
                                 [&] { return registry_name_for(in_shape, dtype_of<T>::value, dev); });
        return;
    }
    if (cfg_.padding_mode != PadMode::zeros) {
        Pad2dParams pp;
        nchw(in_shape, pp.N, pp.C, pp.H, pp.W);
        pp.top = cfg_.pad_top;
        pp.bottom = cfg_.pad_bottom;
        pp.left = cfg_.pad_left;
        pp.right = cfg_.pad_right;
        pp.mode = cfg_.padding_mode;
        const std::size_t count = std::size_t(p.N * p.C * p.H * p.W);
        T *padded;
        std::unique_lock<std::mutex> lk;
        if (DeviceOps *ops = registry().device_ops(dev.backend)) {
            // Device kernels read the padded input where they run: no host round trip.
            lk = std::unique_lock<std::mutex>(pad_mu_);
            if (pad_buf_.bytes() < count * sizeof(T) || pad_dev_.handle != dev.handle || pad_dev_.index != dev.index ||
                pad_dev_.backend != dev.backend) {
                pad_buf_.reset();
                pad_buf_ = DeviceBuffer(ops, dev, count * sizeof(T));
                pad_dev_ = dev;
            }
            padded = static_cast<T *>(pad_buf_.data());
        } else {
            padded = scratch<T>(count, kScratchLayer);
        }
        cached_kernel<Pad2d, T>("pad2d", in_shape, pp, dev, [] { return std::string("direct"); })->run({in, padded});
        in = padded;
    }
    auto k = cached_kernel<Conv2d, T>(tag, in_shape, p, dev, [&] {
        return layout == Layout::nhwc ? nhwc_algorithm(in_shape) : registry_name_for(in_shape, dtype_of<T>::value, dev);
    });
    k->run({in, w, has_bias_ ? b : nullptr, out, weight_version, /*weight_owned=*/weight_.has_value()});
}

void Conv2dLayer::forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) {
    AI3_CHECK(weight_.has_value(), RuntimeError, "this conv2d layer borrows its parameters; call forward_with");
    AI3_CHECK(weight_->dtype() == dtype, TypeError, "conv2d input dtype ", dtype_name(dtype),
              " does not match the layer's parameter dtype ", dtype_name(weight_->dtype()));
    forward_with(in, in_shape, weight_->data(), bias_ ? bias_->data() : nullptr, out, dtype, dev);
}

bool Conv2dLayer::can_fuse_max_pool(const Layer &next, const Shape &in, DType dtype, const Device &dev) const {
    auto *pool = dynamic_cast<const Pool2dLayer *>(&next);
    if (!pool || dev.backend != Backend::cpu || pool->kind() != Pool2dLayer::max || pool->algorithm() != "default")
        return false;
    const Pool2dConfig &c = pool->config();
    if (c.kh != 2 || c.kw != 2 || c.stride_h != 2 || c.stride_w != 2 || c.pad_h != 0 || c.pad_w != 0 || c.dil_h != 1 ||
        c.dil_w != 1)
        return false;
    const Conv2dParams p = params_for(in);
    // ceil_mode adds a last, partial window only where a size is odd.
    if (c.ceil_mode && (p.P % 2 || p.Q % 2)) return false;
    return resolve_for(in, dtype, dev) == "winograd";
}

void Conv2dLayer::forward_fused(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev,
                                Activation act, bool max_pool, Layout layout) {
    AI3_CHECK(weight_.has_value(), RuntimeError, "this conv2d layer borrows its parameters; call forward_with");
    AI3_CHECK(weight_->dtype() == dtype, TypeError, "conv2d input dtype ", dtype_name(dtype),
              " does not match the layer's parameter dtype ", dtype_name(weight_->dtype()));
    forward_with(in, in_shape, weight_->data(), bias_ ? bias_->data() : nullptr, out, dtype, dev, 0, act, max_pool,
                 layout);
}

// Planes up to 28x28: measured on MobileNetV2 at batch 8, NHWC ran its depthwise convs
// 1.1-6x and its 1x1 convs 1.1-1.3x faster there, but its 56x56 and 112x112 1x1 convs
// 0.75-0.8x as fast as NCHW (and converting a value that size costs more than most
// layers), so larger planes stay NCHW.
constexpr int64_t kNhwcMaxPlane = 28 * 28;

std::string Conv2dLayer::nhwc_algorithm(const Shape &in) const {
    if (in.size() != 4 || cfg_.padding_mode != PadMode::zeros) return "";
    const Conv2dParams p = params_for(in);
    if (p.H * p.W > kNhwcMaxPlane || p.P * p.Q > kNhwcMaxPlane) return "";
    const bool depthwise = p.groups == p.C && p.K == p.C;
    const bool pointwise = p.R == 1 && p.S == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0 &&
                           p.groups == 1 && p.P == p.H && p.Q == p.W;
    // guess/default leave the kernel to ai3: in NHWC the one there is for the layer.
    if (algorithm_ == "guess" || algorithm_ == "default") return depthwise ? "direct" : pointwise ? "gemm" : "";
    if (algorithm_ == "direct") return depthwise ? algorithm_ : "";
    if (algorithm_ == "smm" || algorithm_ == "gemm") return pointwise ? algorithm_ : "";
    return "";
}

bool Conv2dLayer::nhwc_capable(const std::vector<Shape> &in, DType, const Device &dev) const {
    return in.size() == 1 && dev.backend == Backend::cpu && weight_.has_value() && !nhwc_algorithm(in[0]).empty();
}

bool Conv2dLayer::nhwc_gains(const std::vector<Shape> &in, DType dtype, const Device &dev) const {
    return nhwc_capable(in, dtype, dev) && nhwc_algorithm(in[0]) == "direct"; // NHWC direct: depthwise only
}

void Conv2dLayer::forward_nhwc(const std::vector<const void *> &in, const std::vector<Shape> &in_shapes, void *out,
                               DType dtype, const Device &dev) {
    forward_fused(in[0], in_shapes[0], out, dtype, dev, Activation::none, false, Layout::nhwc);
}

void Conv2dLayer::forward_with(const void *in, const Shape &in_shape, const void *w, const void *b, void *out,
                               DType dtype, const Device &dev, uint64_t weight_version, Activation act, bool max_pool,
                               Layout layout) {
    AI3_CHECK(!has_bias_ || b != nullptr, ValueError, "conv2d layer has a bias but none was given");
    with_dtype(dtype, [&](auto t) {
        using T = decltype(t);
        run<T>(static_cast<const T *>(in), in_shape, static_cast<const T *>(w), static_cast<const T *>(b),
               static_cast<T *>(out), dev, weight_version, act, max_pool, layout);
    });
}

// ---- linear ---------------------------------------------------------------------

LinearLayer::LinearLayer(Tensor weight, std::optional<Tensor> bias, std::string algorithm)
    : Layer(std::move(algorithm)), weight_(std::move(weight)), bias_(std::move(bias)) {
    AI3_CHECK(weight_.shape().size() == 2, ValueError,
              "linear weight must be 2-D (out_features, in_features), got shape ", shape_str(weight_.shape()));
    if (bias_) {
        AI3_CHECK(bias_->shape() == Shape{weight_.shape()[0]}, ValueError, "linear bias must have shape (",
                  weight_.shape()[0], ",), got ", shape_str(bias_->shape()));
        AI3_CHECK(bias_->dtype() == weight_.dtype(), TypeError, "linear bias dtype differs from weight dtype");
    }
}

Shape LinearLayer::out_shape(const Shape &in) const {
    AI3_CHECK(!in.empty(), ValueError, "linear expects an input with at least 1 dimension, got a scalar");
    int64_t K = weight_.shape()[1];
    AI3_CHECK(in.back() == K, ValueError, "linear expected the input's last dimension to be in_features=", K,
              ", got input shape ", shape_str(in));
    Shape out = in;
    out.back() = weight_.shape()[0];
    return checked(out);
}

void LinearLayer::forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) {
    AI3_CHECK(weight_.dtype() == dtype, TypeError, "linear input dtype ", dtype_name(dtype),
              " does not match the layer's parameter dtype ", dtype_name(weight_.dtype()));
    LinearParams p;
    p.K = weight_.shape()[1];
    p.N = weight_.shape()[0];
    // Rows from the leading dims, not numel / K: with in_features = 0 the input is empty
    // but the output (the bias, broadcast) is not.
    p.M = std::accumulate(in_shape.begin(), in_shape.end() - 1, int64_t(1), std::multiplies<int64_t>());
    p.has_bias = bias_.has_value();
    if (p.M == 0) return;
    with_dtype(dtype, [&](auto t) {
        using T = decltype(t);
        auto k = cached_kernel<Linear, T>("linear", in_shape, p, dev, [&] { return resolve_simple(algorithm_); });
        k->run({static_cast<const T *>(in), weight_.data_as<T>(), bias_ ? bias_->data_as<T>() : nullptr,
                static_cast<T *>(out)});
    });
}

// ---- pooling ------------------------------------------------------------------

namespace {

// torch's pooling_output_shape, including its ceil_mode rule that the last
// window must start inside the input or the left padding.
int64_t pool_out(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil, bool ceil_mode) {
    int64_t num = in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
    int64_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
    if (ceil_mode && (out - 1) * stride >= in + pad) --out;
    return out;
}

} // namespace

Pool2dLayer::Pool2dLayer(Kind kind, Pool2dConfig cfg, std::string algorithm)
    : Layer(std::move(algorithm)), kind_(kind), cfg_(cfg) {
    const char *name = kind_ == max ? "maxpool2d" : "avgpool2d";
    AI3_CHECK(cfg_.kh >= 1 && cfg_.kw >= 1, ValueError, name, " kernel_size must be positive");
    AI3_CHECK(cfg_.stride_h >= 1 && cfg_.stride_w >= 1, ValueError, name, " stride must be positive");
    AI3_CHECK(cfg_.dil_h >= 1 && cfg_.dil_w >= 1, ValueError, name, " dilation must be positive");
    AI3_CHECK(cfg_.pad_h >= 0 && cfg_.pad_w >= 0, ValueError, name, " padding must be non-negative");
    AI3_CHECK(cfg_.pad_h * 2 <= cfg_.kh && cfg_.pad_w * 2 <= cfg_.kw, ValueError, name,
              " padding should be at most half of the kernel size, got kernel (", cfg_.kh, ", ", cfg_.kw,
              ") and padding (", cfg_.pad_h, ", ", cfg_.pad_w, ")");
    // divisor_override: 0 means none; any other value divides, negative ones too (as in torch).
    for (int64_t v : {cfg_.kh, cfg_.kw, cfg_.stride_h, cfg_.stride_w, cfg_.pad_h, cfg_.pad_w, cfg_.dil_h, cfg_.dil_w,
                      cfg_.divisor_override < 0 ? -cfg_.divisor_override : cfg_.divisor_override})
        check_param(name, "kernel_size/stride/padding/dilation/divisor", v);
}

Shape Pool2dLayer::out_shape(const Shape &in) const {
    check_image_rank(op(), in);
    int64_t N, C, H, W;
    nchw(in, N, C, H, W);
    int64_t P = pool_out(H, cfg_.kh, cfg_.pad_h, cfg_.stride_h, cfg_.dil_h, cfg_.ceil_mode);
    int64_t Q = pool_out(W, cfg_.kw, cfg_.pad_w, cfg_.stride_w, cfg_.dil_w, cfg_.ceil_mode);
    AI3_CHECK(P >= 1 && Q >= 1, ValueError, op(), " input too small: input shape ", shape_str(in), " with kernel (",
              cfg_.kh, ", ", cfg_.kw, "), padding (", cfg_.pad_h, ", ", cfg_.pad_w, ") and dilation (", cfg_.dil_h,
              ", ", cfg_.dil_w, ") gives output size (", P, ", ", Q, ")");
    return checked(with_spatial(in, C, P, Q));
}

void Pool2dLayer::forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) {
    Shape os = out_shape(in_shape);
    Pool2dParams p;
    nchw(in_shape, p.N, p.C, p.H, p.W);
    p.kh = cfg_.kh;
    p.kw = cfg_.kw;
    p.stride_h = cfg_.stride_h;
    p.stride_w = cfg_.stride_w;
    p.pad_h = cfg_.pad_h;
    p.pad_w = cfg_.pad_w;
    p.dil_h = cfg_.dil_h;
    p.dil_w = cfg_.dil_w;
    p.P = os[os.size() - 2];
    p.Q = os[os.size() - 1];
    p.count_include_pad = cfg_.count_include_pad;
    p.divisor_override = cfg_.divisor_override;
    if (numel(os) == 0) return;
    with_dtype(dtype, [&](auto t) {
        using T = decltype(t);
        UnaryArgs<T> a{static_cast<const T *>(in), static_cast<T *>(out)};
        auto resolve = [&] { return resolve_simple(algorithm_); };
        if (kind_ == max)
            cached_kernel<MaxPool2d, T>(op(), in_shape, p, dev, resolve)->run(a);
        else
            cached_kernel<AvgPool2d, T>(op(), in_shape, p, dev, resolve)->run(a);
    });
}

AdaptiveAvgPool2dLayer::AdaptiveAvgPool2dLayer(int64_t out_h, int64_t out_w, std::string algorithm)
    : Layer(std::move(algorithm)), out_h_(out_h), out_w_(out_w) {
    check_param("adaptiveavgpool2d", "output size", out_h_);
    check_param("adaptiveavgpool2d", "output size", out_w_);
}

Shape AdaptiveAvgPool2dLayer::out_shape(const Shape &in) const {
    check_image_rank("adaptiveavgpool2d", in);
    int64_t N, C, H, W;
    nchw(in, N, C, H, W);
    AI3_CHECK(H > 0 && W > 0, ValueError, "adaptiveavgpool2d expects non-empty spatial dimensions, got input shape ",
              shape_str(in));
    return checked(with_spatial(in, C, out_h_ > 0 ? out_h_ : H, out_w_ > 0 ? out_w_ : W));
}

void AdaptiveAvgPool2dLayer::forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) {
    Shape os = out_shape(in_shape);
    AdaptiveAvgPool2dParams p;
    nchw(in_shape, p.N, p.C, p.H, p.W);
    p.P = os[os.size() - 2];
    p.Q = os[os.size() - 1];
    if (numel(os) == 0) return;
    with_dtype(dtype, [&](auto t) {
        using T = decltype(t);
        cached_kernel<AdaptiveAvgPool2d, T>(op(), in_shape, p, dev, [&] {
            return resolve_simple(algorithm_);
        })->run({static_cast<const T *>(in), static_cast<T *>(out)});
    });
}

bool AdaptiveAvgPool2dLayer::nhwc_capable(const std::vector<Shape> &in, DType, const Device &dev) const {
    if (in.size() != 1 || in[0].size() != 4 || dev.backend != Backend::cpu || resolve_simple(algorithm_) != "direct")
        return false;
    const Shape os = out_shape(in[0]);
    return os[2] == 1 && os[3] == 1;
}

void AdaptiveAvgPool2dLayer::forward_nhwc(const std::vector<const void *> &in, const std::vector<Shape> &in_shapes,
                                          void *out, DType dtype, const Device &dev) {
    const Shape &s = in_shapes[0], os = out_shape(s);
    AI3_CHECK(os[2] == 1 && os[3] == 1, Unimplemented, "adaptiveavgpool2d runs NHWC to a 1x1 output only");
    MeanParams p;
    p.outer = s[0];
    p.reduce = s[2] * s[3];
    p.inner = s[1];
    if (p.outer * p.inner == 0) return;
    with_dtype(dtype, [&](auto t) {
        using T = decltype(t);
        cached_kernel<Mean, T>("adaptiveavgpool2d/nhwc", s, p, dev, [&] {
            return resolve_simple(algorithm_);
        })->run({static_cast<const T *>(in[0]), static_cast<T *>(out)});
    });
}

void ReLULayer::forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) {
    run_unary<ReLU>(in, in_shape, out, dtype, dev);
}

FlattenLayer::FlattenLayer(int64_t start_dim, int64_t end_dim, std::string algorithm)
    : Layer(std::move(algorithm)), start_(start_dim), end_(end_dim) {}

Shape FlattenLayer::out_shape(const Shape &in) const {
    int64_t rank = std::max<int64_t>(1, int64_t(in.size())); // torch treats a scalar as 1-D here
    auto norm = [&](int64_t d, const char *what) {
        AI3_CHECK(d >= -rank && d < rank, ValueError, "flatten ", what, "=", d,
                  " is out of range for an input of rank ", in.size(), " (shape ", shape_str(in), ")");
        return d < 0 ? d + rank : d;
    };
    int64_t s = norm(start_, "start_dim"), e = norm(end_, "end_dim");
    AI3_CHECK(s <= e, ValueError, "flatten start_dim (", start_, ") cannot come after end_dim (", end_, ")");
    if (in.empty()) return {1};
    Shape out(in.begin(), in.begin() + s);
    int64_t m = 1;
    for (int64_t i = s; i <= e; ++i) m *= in[i];
    out.push_back(m);
    out.insert(out.end(), in.begin() + e + 1, in.end());
    return out;
}

void FlattenLayer::forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) {
    run_unary<Flatten>(in, in_shape, out, dtype, dev);
}

// ---- model ----------------------------------------------------------------------

Model::Model(std::vector<std::shared_ptr<Layer>> layers) : layers_(std::move(layers)) {
    for (auto &l : layers_) AI3_CHECK(l != nullptr, ValueError, "ai3.Model got a null layer");
    std::optional<DType> d;
    for (auto &l : layers_)
        if (auto ld = l->param_dtype()) {
            AI3_CHECK(!d || *d == *ld, TypeError, "ai3.Model layers mix parameter dtypes ", dtype_name(*d), " and ",
                      dtype_name(*ld));
            d = ld;
        }
}

Shape Model::out_shape(const Shape &in) const {
    Shape s = in;
    for (auto &l : layers_) s = l->out_shape(s);
    return s;
}

void detail::release_free_heap() {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

Tensor Model::forward(const void *in, const Shape &in_shape, DType dtype, const Device &dev) {
    std::lock_guard<std::mutex> lk(mu_);
    // Validate the whole chain before running anything.
    std::vector<Shape> shapes{in_shape};
    int64_t biggest = 0;
    for (auto &l : layers_) {
        if (auto d = l->param_dtype())
            AI3_CHECK(*d == dtype, TypeError, "ai3.Model input dtype ", dtype_name(dtype),
                      " does not match the model's dtype ", dtype_name(*d));
        shapes.push_back(l->out_shape(shapes.back()));
        biggest = std::max(biggest, numel(shapes.back()));
    }
    Tensor result(shapes.back(), dtype);
    if (layers_.empty()) {
        std::memcpy(result.data(), in, result.nbytes());
        return result;
    }
    DeviceOps *ops = registry().device_ops(dev.backend);
    std::size_t esize = dtype_size(dtype);
    // (planned_: a 0-d input's shape equals the empty never-planned one)
    if (!planned_ || planned_for_ != in_shape || planned_dtype_ != dtype || planned_dev_.backend != dev.backend ||
        planned_dev_.index != dev.index || planned_dev_.handle != dev.handle) {
        planned_ = false;
        detail::release_free_heap(); // before this plan's buffers are touched
        for (auto &b : buffers_) b.reset();
        in_buf_.reset();
        out_buf_.reset();
        for (auto &b : buffers_) b = DeviceBuffer(ops, dev, std::size_t(biggest) * esize);
        if (ops) {
            in_buf_ = DeviceBuffer(ops, dev, std::size_t(numel(in_shape)) * esize);
            out_buf_ = DeviceBuffer(ops, dev, result.nbytes());
        }
        planned_for_ = in_shape;
        planned_dtype_ = dtype;
        planned_dev_ = dev;
        // Fusion, decided once per plan: a conv's epilogue applies the ReLU/ReLU6 right
        // after it, then a 2x2/2 max pool right after that (see Conv2dLayer).
        fuse_act_.assign(layers_.size(), Activation::none);
        fuse_pool_.assign(layers_.size(), 0);
        for (std::size_t i = 0; dev.backend == Backend::cpu && i + 1 < layers_.size(); ++i) {
            auto *conv = dynamic_cast<Conv2dLayer *>(layers_[i].get());
            if (!conv) continue;
            std::size_t j = i + 1;
            fuse_act_[i] = layers_[j]->as_epilogue();
            if (fuse_act_[i] != Activation::none) ++j;
            fuse_pool_[i] = j < layers_.size() && conv->can_fuse_max_pool(*layers_[j], shapes[i], dtype, dev);
        }
        planned_ = true;
    }
    const void *cur = in;
    if (ops) {
        ops->copy(in_buf_.data(), in, in_buf_.bytes(), dev);
        cur = in_buf_.data();
    }
    int cur_buf = -1; // which of buffers_ holds `cur`; -1: the caller's input
    std::size_t last = layers_.size() - 1;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
        Layer &l = *layers_[i];
        if (l.is_view() && i != last) {
            l.out_shape(shapes[i]); // validated; data unchanged
            continue;
        }
        // conv2d then ReLU/ReLU6 (then MaxPool2d(2, 2)): one pass writes the last one's
        // output (the CPU kernels' epilogue); the absorbed layers are skipped.
        const std::size_t ci = i;
        const Activation act = fuse_act_[ci];
        const bool pool = fuse_pool_[ci];
        const bool fuse = act != Activation::none || pool;
        if (act != Activation::none) layers_[++i]->mark_fused();
        if (pool) layers_[++i]->mark_fused();
        void *dst;
        int dst_buf;
        if (i == last) {
            dst = ops ? out_buf_.data() : result.data();
            dst_buf = -2;
        } else if (l.elementwise() && cur_buf >= 0) {
            dst = const_cast<void *>(cur);
            dst_buf = cur_buf;
        } else {
            dst_buf = cur_buf == 0 ? 1 : 0;
            dst = buffers_[dst_buf].data();
        }
        times_.run(ci, ops, dev, [&] {
            if (fuse)
                static_cast<Conv2dLayer &>(l).forward_fused(cur, shapes[ci], dst, dtype, dev, act, pool);
            else
                l.forward(cur, shapes[i], dst, dtype, dev);
        });
        cur = dst;
        cur_buf = dst_buf;
    }
    if (ops) {
        ops->copy(result.data(), out_buf_.data(), result.nbytes(), dev);
        ops->synchronize(dev);
    }
    times_.finish_run();
    return result;
}

} // namespace ai3
