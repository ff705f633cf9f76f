#include "ai3/graph.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <limits>

namespace ai3 {

namespace {

using detail::resolve_simple;
using detail::with_dtype;

int64_t norm_dim(const char *op, int64_t d, int64_t rank) {
    AI3_CHECK(d >= -rank && d < rank, ValueError, op, " dim ", d, " is out of range for an input of rank ", rank);
    return d < 0 ? d + rank : d;
}

void check_rank(const char *op, const Shape &s) {
    AI3_CHECK(int(s.size()) <= kMaxRank, ValueError, op, " supports tensors of rank at most ", kMaxRank, ", got shape ",
              shape_str(s));
}

// A parameter converted to `d` (the Python side already converts; this keeps C++ callers honest).
Tensor in_dtype(const Tensor &t, DType d) {
    AI3_CHECK(t.dtype() == d, TypeError, "parameter dtype ", dtype_name(t.dtype()), " differs from ", dtype_name(d));
    return t;
}

} // namespace

// ---- batchnorm2d -------------------------------------------------------------------

BatchNorm2dLayer::BatchNorm2dLayer(Tensor scale, Tensor shift, std::string algorithm)
    : Layer(std::move(algorithm)), scale_(std::move(scale)), shift_(std::move(shift)) {
    AI3_CHECK(scale_.shape().size() == 1 && shift_.shape() == scale_.shape() && shift_.dtype() == scale_.dtype(),
              ValueError, "batchnorm2d scale and shift must be 1-D of one shape and dtype, got ",
              shape_str(scale_.shape()), " and ", shape_str(shift_.shape()));
}

BatchNorm2dLayer::BatchNorm2dLayer(Tensor mean, Tensor var, std::optional<Tensor> weight, std::optional<Tensor> bias,
                                   double eps, std::string algorithm)
    : Layer(std::move(algorithm)) {
    AI3_CHECK(mean.shape().size() == 1, ValueError, "batchnorm2d running_mean must be 1-D, got ",
              shape_str(mean.shape()));
    const Shape cs = mean.shape();
    const DType d = mean.dtype();
    AI3_CHECK(var.shape() == cs, ValueError, "batchnorm2d running_var must have shape ", shape_str(cs));
    if (weight) AI3_CHECK(weight->shape() == cs, ValueError, "batchnorm2d weight must have shape ", shape_str(cs));
    if (bias) AI3_CHECK(bias->shape() == cs, ValueError, "batchnorm2d bias must have shape ", shape_str(cs));
    AI3_CHECK(eps >= 0, ValueError, "batchnorm2d eps must be non-negative, got ", eps);
    scale_ = Tensor(cs, d);
    shift_ = Tensor(cs, d);
    with_dtype(d, [&](auto t) {
        using T = decltype(t);
        const T *m = in_dtype(mean, d).data_as<T>(), *v = in_dtype(var, d).data_as<T>();
        for (int64_t c = 0; c < cs[0]; ++c) {
            // torch computes 1/sqrt(var + eps) in the input's precision; double here is at least as exact.
            double s = 1.0 / std::sqrt(double(v[c]) + eps);
            if (weight) s *= double(in_dtype(*weight, d).data_as<T>()[c]);
            double b = bias ? double(in_dtype(*bias, d).data_as<T>()[c]) : 0.0;
            scale_.data_as<T>()[c] = T(s);
            shift_.data_as<T>()[c] = T(b - double(m[c]) * s);
        }
    });
}

Shape BatchNorm2dLayer::out_shape(const Shape &in) const {
    AI3_CHECK(in.size() == 3 || in.size() == 4, ValueError,
              "batchnorm2d expects a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape ", shape_str(in));
    int64_t C = in[in.size() - 3];
    AI3_CHECK(C == scale_.shape()[0], ValueError, "batchnorm2d expected ", scale_.shape()[0],
              " channels, got input shape ", shape_str(in));
    return in;
}

void BatchNorm2dLayer::forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) {
    out_shape(in_shape);
    AI3_CHECK(dtype == scale_.dtype(), TypeError, "batchnorm2d input dtype ", dtype_name(dtype),
              " does not match the layer's parameter dtype ", dtype_name(scale_.dtype()));
    BatchNorm2dParams p;
    p.N = in_shape.size() == 4 ? in_shape[0] : 1;
    p.C = in_shape[in_shape.size() - 3];
    p.HW = in_shape[in_shape.size() - 2] * in_shape[in_shape.size() - 1];
    if (p.N * p.C * p.HW == 0) return;
    with_dtype(dtype, [&](auto t) {
        using T = decltype(t);
        cached_kernel<BatchNorm2d, T>(op(), in_shape, p, dev, [&] {
            return resolve_simple(algorithm_);
        })->run({static_cast<const T *>(in), scale_.data_as<T>(), shift_.data_as<T>(), static_cast<T *>(out)});
    });
}

// ---- pointwise activations ------------------------------------------------------------

const char *PointwiseLayer::op() const {
    switch (kind_) {
    case relu6: return "relu6";
    case hardswish: return "hardswish";
    case hardsigmoid: return "hardsigmoid";
    case silu: return "silu";
    case sigmoid: return "sigmoid";
    case gelu:
    case gelu_tanh: return "gelu";
    }
    return "?";
}

