// ai3's graph executor and the layers only graphs need (several inputs, views,
// constants, callbacks into the host framework).
//
// A Graph is a DAG of layers in topological order: value 0 is the graph input and
// value i+1 the output of layer i, which reads the values listed in inputs[i].
// It runs in one C++ call. Buffers are planned once per (input shape, dtype,
// device): a value's buffer returns to a free list after its last reader, and an
// elementwise layer writes over an input that dies at it; views (reshape,
// flatten) alias their input's buffer. Memory comes from the backend's DeviceOps
// (host memory when there is none), like the chain Model's.
#pragma once
#include "layers.hpp"

#include <functional>

namespace ai3 {

// ---- graph layers ----------------------------------------------------------------

// Inference BatchNorm2d as a per-channel affine map (used where it cannot be folded
// into a preceding convolution).
class BatchNorm2dLayer final : public Layer {
  public:
    // weight/bias may be empty (affine=False).
    BatchNorm2dLayer(Tensor running_mean, Tensor running_var, std::optional<Tensor> weight, std::optional<Tensor> bias,
                     double eps, std::string algorithm);
    // y = x * scale + shift per channel: the folded form params() returns, taken back.
    BatchNorm2dLayer(Tensor scale, Tensor shift, std::string algorithm);
    const char *op() const override { return "batchnorm2d"; }
    Shape out_shape(const Shape &in) const override;
    void forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) override;
    bool elementwise() const override { return true; }
    std::optional<DType> param_dtype() const override { return scale_.dtype(); }
    NamedTensors params() const override { return {{"scale", scale_}, {"shift", shift_}}; }

  private:
    Tensor scale_, shift_;
};

// Pointwise activations.
class PointwiseLayer final : public Layer {
  public:
    enum Kind { relu6, hardswish, hardsigmoid, silu, sigmoid, gelu, gelu_tanh };
    PointwiseLayer(Kind kind, std::string algorithm) : Layer(std::move(algorithm)), kind_(kind) {}
    const char *op() const override;
    Shape out_shape(const Shape &in) const override { return in; }
    void forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) override;
    bool elementwise() const override { return true; }
    Activation as_epilogue() const override {
        return kind_ == relu6 && algorithm() == "default" ? Activation::relu6 : Activation::none;
    }
    Kind kind() const { return kind_; }
    bool layout_free() const override { return true; }

  private:
    Kind kind_;
};

// a + b or a * b with torch broadcasting.
class BinaryLayer final : public Layer {
  public:
    enum Kind { add, mul };
    BinaryLayer(Kind kind, std::string algorithm) : Layer(std::move(algorithm)), kind_(kind) {}
    const char *op() const override { return kind_ == add ? "add" : "mul"; }
    int arity() const override { return 2; }
    Shape out_shape(const Shape &in) const override;
    Shape out_shape_n(const std::vector<Shape> &in) const override;
    void forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) override;
    void forward_n(const std::vector<const void *> &in, const std::vector<Shape> &in_shapes, void *out, DType dtype,
                   const Device &dev) override;
    bool can_overwrite(int i, const std::vector<Shape> &in, const Shape &out) const override {
        return i >= 0 && i < int(in.size()) && in[i] == out;
    }
    // NHWC on 4-D operands: the same broadcasting over the stored (N, H, W, C) order
    // (an operand with 1x1 planes, an SE gate, is stored alike in both layouts).
    bool nhwc_capable(const std::vector<Shape> &in, DType, const Device &) const override;
    void forward_nhwc(const std::vector<const void *> &in, const std::vector<Shape> &in_shapes, void *out, DType dtype,
                      const Device &dev) override;

  private:
    Kind kind_;
};

// torch.cat along `dim` (negative counts from the end).
class CatLayer final : public Layer {
  public:
    CatLayer(int64_t dim, std::string algorithm) : Layer(std::move(algorithm)), dim_(dim) {}
    const char *op() const override { return "cat"; }
    int arity() const override { return -1; }
    Shape out_shape(const Shape &in) const override { return out_shape_n({in}); }
    Shape out_shape_n(const std::vector<Shape> &in) const override;
    void forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) override {
        forward_n({in}, {in_shape}, out, dtype, dev);
    }
    void forward_n(const std::vector<const void *> &in, const std::vector<Shape> &in_shapes, void *out, DType dtype,
                   const Device &dev) override;

  private:
    int64_t dim_;
};

// One piece of chunk/split: input.narrow(dim, start, length).
class SplitLayer final : public Layer {
  public:
    SplitLayer(int64_t dim, int64_t start, int64_t length, std::string algorithm);
    const char *op() const override { return "split"; }
    Shape out_shape(const Shape &in) const override;
    void forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) override;

  private:
    int64_t dim_, start_, len_;
};