void PointwiseLayer::forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) {
    const int64_t n = numel(in_shape);
    if (n == 0) return;
    with_dtype(dtype, [&](auto t) {
        using T = decltype(t);
        UnaryArgs<T> a{static_cast<const T *>(in), static_cast<T *>(out)};
        auto res = [&] { return resolve_simple(algorithm_); };
        ElementwiseParams p{n};
        switch (kind_) {
        case relu6: cached_kernel<ReLU6, T>(op(), in_shape, p, dev, res)->run(a); break;
        case hardswish: cached_kernel<Hardswish, T>(op(), in_shape, p, dev, res)->run(a); break;
        case hardsigmoid: cached_kernel<Hardsigmoid, T>(op(), in_shape, p, dev, res)->run(a); break;
        case silu: cached_kernel<SiLU, T>(op(), in_shape, p, dev, res)->run(a); break;
        case sigmoid: cached_kernel<Sigmoid, T>(op(), in_shape, p, dev, res)->run(a); break;
        case gelu:
        case gelu_tanh: {
            GeluParams g{n, kind_ == gelu_tanh};
            cached_kernel<Gelu, T>(op(), in_shape, g, dev, res)->run(a);
            break;
        }
        }
    });
}

// ---- add / mul -------------------------------------------------------------------------

Shape BinaryLayer::out_shape(const Shape &) const { throw ValueError(str(op(), " takes two inputs")); }

Shape BinaryLayer::out_shape_n(const std::vector<Shape> &in) const {
    AI3_CHECK(in.size() == 2, ValueError, op(), " takes two inputs, got ", in.size());
    const Shape &a = in[0], &b = in[1];
    check_rank(op(), a);
    check_rank(op(), b);
    std::size_t r = std::max(a.size(), b.size());
    Shape out(r);
    for (std::size_t i = 0; i < r; ++i) {
        int64_t x = i + a.size() >= r ? a[i + a.size() - r] : 1;
        int64_t y = i + b.size() >= r ? b[i + b.size() - r] : 1;
        AI3_CHECK(x == y || x == 1 || y == 1, ValueError, op(), ": shapes ", shape_str(a), " and ", shape_str(b),
                  " cannot be broadcast together");
        out[i] = x == 1 ? y : x;
    }
    return out;
}

void BinaryLayer::forward(const void *, const Shape &, void *, DType, const Device &) {
    throw ValueError(str(op(), " takes two inputs"));
}

void BinaryLayer::forward_n(const std::vector<const void *> &in, const std::vector<Shape> &in_shapes, void *out,
                            DType dtype, const Device &dev) {
    Shape os = out_shape_n(in_shapes);
    if (numel(os) == 0) return;
    BinaryParams p;
    p.rank = int(os.size());
    for (int i = 0; i < p.rank; ++i) p.shape[i] = os[i];
    auto strides = [&](const Shape &s, int64_t *st) {
        int64_t acc = 1;
        for (int i = p.rank - 1; i >= 0; --i) {
            int j = i - (p.rank - int(s.size()));
            int64_t d = j >= 0 ? s[j] : 1;
            st[i] = d == 1 ? 0 : acc;
            acc *= d;
        }
    };
    strides(in_shapes[0], p.a_stride);
    strides(in_shapes[1], p.b_stride);
    with_dtype(dtype, [&](auto t) {
        using T = decltype(t);
        BinaryArgs<T> a{static_cast<const T *>(in[0]), static_cast<const T *>(in[1]), static_cast<T *>(out)};
        auto res = [&] { return resolve_simple(algorithm_); };
        // The kernel cache is keyed by one shape: both operands' shapes go in the key.
        Shape key = in_shapes[0];
        key.push_back(-1);
        key.insert(key.end(), in_shapes[1].begin(), in_shapes[1].end());
        if (kind_ == add)
            cached_kernel<Add, T>(op(), key, p, dev, res)->run(a);
        else
            cached_kernel<Mul, T>(op(), key, p, dev, res)->run(a);
    });
}

bool BinaryLayer::nhwc_capable(const std::vector<Shape> &in, DType, const Device &) const {
    return in.size() == 2 && in[0].size() == 4 && in[1].size() == 4;
}

void BinaryLayer::forward_nhwc(const std::vector<const void *> &in, const std::vector<Shape> &in_shapes, void *out,
                               DType dtype, const Device &dev) {
    std::vector<Shape> stored;
    for (const Shape &s : in_shapes) stored.push_back({s[0], s[2], s[3], s[1]});
    forward_n(in, stored, out, dtype, dev);
}

// ---- cat -------------------------------------------------------------------------------

Shape CatLayer::out_shape_n(const std::vector<Shape> &in) const {
    AI3_CHECK(!in.empty(), ValueError, "cat needs at least one input");
    AI3_CHECK(in.size() <= 64, ValueError, "cat supports at most 64 inputs, got ", in.size());
    const Shape &f = in[0];
    AI3_CHECK(!f.empty(), ValueError, "cat cannot concatenate zero-dimensional tensors");
    int64_t d = norm_dim("cat", dim_, int64_t(f.size()));
    Shape out = f;
    out[d] = 0;
    for (auto &s : in) {
        AI3_CHECK(s.size() == f.size(), ValueError, "cat inputs must have the same rank, got ", shape_str(f), " and ",
                  shape_str(s));
        for (std::size_t i = 0; i < s.size(); ++i)
            AI3_CHECK(int64_t(i) == d || s[i] == f[i], ValueError, "cat inputs must match except in dim ", d, ", got ",
                      shape_str(f), " and ", shape_str(s));
        out[d] += s[d];
    }
    return out;
}