// input.permute(perm), materialised dense.
class PermuteLayer final : public Layer {
  public:
    PermuteLayer(std::vector<int64_t> perm, std::string algorithm);
    // input.transpose(d0, d1), for any rank.
    PermuteLayer(int64_t d0, int64_t d1, std::string algorithm);
    const char *op() const override { return "permute"; }
    Shape out_shape(const Shape &in) const override;
    void forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) override;

  private:
    std::vector<int64_t> perm_for(int64_t rank) const;
    std::vector<int64_t> perm_;
    bool transpose_ = false;
};

// view/reshape to a target whose entries are fixed sizes, -1 (inferred), or a
// dimension of one of the layer's inputs: entry {src, dim} with src >= 0 takes
// in[src][dim], so view(x.size(0), -1) follows the batch size. Inputs after the
// first only lend their shapes (their data is never read).
class ReshapeLayer final : public Layer {
  public:
    struct Entry {
        int src = -1;      // -1: `size` below; else index of the input whose dim is taken
        int64_t dim = 0;   // that input's dim
        int64_t size = -1; // for src == -1: a size, or -1 to infer
    };
    ReshapeLayer(std::vector<Entry> target, int n_inputs, std::string algorithm);
    const char *op() const override { return "reshape"; }
    int arity() const override { return n_inputs_; }
    Shape out_shape(const Shape &in) const override { return out_shape_n({in}); }
    Shape out_shape_n(const std::vector<Shape> &in) const override;
    void forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) override;
    void forward_n(const std::vector<const void *> &in, const std::vector<Shape> &in_shapes, void *out, DType dtype,
                   const Device &dev) override {
        forward(in.at(0), in_shapes.at(0), out, dtype, dev);
    }
    bool is_view() const override { return true; }
    bool reads_input(int i) const override { return i == 0; }

  private:
    std::vector<Entry> target_;
    int n_inputs_;
};

// Mean over a contiguous, sorted block of dims (e.g. the spatial dims (2, 3)).
class MeanLayer final : public Layer {
  public:
    MeanLayer(std::vector<int64_t> dims, bool keepdim, std::string algorithm);
    const char *op() const override { return "mean"; }
    Shape out_shape(const Shape &in) const override;
    void forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) override;

  private:
    // The block [d0, d1] for an input of rank r.
    std::pair<int64_t, int64_t> block(const Shape &in) const;
    std::vector<int64_t> dims_;
    bool keepdim_;
};

// F.layer_norm over the trailing `normalized_shape` dims, or (over_channels) over dim 1
// of an (N, C, ...) input with normalized_shape (C,): ConvNeXt's LayerNorm2d, which torch
// writes as permute -> layer_norm -> permute.
class LayerNormLayer final : public Layer {
  public:
    LayerNormLayer(Shape normalized_shape, std::optional<Tensor> weight, std::optional<Tensor> bias, double eps,
                   DType dtype, std::string algorithm, bool over_channels = false);
    const char *op() const override { return "layernorm"; }
    Shape out_shape(const Shape &in) const override;
    void forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) override;
    bool elementwise() const override { return false; } // a row is read whole before it is written; see can_overwrite
    bool can_overwrite(int i, const std::vector<Shape> &in, const Shape &out) const override {
        return i == 0 && in.size() == 1 && in[0] == out; // each row is read fully before it is written
    }
    // Without weight and bias the layer takes either dtype.
    std::optional<DType> param_dtype() const override {
        return weight_ || bias_ ? std::optional<DType>(dtype_) : std::nullopt;
    }
    NamedTensors params() const override {
        NamedTensors out;
        if (weight_) out.emplace_back("weight", *weight_);
        if (bias_) out.emplace_back("bias", *bias_);
        return out;
    }

  private:
    Shape nshape_;
    std::optional<Tensor> weight_, bias_;
    double eps_;
    DType dtype_;
    bool channels_;
};

// A parameter of the network used as a tensor (get_attr: ConvNeXt's layer scale).
class ConstantLayer final : public Layer {
  public:
    explicit ConstantLayer(Tensor value) : Layer("direct"), value_(std::move(value)) {}
    const char *op() const override { return "constant"; }
    int arity() const override { return 0; }
    Shape out_shape(const Shape &) const override { return value_.shape(); }
    Shape out_shape_n(const std::vector<Shape> &in) const override;
    void forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) override;
    void forward_n(const std::vector<const void *> &in, const std::vector<Shape> &in_shapes, void *out, DType dtype,
                   const Device &dev) override;
    std::optional<DType> param_dtype() const override { return value_.dtype(); }
    NamedTensors params() const override { return {{"value", value_}}; }
    const Tensor &value() const { return value_; }

  private:
    Tensor value_;
};