void CatLayer::forward_n(const std::vector<const void *> &in, const std::vector<Shape> &in_shapes, void *out,
                         DType dtype, const Device &dev) {
    Shape os = out_shape_n(in_shapes);
    if (numel(os) == 0) return;
    int64_t d = norm_dim("cat", dim_, int64_t(os.size()));
    CatParams p;
    p.n = int(in.size());
    p.outer = 1;
    for (int64_t i = 0; i < d; ++i) p.outer *= os[i];
    for (int k = 0; k < p.n; ++k) {
        int64_t inner = 1;
        for (std::size_t i = d; i < in_shapes[k].size(); ++i) inner *= in_shapes[k][i];
        p.inner[k] = inner;
    }
    Shape key;
    for (auto &s : in_shapes) {
        key.insert(key.end(), s.begin(), s.end());
        key.push_back(-1);
    }
    with_dtype(dtype, [&](auto t) {
        using T = decltype(t);
        std::vector<const T *> ptrs(in.size());
        for (std::size_t i = 0; i < in.size(); ++i) ptrs[i] = static_cast<const T *>(in[i]);
        cached_kernel<Cat, T>(op(), key, p, dev, [&] {
            return resolve_simple(algorithm_);
        })->run({ptrs.data(), static_cast<T *>(out)});
    });
}

// ---- split -----------------------------------------------------------------------------

SplitLayer::SplitLayer(int64_t dim, int64_t start, int64_t length, std::string algorithm)
    : Layer(std::move(algorithm)), dim_(dim), start_(start), len_(length) {
    AI3_CHECK(start >= 0 && length >= 0, ValueError, "split start and length must be non-negative");
}

Shape SplitLayer::out_shape(const Shape &in) const {
    AI3_CHECK(!in.empty(), ValueError, "split cannot take a zero-dimensional tensor");
    int64_t d = norm_dim("split", dim_, int64_t(in.size()));
    AI3_CHECK(start_ + len_ <= in[d], ValueError, "split piece [", start_, ", ", start_ + len_, ") is outside dim ", d,
              " of input shape ", shape_str(in));
    Shape out = in;
    out[d] = len_;
    return out;
}

void SplitLayer::forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) {
    Shape os = out_shape(in_shape);
    if (numel(os) == 0) return;
    int64_t d = norm_dim("split", dim_, int64_t(in_shape.size()));
    SplitParams p;
    p.outer = 1;
    for (int64_t i = 0; i < d; ++i) p.outer *= in_shape[i];
    p.inner = 1;
    for (std::size_t i = d + 1; i < in_shape.size(); ++i) p.inner *= in_shape[i];
    p.dim = in_shape[d];
    p.start = start_;
    p.len = len_;
    with_dtype(dtype, [&](auto t) {
        using T = decltype(t);
        cached_kernel<Split, T>(op(), in_shape, p, dev, [&] {
            return resolve_simple(algorithm_);
        })->run({static_cast<const T *>(in), static_cast<T *>(out)});
    });
}

// ---- permute ---------------------------------------------------------------------------

PermuteLayer::PermuteLayer(std::vector<int64_t> perm, std::string algorithm)
    : Layer(std::move(algorithm)), perm_(std::move(perm)) {
    AI3_CHECK(int(perm_.size()) <= kMaxRank, ValueError, "permute supports rank at most ", kMaxRank);
}

PermuteLayer::PermuteLayer(int64_t d0, int64_t d1, std::string algorithm)
    : Layer(std::move(algorithm)), perm_{d0, d1}, transpose_(true) {}

std::vector<int64_t> PermuteLayer::perm_for(int64_t rank) const {
    if (!transpose_) return perm_;
    std::vector<int64_t> p(rank);
    for (int64_t i = 0; i < rank; ++i) p[i] = i;
    int64_t a = norm_dim("transpose", perm_[0], rank), b = norm_dim("transpose", perm_[1], rank);
    std::swap(p[a], p[b]);
    return p;
}

Shape PermuteLayer::out_shape(const Shape &in) const {
    int64_t r = int64_t(in.size());
    check_rank("permute", in);
    const std::vector<int64_t> perm_ = perm_for(r);
    AI3_CHECK(int64_t(perm_.size()) == r, ValueError, "permute has ", perm_.size(), " dims but the input has shape ",
              shape_str(in));
    std::vector<bool> seen(r, false);
    Shape out(r);
    for (int64_t i = 0; i < r; ++i) {
        int64_t p = norm_dim("permute", perm_[i], r);
        AI3_CHECK(!seen[p], ValueError, "permute dims repeat dim ", p);
        seen[p] = true;
        out[i] = in[p];
    }
    return out;
}

void PermuteLayer::forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) {
    out_shape(in_shape);
    if (numel(in_shape) == 0) return;
    PermuteParams p;
    p.rank = int(in_shape.size());
    const std::vector<int64_t> perm = perm_for(p.rank);
    for (int i = 0; i < p.rank; ++i) {
        p.in_shape[i] = in_shape[i];
        p.perm[i] = int(norm_dim("permute", perm[i], p.rank));
    }
    with_dtype(dtype, [&](auto t) {
        using T = decltype(t);
        cached_kernel<Permute, T>(op(), in_shape, p, dev, [&] {
            return resolve_simple(algorithm_);
        })->run({static_cast<const T *>(in), static_cast<T *>(out)});
    });
}

// ---- reshape -----------------------------------------------------------------------------

ReshapeLayer::ReshapeLayer(std::vector<Entry> target, int n_inputs, std::string algorithm)
    : Layer(std::move(algorithm)), target_(std::move(target)), n_inputs_(n_inputs) {
    AI3_CHECK(n_inputs_ >= 1, ValueError, "reshape needs its input");
    int infer = 0;
    for (auto &e : target_) {
        AI3_CHECK(e.src < n_inputs_, ValueError, "reshape size refers to input ", e.src, " of ", n_inputs_);
        if (e.src < 0) {
            AI3_CHECK(e.size >= -1, ValueError, "reshape sizes must be non-negative or -1, got ", e.size);
            infer += e.size == -1;
        }
    }
    AI3_CHECK(infer <= 1, ValueError, "reshape can infer only one dimension (-1)");
}

Shape ReshapeLayer::out_shape_n(const std::vector<Shape> &in) const {
    AI3_CHECK(int(in.size()) == n_inputs_, ValueError, "reshape takes ", n_inputs_, " inputs, got ", in.size());
    Shape out;
    int64_t known = 1, infer = -1;
    for (auto &e : target_) {
        int64_t v = e.size;
        if (e.src >= 0) {
            const Shape &s = in[e.src];
            v = s.at(std::size_t(norm_dim("reshape", e.dim, int64_t(s.size()))));
        }
        if (v == -1)
            infer = int64_t(out.size());
        else
            known *= v;
        out.push_back(v);
    }
    int64_t n = numel(in[0]);
    if (infer >= 0) {
        AI3_CHECK(known != 0 && n % known == 0, ValueError, "cannot reshape input of shape ", shape_str(in[0]),
                  " into ", shape_str(out));
        out[infer] = n / known;
    }
    AI3_CHECK(numel(out) == n, ValueError, "cannot reshape input of shape ", shape_str(in[0]), " (", n,
              " elements) into ", shape_str(out));
    return out;
}

void ReshapeLayer::forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) {
    run_unary<Reshape>(in, in_shape, out, dtype, dev);
}

// ---- mean --------------------------------------------------------------------------------

MeanLayer::MeanLayer(std::vector<int64_t> dims, bool keepdim, std::string algorithm)
    : Layer(std::move(algorithm)), dims_(std::move(dims)), keepdim_(keepdim) {
    AI3_CHECK(!dims_.empty(), ValueError, "mean needs at least one dim");
}

std::pair<int64_t, int64_t> MeanLayer::block(const Shape &in) const {
    int64_t r = int64_t(in.size());
    AI3_CHECK(r > 0, ValueError, "mean needs an input with at least one dimension");
    std::vector<int64_t> d;
    for (auto x : dims_) d.push_back(norm_dim("mean", x, r));
    std::sort(d.begin(), d.end());
    for (std::size_t i = 1; i < d.size(); ++i)
        AI3_CHECK(d[i] == d[i - 1] + 1, ValueError,
                  "ai3 mean reduces one contiguous block of dims (such as the spatial dims 2, 3); got dims that are "
                  "not adjacent or repeat");
    return {d.front(), d.back()};
}

Shape MeanLayer::out_shape(const Shape &in) const {
    auto [a, b] = block(in);
    Shape out;
    for (int64_t i = 0; i < int64_t(in.size()); ++i) {
        if (i < a || i > b)
            out.push_back(in[i]);
        else if (keepdim_)
            out.push_back(1);
    }
    return out;
}

void MeanLayer::forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) {
    auto [a, b] = block(in_shape);
    MeanParams p;
    p.outer = p.reduce = p.inner = 1;
    for (int64_t i = 0; i < int64_t(in_shape.size()); ++i)
        (i < a ? p.outer : i > b ? p.inner : p.reduce) *= in_shape[i];
    if (p.outer * p.inner == 0) return;
    with_dtype(dtype, [&](auto t) {
        using T = decltype(t);
        cached_kernel<Mean, T>(op(), in_shape, p, dev, [&] {
            return resolve_simple(algorithm_);
        })->run({static_cast<const T *>(in), static_cast<T *>(out)});
    });
}

// ---- layernorm --------------------------------------------------------------------------

LayerNormLayer::LayerNormLayer(Shape normalized_shape, std::optional<Tensor> weight, std::optional<Tensor> bias,
                               double eps, DType dtype, std::string algorithm, bool over_channels)
    : Layer(std::move(algorithm)), nshape_(std::move(normalized_shape)), weight_(std::move(weight)),
      bias_(std::move(bias)), eps_(eps), dtype_(dtype), channels_(over_channels) {
    AI3_CHECK(!nshape_.empty(), ValueError, "layernorm normalized_shape must not be empty");
    AI3_CHECK(!channels_ || nshape_.size() == 1, ValueError,
              "layernorm over channels takes a 1-D normalized_shape (C,), got ", shape_str(nshape_));
    for (auto d : nshape_) AI3_CHECK(d > 0, ValueError, "layernorm normalized_shape must be positive");
    if (weight_) {
        AI3_CHECK(weight_->shape() == nshape_, ValueError, "layernorm weight must have shape ", shape_str(nshape_));
        in_dtype(*weight_, dtype_);
    }
    if (bias_) {
        AI3_CHECK(bias_->shape() == nshape_, ValueError, "layernorm bias must have shape ", shape_str(nshape_));
        in_dtype(*bias_, dtype_);
    }
    AI3_CHECK(eps_ >= 0, ValueError, "layernorm eps must be non-negative");
}

Shape LayerNormLayer::out_shape(const Shape &in) const {
    if (channels_) {
        AI3_CHECK(in.size() >= 2 && in[1] == nshape_[0], ValueError, "layernorm over ", nshape_[0],
                  " channels expects an (N, ", nshape_[0], ", ...) input, got ", shape_str(in));
        return in;
    }
    bool ok = in.size() >= nshape_.size() && std::equal(nshape_.begin(), nshape_.end(), in.end() - nshape_.size());
    AI3_CHECK(ok, ValueError, "layernorm over ", shape_str(nshape_), " expects an input ending in those dims, got ",
              shape_str(in));
    return in;
}