// A node that runs in the host framework (swap_backend(unsupported="torch")). The
// functions are given by the bindings, which take the interpreter lock inside them;
// `run` receives host pointers (device data is staged through host memory).
class CallbackLayer final : public Layer {
  public:
    using ShapeFn = std::function<Shape(const std::vector<Shape> &)>;
    using RunFn = std::function<void(const std::vector<const void *> &, const std::vector<Shape> &, void *,
                                     const Shape &, DType)>;
    CallbackLayer(std::string name, int n_inputs, ShapeFn shape, RunFn run)
        : Layer("torch"), name_(std::move(name)), n_(n_inputs), shape_(std::move(shape)), run_(std::move(run)) {}
    const char *op() const override { return "torch"; }
    int arity() const override { return n_; }
    Shape out_shape(const Shape &in) const override { return out_shape_n({in}); }
    Shape out_shape_n(const std::vector<Shape> &in) const override;
    void forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) override {
        forward_n({in}, {in_shape}, out, dtype, dev);
    }
    void forward_n(const std::vector<const void *> &in, const std::vector<Shape> &in_shapes, void *out, DType dtype,
                   const Device &dev) override;
    std::string resolve_for(const Shape &, DType, const Device &) const override { return "torch"; }
    const std::string &name() const { return name_; }

  private:
    std::string name_;
    int n_;
    ShapeFn shape_;
    RunFn run_;
};

// ---- the graph ------------------------------------------------------------------

class Graph {
  public:
    Graph(std::vector<std::shared_ptr<Layer>> layers, std::vector<std::vector<int>> inputs, int output);
    Tensor forward(const void *in, const Shape &in_shape, DType dtype, const Device &dev);
    Shape out_shape(const Shape &in, DType dtype = DType::f32) const;
    // The shape of every value for this input (value 0 is the input).
    std::vector<Shape> value_shapes(const Shape &in, DType dtype = DType::f32) const;

    const std::vector<std::shared_ptr<Layer>> &layers() const { return layers_; }
    const std::vector<std::vector<int>> &inputs() const { return inputs_; }
    int output() const { return output_; }

    // The buffer plan for an input (for tests and tuning): one size per buffer, and
    // for every value the buffer it lives in (-1: the graph input's own memory).
    struct Plan {
        std::vector<Shape> shapes;
        std::vector<int> slot;
        std::vector<std::size_t> slot_bytes;
    };
    Plan plan(const Shape &in, DType dtype) const;

    void set_profiling(bool on) {
        std::lock_guard<std::mutex> lk(mu_);
        times_.enable(on, layers_.size());
    }
    std::vector<double> layer_seconds() const {
        std::lock_guard<std::mutex> lk(mu_); // a forward adds to the times under it
        return times_.mean();
    }
    // Forget the plan (fusion, layouts, buffers) and every layer's kernels, after tuning
    // changed what 'default' resolves to; the next forward plans again.
    void clear_cache() {
        std::lock_guard<std::mutex> lk(mu_);
        planned_ = false;
        for (auto &l : layers_) l->clear_cache();
    }
    // The layout of every value in the current plan (after a forward; empty before).
    std::vector<Layout> value_layouts() const {
        std::lock_guard<std::mutex> lk(mu_);
        return layout_;
    }

  private:
    void plan_fusion(DType dtype, const Device &dev);
    void plan_layouts(DType dtype, const Device &dev);
    // `src` (value shape `shape`, stored `from`) re-stored in `to`: this graph's
    // conversion buffer `slot` (grown as needed), or `dst` when given.
    const void *convert(const void *src, const Shape &shape, Layout from, Layout to, DType dtype, const Device &dev,
                        std::size_t slot, void *dst = nullptr);
    Plan plan_writing(const Shape &in, DType dtype, const std::vector<int> *writes) const;
    std::vector<std::shared_ptr<Layer>> layers_;
    std::vector<std::vector<int>> inputs_;
    int output_;
    std::optional<DType> dtype_;
    LayerTimes times_;

    mutable std::mutex mu_;
    bool planned_ = false;
    Shape planned_for_;
    DType planned_dtype_ = DType::f32;
    Device planned_dev_;
    Plan plan_;
    // Fusion into a conv's epilogue (CPU fallback only): for a conv, fused_[i] =
    // 2 + Activation + (3 if a 2x2 max pool follows) and it writes value fused_out_[i];
    // 1 for a layer it absorbed (skipped); 0 otherwise. Absorbed: an activation left to
    // ai3 ("default") that is the conv's only reader and runs in place, and a
    // MaxPool2d(2, 2) that is the only reader of that (or of the conv).
    std::vector<char> fused_;
    std::vector<int> fused_out_;
    // Per-layer layouts (CPU only): run_nhwc_[i] when layer i runs on NHWC values;
    // layout_[v] how value v is stored. A layer reading a value stored otherwise than it
    // runs reads a converted copy (conv_bufs_); an NHWC output is converted on return.
    std::vector<char> run_nhwc_;
    std::vector<Layout> layout_;
    std::vector<std::vector<unsigned char>> conv_bufs_;
    std::shared_ptr<Layer> to_nhwc_, to_nchw_; // the conversions: permute layers
    std::vector<DeviceBuffer> buffers_;
    DeviceBuffer in_buf_;
};

} // namespace ai3