void LayerNormLayer::forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) {
    out_shape(in_shape);
    AI3_CHECK(!param_dtype() || dtype == dtype_, TypeError, "layernorm input dtype ", dtype_name(dtype),
              " does not match the layer's parameter dtype ", dtype_name(dtype_));
    LayerNormParams p;
    p.D = numel(nshape_);
    p.M = numel(in_shape) / p.D;
    if (channels_) p.inner = p.M / std::max<int64_t>(1, in_shape[0]);
    p.eps = eps_;
    p.has_weight = weight_.has_value();
    p.has_bias = bias_.has_value();
    if (p.M == 0) return;
    with_dtype(dtype, [&](auto t) {
        using T = decltype(t);
        cached_kernel<LayerNorm, T>(op(), in_shape, p, dev, [&] { return resolve_simple(algorithm_); })
            ->run({static_cast<const T *>(in), weight_ ? weight_->data_as<T>() : nullptr,
                   bias_ ? bias_->data_as<T>() : nullptr, static_cast<T *>(out)});
    });
}

// ---- constant / callback ----------------------------------------------------------------

Shape ConstantLayer::out_shape_n(const std::vector<Shape> &in) const {
    AI3_CHECK(in.empty(), ValueError, "a constant takes no inputs");
    return value_.shape();
}

void ConstantLayer::forward(const void *, const Shape &, void *out, DType dtype, const Device &dev) {
    forward_n({}, {}, out, dtype, dev);
}

void ConstantLayer::forward_n(const std::vector<const void *> &, const std::vector<Shape> &, void *out, DType dtype,
                              const Device &dev) {
    AI3_CHECK(dtype == value_.dtype(), TypeError, "constant of dtype ", dtype_name(value_.dtype()), " used in a ",
              dtype_name(dtype), " graph");
    if (!value_.nbytes()) return;
    if (DeviceOps *ops = registry().device_ops(dev.backend))
        ops->copy(out, value_.data(), value_.nbytes(), dev);
    else
        std::memcpy(out, value_.data(), value_.nbytes());
}

Shape CallbackLayer::out_shape_n(const std::vector<Shape> &in) const {
    AI3_CHECK(int(in.size()) == n_, ValueError, name_, " takes ", n_, " inputs, got ", in.size());
    return shape_(in);
}

void CallbackLayer::forward_n(const std::vector<const void *> &in, const std::vector<Shape> &in_shapes, void *out,
                              DType dtype, const Device &dev) {
    Shape os = out_shape_n(in_shapes);
    DeviceOps *ops = registry().device_ops(dev.backend);
    if (!ops) {
        run_(in, in_shapes, out, os, dtype);
        return;
    }
    // Device memory: the host framework reads and writes host copies.
    const std::size_t es = dtype_size(dtype);
    std::vector<Tensor> host;
    std::vector<const void *> hp;
    for (std::size_t i = 0; i < in.size(); ++i) {
        host.emplace_back(in_shapes[i], dtype);
        if (host.back().nbytes()) ops->copy(host.back().data(), in[i], host.back().nbytes(), dev);
        hp.push_back(host.back().data());
    }
    ops->synchronize(dev);
    Tensor ho(os, dtype);
    run_(hp, in_shapes, ho.data(), os, dtype);
    if (ho.nbytes()) ops->copy(out, ho.data(), std::size_t(numel(os)) * es, dev);
}

// ---- graph -------------------------------------------------------------------------------

Graph::Graph(std::vector<std::shared_ptr<Layer>> layers, std::vector<std::vector<int>> inputs, int output)
    : layers_(std::move(layers)), inputs_(std::move(inputs)), output_(output) {
    AI3_CHECK(layers_.size() == inputs_.size(), ValueError, "ai3 graph: ", layers_.size(), " layers but ",
              inputs_.size(), " input lists");
    for (std::size_t i = 0; i < layers_.size(); ++i) {
        AI3_CHECK(layers_[i] != nullptr, ValueError, "ai3 graph: layer ", i, " is null");
        int a = layers_[i]->arity();
        int n = int(inputs_[i].size());
        AI3_CHECK(a < 0 ? n >= 1 : n == a, ValueError, "ai3 graph: layer ", i, " (", layers_[i]->op(), ") takes ",
                  a < 0 ? std::string("one or more") : std::to_string(a), " inputs, got ", n);
        for (int v : inputs_[i])
            AI3_CHECK(v >= 0 && v <= int(i), ValueError, "ai3 graph: layer ", i, " (", layers_[i]->op(),
                      ") reads value ", v,
                      ", which is not computed before it (values: 0 = the input, k = layer k-1's "
                      "output; layers must be in topological order)");
        if (auto d = layers_[i]->param_dtype()) {
            AI3_CHECK(!dtype_ || *dtype_ == *d, TypeError, "ai3 graph layers mix parameter dtypes ",
                      dtype_name(*dtype_), " and ", dtype_name(*d));
            dtype_ = d;
        }
    }
    AI3_CHECK(output_ >= 0 && output_ <= int(layers_.size()), ValueError, "ai3 graph: output value ", output_,
              " does not exist (", layers_.size() + 1, " values)");
}

std::vector<Shape> Graph::value_shapes(const Shape &in, DType) const {
    std::vector<Shape> shapes{in};
    shapes.reserve(layers_.size() + 1);
    std::vector<Shape> ins;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
        ins.clear();
        for (int v : inputs_[i]) ins.push_back(shapes[v]);
        try {
            shapes.push_back(layers_[i]->out_shape_n(ins));
            checked_numel(shapes.back());
        } catch (const ValueError &e) { throw ValueError(str("layer ", i, " (", layers_[i]->op(), "): ", e.what())); }
    }
    return shapes;
}

Shape Graph::out_shape(const Shape &in, DType dtype) const { return value_shapes(in, dtype)[output_]; }

Graph::Plan Graph::plan(const Shape &in, DType dtype) const { return plan_writing(in, dtype, nullptr); }

// writes (optional): the value each layer writes, -1 for a layer that does not run
// (absorbed into a conv's epilogue); a conv that absorbed its max pool writes the pool's
// value at its own step, so that buffer is taken there, not at the pool's step.
Graph::Plan Graph::plan_writing(const Shape &in, DType dtype, const std::vector<int> *writes) const {
    Plan pl;
    pl.shapes = value_shapes(in, dtype);
    const int nv = int(pl.shapes.size());
    const std::size_t es = dtype_size(dtype);
    constexpr int kForever = std::numeric_limits<int>::max();

    // Views share their input's storage: the root is the value that owns it.
    std::vector<int> root(nv);
    root[0] = 0;
    for (int i = 0; i < int(layers_.size()); ++i) root[i + 1] = layers_[i]->is_view() ? root[inputs_[i][0]] : i + 1;
    // A root's storage is live until the last read of it or of any view of it.
    std::vector<int> last(nv, -1);
    for (int i = 0; i < int(layers_.size()); ++i) {
        if (writes && (*writes)[i] < 0) continue;           // absorbed: reads nothing, writes nothing
        last[root[i + 1]] = std::max(last[root[i + 1]], i); // produced here (a dead value frees right after)
        for (std::size_t j = 0; j < inputs_[i].size(); ++j)
            if (layers_[i]->reads_input(int(j))) last[root[inputs_[i][j]]] = std::max(last[root[inputs_[i][j]]], i);
    }
    last[root[output_]] = kForever;

    pl.slot.assign(nv, -1);
    std::vector<int> free_slots;
    std::vector<int> ins;
    for (int i = 0; i < int(layers_.size()); ++i) {
        const int v = writes ? (*writes)[i] : i + 1;
        if (v < 0) continue;
        Layer &l = *layers_[i];
        if (l.is_view()) {
            pl.slot[v] = pl.slot[inputs_[i][0]];
            continue;
        }
        const std::size_t need = std::size_t(numel(pl.shapes[v])) * es;
        int chosen = -1;
        // In place over an input whose storage dies here (never the caller's input).
        std::vector<Shape> in_shapes;
        for (int u : inputs_[i]) in_shapes.push_back(pl.shapes[u]);
        for (std::size_t j = 0; j < inputs_[i].size() && chosen < 0; ++j) {
            int u = inputs_[i][j], r = root[u];
            if (pl.slot[r] < 0 || last[r] != i || !l.can_overwrite(int(j), in_shapes, pl.shapes[v])) continue;
            bool alone = true; // another input reading the same storage through a different view would be clobbered
            for (std::size_t k = 0; k < inputs_[i].size(); ++k)
                if (k != j && root[inputs_[i][k]] == r && inputs_[i][k] != u) alone = false;
            if (alone) chosen = pl.slot[r];
        }
        if (chosen < 0 && !free_slots.empty()) {
            // Best fit: the smallest free buffer that holds it, else grow the largest.
            int best = -1, largest = -1;
            for (int s : free_slots) {
                if (pl.slot_bytes[s] >= need && (best < 0 || pl.slot_bytes[s] < pl.slot_bytes[best])) best = s;
                if (largest < 0 || pl.slot_bytes[s] > pl.slot_bytes[largest]) largest = s;
            }
            chosen = best >= 0 ? best : largest;
            free_slots.erase(std::find(free_slots.begin(), free_slots.end(), chosen));
        } else if (chosen < 0) {
            chosen = int(pl.slot_bytes.size());
            pl.slot_bytes.push_back(0);
        }
        pl.slot_bytes[chosen] = std::max(pl.slot_bytes[chosen], need);
        pl.slot[v] = chosen;
        // Release the storage whose last reader is this layer (after its output was placed).
        ins.assign(inputs_[i].begin(), inputs_[i].end());
        ins.push_back(v);
        for (int u : ins) {
            int r = root[u];
            if (last[r] == i && pl.slot[r] >= 0 && pl.slot[r] != chosen &&
                std::find(free_slots.begin(), free_slots.end(), pl.slot[r]) == free_slots.end())
                free_slots.push_back(pl.slot[r]);
        }
        if (last[v] == i) free_slots.push_back(chosen); // nobody reads it
    }
    return pl;
}

void Graph::plan_fusion(DType dtype, const Device &dev) {
    const int n = int(layers_.size());
    fused_.assign(std::size_t(n), 0);
    fused_out_.assign(std::size_t(n), 0);
    if (dev.backend != Backend::cpu) return; // other backends' conv kernels have no ReLU epilogue
    std::vector<int> readers(std::size_t(n) + 1, 0), reader(std::size_t(n) + 1, -1);
    for (int i = 0; i < n; ++i)
        for (int u : inputs_[i]) {
            ++readers[std::size_t(u)];
            reader[std::size_t(u)] = i;
        }
    auto sole_reader = [&](int v) {
        return v != output_ && readers[std::size_t(v)] == 1 ? reader[std::size_t(v)] : -1;
    };
    for (int i = 0; i < n; ++i) {
        auto *conv = dynamic_cast<Conv2dLayer *>(layers_[i].get());
        const int v = i + 1, j = sole_reader(v);
        if (!conv || j < 0) continue;
        // An activation that is the conv's only reader, then a max pool that is the only
        // reader of that (or of the conv's output directly).
        Activation act = layers_[j]->as_epilogue();
        const int after = act != Activation::none ? j + 1 : v;
        const int m = sole_reader(after);
        const Shape &in = plan_.shapes[std::size_t(inputs_[i][0])];
        // The fused conv writes the pool's value at its own step: the buffer plan is
        // redone below so that value's buffer is taken there (consecutive layers only,
        // so no other value's lifetime moves).
        const bool pool = m == after && conv->can_fuse_max_pool(*layers_[m], in, dtype, dev) &&
                          (act == Activation::none || j == i + 1);
        // Without the pool the conv writes its own value, which the activation must
        // then find in place.
        if (!pool && act != Activation::none &&
            (plan_.slot[std::size_t(v)] < 0 || plan_.slot[std::size_t(j) + 1] != plan_.slot[std::size_t(v)]))
            act = Activation::none;
        if (act == Activation::none && !pool) continue;
        fused_[std::size_t(i)] = char(2 + int(act) + (pool ? 3 : 0));
        fused_out_[std::size_t(i)] = pool ? m + 1 : v;
        if (act != Activation::none) fused_[std::size_t(j)] = 1;
        if (pool) fused_[std::size_t(m)] = 1;
    }
    // Only pool fusions change what is written when: the conv writes the pool's value and
    // the layers between run nowhere. (An activation fused alone stays planned in place.)
    std::vector<int> writes(std::size_t(n), 0);
    for (int i = 0; i < n; ++i) writes[std::size_t(i)] = i + 1;
    bool pools = false;
    for (int i = 0; i < n; ++i) {
        if (fused_[std::size_t(i)] < 5) continue;
        pools = true;
        writes[std::size_t(i)] = fused_out_[std::size_t(i)];
        for (int k = i + 1; k < fused_out_[std::size_t(i)]; ++k) writes[std::size_t(k)] = -1;
    }
    if (!pools) return;
    plan_ = plan_writing(planned_for_, dtype, &writes);
    // An activation fused without a pool still needs its value in place over the conv's.
    for (int i = 0; i < n; ++i) {
        const char f = fused_[std::size_t(i)];
        if (f != 3 && f != 4) continue; // 2 + relu/relu6, no pool
        const int v = i + 1, j = reader[std::size_t(v)];
        if (plan_.slot[std::size_t(v)] < 0 || plan_.slot[std::size_t(j) + 1] != plan_.slot[std::size_t(v)]) {
            fused_[std::size_t(i)] = 0;
            fused_[std::size_t(j)] = 0;
        }
    }
}

namespace {
// A value stored alike in both layouts: not 4-D, or 1x1 planes.
bool layout_neutral(const Shape &s) { return s.size() != 4 || s[2] * s[3] == 1; }
} // namespace

// Layouts: a layer runs NHWC when it has an NHWC kernel for its inputs and sits in a
// region of such layers (connected through the 4-D values they pass each other) that
// holds at least one layer that gains from NHWC (a depthwise conv). So MobileNet's
// blocks (1x1, depthwise, 1x1, add, fused ReLU6) run NHWC end to end, with one
// conversion after the stem and one before the classifier's pooling, while a ResNet's
// 1x1 convs between 3x3 ones stay NCHW (converting around each would cost more than it
// saves). Views keep NCHW semantics: the value a view reads stays NCHW.
void Graph::plan_layouts(DType dtype, const Device &dev) {
    const int n = int(layers_.size());
    run_nhwc_.assign(std::size_t(n), 0);
    layout_.assign(std::size_t(n) + 1, Layout::nchw);
    if (dev.backend != Backend::cpu) return;
    if (const char *e = std::getenv("AI3_LAYOUTS")) // test/benchmark hook: NCHW throughout
        if (std::strcmp(e, "nchw") == 0) return;
    // The layer whose kernel writes value v's storage: views and absorbed layers
    // (fused into a conv's epilogue) resolve to it.
    auto writer = [&](int v) {
        while (v > 0 && (layers_[std::size_t(v - 1)]->is_view() || fused_[std::size_t(v - 1)] == 1))
            v = inputs_[std::size_t(v - 1)][0];
        return v - 1; // -1: the graph input
    };
    std::vector<char> cap(std::size_t(n), 0), gains(std::size_t(n), 0);
    std::vector<Shape> ins;
    for (int i = 0; i < n; ++i) {
        const Layer &l = *layers_[std::size_t(i)];
        if (l.is_view() || fused_[std::size_t(i)] == 1 || fused_[std::size_t(i)] >= 5) continue;
        ins.clear();
        for (int u : inputs_[std::size_t(i)]) ins.push_back(plan_.shapes[std::size_t(u)]);
        cap[std::size_t(i)] = l.nhwc_capable(ins, dtype, dev);
        gains[std::size_t(i)] = cap[std::size_t(i)] && l.nhwc_gains(ins, dtype, dev);
    }
    for (int i = 0; i < n; ++i) { // a view's input keeps NCHW semantics
        const int u = inputs_[std::size_t(i)].empty() ? -1 : inputs_[std::size_t(i)][0];
        if (layers_[std::size_t(i)]->is_view() && !layout_neutral(plan_.shapes[std::size_t(u)])) {
            const int w = writer(u);
            if (w >= 0) cap[std::size_t(w)] = gains[std::size_t(w)] = 0;
        }
    }
    std::vector<int> parent(static_cast<std::size_t>(n), 0);
    std::iota(parent.begin(), parent.end(), 0);
    auto find = [&](int x) {
        while (parent[std::size_t(x)] != x) x = parent[std::size_t(x)] = parent[std::size_t(parent[std::size_t(x)])];
        return x;
    };
    for (int i = 0; i < n; ++i) {
        if (!cap[std::size_t(i)]) continue;
        for (int u : inputs_[std::size_t(i)]) {
            const int w = writer(u);
            if (w >= 0 && cap[std::size_t(w)] && !layout_neutral(plan_.shapes[std::size_t(u)]))
                parent[std::size_t(find(i))] = find(w);
        }
    }
    std::vector<char> region_gains(std::size_t(n), 0);
    for (int i = 0; i < n; ++i)
        if (gains[std::size_t(i)]) region_gains[std::size_t(find(i))] = 1;
    for (int i = 0; i < n; ++i) {
        const int w = writer(i + 1);
        const bool nhwc = w >= 0 && cap[std::size_t(w)] && region_gains[std::size_t(find(w))];
        if (!layers_[std::size_t(i)]->is_view()) run_nhwc_[std::size_t(i)] = nhwc;
        layout_[std::size_t(i) + 1] = nhwc && !layers_[std::size_t(i)]->is_view() ? Layout::nhwc : Layout::nchw;
    }
}

const void *Graph::convert(const void *src, const Shape &shape, Layout from, Layout to, DType dtype, const Device &dev,
                           std::size_t slot, void *dst) {
    if (from == to || layout_neutral(shape)) return src;
    if (!dst) {
        if (conv_bufs_.size() <= slot) conv_bufs_.resize(slot + 1);
        const std::size_t bytes = std::size_t(numel(shape)) * dtype_size(dtype);
        if (conv_bufs_[slot].size() < bytes) conv_bufs_[slot].resize(bytes);
        dst = conv_bufs_[slot].data();
    }
    if (!to_nhwc_) {
        to_nhwc_ = std::make_shared<PermuteLayer>(std::vector<int64_t>{0, 2, 3, 1}, "default");
        to_nchw_ = std::make_shared<PermuteLayer>(std::vector<int64_t>{0, 3, 1, 2}, "default");
    }
    if (to == Layout::nhwc)
        to_nhwc_->forward(src, shape, dst, dtype, dev);
    else
        to_nchw_->forward(src, {shape[0], shape[2], shape[3], shape[1]}, dst, dtype, dev);
    return dst;
}

Tensor Graph::forward(const void *in, const Shape &in_shape, DType dtype, const Device &dev) {
    std::lock_guard<std::mutex> lk(mu_);
    if (dtype_)
        AI3_CHECK(*dtype_ == dtype, TypeError, "ai3.Model input dtype ", dtype_name(dtype),
                  " does not match the model's dtype ", dtype_name(*dtype_));
    DeviceOps *ops = registry().device_ops(dev.backend);
    const std::size_t es = dtype_size(dtype);
    if (!planned_ || planned_for_ != in_shape || planned_dtype_ != dtype || planned_dev_.backend != dev.backend ||
        planned_dev_.index != dev.index || planned_dev_.handle != dev.handle) {
        buffers_.clear();
        in_buf_.reset();
        planned_ = false;
        detail::release_free_heap(); // before this plan's buffers are touched
        planned_for_ = in_shape;
        plan_ = plan(in_shape, dtype);
        plan_fusion(dtype, dev); // may redo plan_ for fused pools
        plan_layouts(dtype, dev);
        for (std::size_t b : plan_.slot_bytes) buffers_.emplace_back(ops, dev, b);
        if (ops) in_buf_ = DeviceBuffer(ops, dev, std::size_t(numel(in_shape)) * es);
        planned_for_ = in_shape;
        planned_dtype_ = dtype;
        planned_dev_ = dev;
        planned_ = true;
    }
    const void *input = in;
    if (ops && in_buf_.bytes()) {
        ops->copy(in_buf_.data(), in, in_buf_.bytes(), dev);
        input = in_buf_.data();
    }
    auto data = [&](int v) -> void * {
        int s = plan_.slot[v];
        return s < 0 ? const_cast<void *>(input) : buffers_[s].data();
    };
    std::vector<const void *> ptrs;
    std::vector<Shape> shapes;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
        Layer &l = *layers_[i];
        if (l.is_view()) continue;
        const int v = int(i) + 1;
        if (numel(plan_.shapes[v]) == 0) continue;
        if (fused_[i] == 1) { // absorbed into its conv's epilogue
            l.mark_fused();
            continue;
        }
        ptrs.clear();
        shapes.clear();
        for (int u : inputs_[i]) {
            ptrs.push_back(data(u));
            shapes.push_back(plan_.shapes[u]);
        }
        const Layout run_as = run_nhwc_[i] ? Layout::nhwc : Layout::nchw;
        try {
            times_.run(i, ops, dev, [&] {
                for (std::size_t j = 0; j < ptrs.size(); ++j) // inputs stored otherwise: converted copies
                    ptrs[j] = convert(ptrs[j], shapes[j], layout_[std::size_t(inputs_[i][j])], run_as, dtype, dev, j);
                if (fused_[i] >= 2) {
                    const int code = fused_[i] - 2;
                    static_cast<Conv2dLayer &>(l).forward_fused(ptrs[0], shapes[0], data(fused_out_[i]), dtype, dev,
                                                                Activation(code % 3), code >= 3, run_as);
                } else if (run_as == Layout::nhwc) {
                    l.forward_nhwc(ptrs, shapes, data(v), dtype, dev);
                } else {
                    l.forward_n(ptrs, shapes, data(v), dtype, dev);
                }
            });
        } catch (const ValueError &e) { throw ValueError(str("layer ", i, " (", l.op(), "): ", e.what())); }
    }
    Tensor result(plan_.shapes[output_], dtype);
    if (result.nbytes() && layout_[std::size_t(output_)] == Layout::nhwc && !layout_neutral(plan_.shapes[output_])) {
        convert(data(output_), plan_.shapes[output_], Layout::nhwc, Layout::nchw, dtype, dev, 0, result.data());
    } else if (result.nbytes()) {
        if (ops) {
            ops->copy(result.data(), data(output_), result.nbytes(), dev);
            ops->synchronize(dev);
        } else {
            std::memcpy(result.data(), data(output_), result.nbytes());
        }
    }
    times_.finish_run();
    return result;
}

} // namespace ai3
