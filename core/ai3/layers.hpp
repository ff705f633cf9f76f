// Backend-neutral layers: shape inference and validation (every bad input is a
// typed error before any kernel runs), algorithm resolution, and a kernel cache
// per (input shape, dtype, device) so the registry is consulted once, not per call.
#pragma once
#include "guess.hpp"
#include "ops.hpp"
#include "registry.hpp"
#include "tensor.hpp"

#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace ai3 {

namespace detail {
// Calls f(float{}) or f(double{}) for a dtype: kernels are templates on the element type.
template <class F> void with_dtype(DType d, F &&f) {
    if (d == DType::f32)
        f(float{});
    else
        f(double{});
}

// Ops with one kernel: the meta names resolve to it.
inline std::string resolve_simple(const std::string &algo) {
    return (algo == "default" || algo == "guess") ? "direct" : algo;
}
} // namespace detail

// A built kernel, held for one run: the shared_ptr keeps it alive if the layer's cache
// evicts or clears it meanwhile, and the lock serialises runs of this one kernel, whose
// state (device copies of the weights, packed panels, scratch) is rebuilt inside run().
// Different kernels, and different layers, still run concurrently.
template <class K> class KernelRef {
  public:
    KernelRef(std::shared_ptr<K> k, std::shared_ptr<std::mutex> mu) : k_(std::move(k)), mu_(std::move(mu)), lk_(*mu_) {}
    K *operator->() const { return k_.get(); }

  private:
    std::shared_ptr<K> k_;
    std::shared_ptr<std::mutex> mu_; // before lk_: unlocked before it is released
    std::unique_lock<std::mutex> lk_;
};

// Kernels kept per layer (least recently used evicted): a model fed many input shapes
// must not grow without bound, and a kernel can hold a transformed copy of the weights.
constexpr std::size_t kKernelsPerLayer = 8;

class Layer {
  public:
    explicit Layer(std::string algorithm) : algorithm_(std::move(algorithm)) {}
    virtual ~Layer() = default;
    Layer(const Layer &) = delete;
    Layer &operator=(const Layer &) = delete;

    virtual const char *op() const = 0;
    // Validates the input shape and returns the output shape.
    virtual Shape out_shape(const Shape &in) const = 0;
    // `in` and `out` are dense buffers of `in` / out_shape(in) elements of `dtype`.
    virtual void forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) = 0;
    // Elementwise layers may run with in == out on the Model's own buffers.
    virtual bool elementwise() const { return false; }
    // Layers that only change the shape (flatten): the Model reuses the buffer.
    virtual bool is_view() const { return false; }
    // The dtype of owned parameters, if any (a Model's input must match it).
    virtual std::optional<DType> param_dtype() const { return std::nullopt; }
    // The owned parameters by name (sharing storage), as the layer's constructor takes
    // them back: what saving a Model writes.
    using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
    virtual NamedTensors params() const { return {}; }

    // Graph nodes (ai3::Graph) may take several inputs (add, cat) or none (a constant).
    // The defaults describe a unary layer through the single-input functions above.
    // arity: the number of inputs; -1 for "one or more".
    virtual int arity() const { return 1; }
    virtual Shape out_shape_n(const std::vector<Shape> &in) const;
    virtual void forward_n(const std::vector<const void *> &in, const std::vector<Shape> &in_shapes, void *out,
                           DType dtype, const Device &dev);
    // Whether the output may be written over input i (the graph does so when that
    // input's value dies here): the op reads element k of that input only to write
    // element k of the output, and both have the same shape.
    virtual bool can_overwrite(int i, const std::vector<Shape> &in, const Shape &out) const {
        return i == 0 && elementwise() && in.size() == 1 && in[0] == out;
    }
    // Inputs that only give a shape (a view's size taken from another tensor): their
    // data is not read, so they do not keep a buffer alive.
    virtual bool reads_input(int) const { return true; }
    // The activation a preceding convolution may apply in its epilogue instead of this
    // layer (none: this layer must run itself). Only layers left to ai3's choice
    // ("default") offer it: one asked to run "direct" does run.
    virtual Activation as_epilogue() const { return Activation::none; }

    // Per-layer layouts (ai3::Graph on the CPU): whether this layer reads and writes its
    // 4-D values NHWC for these inputs (forward_nhwc), and whether it is the kind of
    // layer that gains from it, which makes its region of the graph run NHWC.
    // layout_free: elementwise on its only input, so forward_n serves any layout.
    virtual bool layout_free() const { return false; }
    virtual bool nhwc_capable(const std::vector<Shape> &, DType, const Device &) const { return layout_free(); }
    virtual bool nhwc_gains(const std::vector<Shape> &, DType, const Device &) const { return false; }
    // forward_n on NHWC values; shapes stay logical (N, C, H, W).
    virtual void forward_nhwc(const std::vector<const void *> &in, const std::vector<Shape> &in_shapes, void *out,
                              DType dtype, const Device &dev);

    const std::string &algorithm() const { return algorithm_; }
    // The concrete algorithm the last forward ran ("" before the first run).
    std::string resolved_algorithm() const {
        std::lock_guard<std::mutex> lk(mu_);
        return resolved_;
    }
    // What the layer would run for this input (resolves guess/default without running).
    virtual std::string resolve_for(const Shape &in, DType dtype, const Device &dev) const;
    // Forget resolved algorithms and built kernels (after tuning changed what `default` picks).
    void clear_cache();
    // This layer's work was done by the previous layer's kernel (a Model fused them).
    void mark_fused() {
        std::lock_guard<std::mutex> lk(mu_);
        resolved_ = "fused";
    }

  protected:
    struct CacheKey {
        std::string tag;
        Shape shape;
        int dtype, backend, index;
        // Kernels hold backend state (a SYCL queue and its context's memory, a CUDA
        // stream's library handles and scratch), so a kernel is built per handle.
        const void *handle;
        bool operator<(const CacheKey &o) const {
            return std::tie(tag, shape, dtype, backend, index, handle) <
                   std::tie(o.tag, o.shape, o.dtype, o.backend, o.index, o.handle);
        }
    };
    struct CacheEntry {
        std::shared_ptr<void> kernel;
        std::shared_ptr<std::mutex> run_mu;
        std::string algorithm;
        uint64_t last_use = 0;
    };

    // Resolves (once per key) the algorithm and builds the kernel; returns it held for
    // one run. The layer lock is released before the kernel's own lock is taken.
    template <class Op, class T, class Resolve>
    KernelRef<Kernel<Op, T>> cached_kernel(const std::string &tag, const Shape &shape, const typename Op::Params &p,
                                           const Device &dev, Resolve &&resolve) {
        CacheKey key{tag, shape, int(dtype_of<T>::value), int(dev.backend), dev.index, dev.handle};
        std::shared_ptr<Kernel<Op, T>> kernel;
        std::shared_ptr<std::mutex> run_mu;
        {
            std::lock_guard<std::mutex> lk(mu_);
            auto it = cache_.find(key);
            if (it == cache_.end()) {
                std::string algo = resolve();
                auto factory = registry().get<Op, T>(algo, dev.backend);
                std::shared_ptr<Kernel<Op, T>> k(factory(p, dev));
                std::string ran = k->runs();
                if (cache_.size() >= kKernelsPerLayer) evict_oldest();
                it = cache_
                         .emplace(key, CacheEntry{std::static_pointer_cast<void>(k), std::make_shared<std::mutex>(),
                                                  ran.empty() ? algo : ran})
                         .first;
            }
            it->second.last_use = ++uses_;
            if (tag.compare(0, std::strlen(op()), op()) == 0) resolved_ = it->second.algorithm;
            kernel = std::static_pointer_cast<Kernel<Op, T>>(it->second.kernel);
            run_mu = it->second.run_mu;
        }
        return KernelRef<Kernel<Op, T>>(std::move(kernel), std::move(run_mu));
    }

  public:
    // The number of kernels this layer holds (for tests of the bound).
    std::size_t cached_kernels() const {
        std::lock_guard<std::mutex> lk(mu_);
        return cache_.size();
    }
    // What the cached kernels resolved to: (tag, input shape, dtype, algorithm) per kernel
    // on the CPU or any device; saving a Model keeps them.
    struct Resolution {
        std::string tag;
        Shape shape;
        DType dtype;
        std::string algorithm;
    };
    std::vector<Resolution> resolutions() const {
        std::lock_guard<std::mutex> lk(mu_);
        std::vector<Resolution> out;
        for (auto &[k, e] : cache_) out.push_back({k.tag, k.shape, DType(k.dtype), e.algorithm});
        return out;
    }

  protected:
    void evict_oldest() {
        auto oldest = cache_.begin();
        for (auto it = cache_.begin(); it != cache_.end(); ++it)
            if (it->second.last_use < oldest->second.last_use) oldest = it;
        cache_.erase(oldest);
    }

    // One input, one output of as many elements, a single kernel (relu, flatten, reshape).
    template <class Op>
    void run_unary(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) {
        ElementwiseParams p{numel(in_shape)};
        if (p.n == 0) return;
        detail::with_dtype(dtype, [&](auto t) {
            using T = decltype(t);
            cached_kernel<Op, T>(op(), in_shape, p, dev, [&] {
                return detail::resolve_simple(algorithm_);
            })->run({static_cast<const T *>(in), static_cast<T *>(out)});
        });
    }

    std::string algorithm_;
    mutable std::mutex mu_;
    std::string resolved_;
    std::map<CacheKey, CacheEntry> cache_;
    uint64_t uses_ = 0;
};

// ---- conv2d -------------------------------------------------------------------

struct Conv2dConfig {
    int64_t stride_h = 1, stride_w = 1;
    int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
    int64_t dil_h = 1, dil_w = 1;
    int64_t groups = 1;
    PadMode padding_mode = PadMode::zeros;
};

class Conv2dLayer final : public Layer {
  public:
    // Owned parameters (ai3.Model). `bias` may be empty.
    Conv2dLayer(Tensor weight, std::optional<Tensor> bias, Conv2dConfig cfg, std::string algorithm);
    // Borrowed parameters (swap_conv2d): only shapes are fixed; pointers come per call.
    Conv2dLayer(Shape weight_shape, bool has_bias, Conv2dConfig cfg, std::string algorithm);

    const char *op() const override { return "conv2d"; }
    Shape out_shape(const Shape &in) const override;
    void forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) override;
    void forward_with(const void *in, const Shape &in_shape, const void *weight, const void *bias, void *out,
                      DType dtype, const Device &dev, uint64_t weight_version = 0, Activation act = Activation::none,
                      bool max_pool = false, Layout layout = Layout::nchw);
    // forward() followed by an activation (and, with max_pool, a 2x2/2 max pool: `out`
    // is then the pooled output) in the same pass over the output (CPU fallback only:
    // other backends' kernels do not read Conv2dParams::act / max_pool_2x2).
    void forward_fused(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev, Activation act,
                       bool max_pool = false, Layout layout = Layout::nchw);
    // NHWC: the algorithm this layer runs has an NHWC kernel for this input (direct on a
    // depthwise layer, smm/gemm on a 1x1/stride 1/unpadded/one-group layer, zeros
    // padding, planes up to 28x28, CPU; guess/default take whichever fits);
    // depthwise layers are the ones that gain (no short rows).
    bool nhwc_capable(const std::vector<Shape> &in, DType dtype, const Device &dev) const override;
    bool nhwc_gains(const std::vector<Shape> &in, DType dtype, const Device &dev) const override;
    void forward_nhwc(const std::vector<const void *> &in, const std::vector<Shape> &in_shapes, void *out, DType dtype,
                      const Device &dev) override;
    // Whether `next`, reading this layer's output for input `in`, is a max pool this
    // layer can apply in its epilogue: MaxPool2d(2, 2) left to ai3 ("default"), on the
    // CPU, when this layer runs winograd (the kernel that implements the fused pool).
    bool can_fuse_max_pool(const Layer &next, const Shape &in, DType dtype, const Device &dev) const;
    std::optional<DType> param_dtype() const override;
    NamedTensors params() const override {
        NamedTensors out;
        if (weight_) out.emplace_back("weight", *weight_);
        if (bias_) out.emplace_back("bias", *bias_);
        return out;
    }
    std::string resolve_for(const Shape &in, DType dtype, const Device &dev) const override;
    // The key ai3.tune stores this layer's measured winner under, for this input.
    std::string tune_key(const Shape &in, DType dtype, const Device &dev) const;

    const Conv2dConfig &config() const { return cfg_; }
    const Shape &weight_shape() const { return wshape_; }

    // The kernel parameters for an input shape (as the kernel sees it: pre-padded for
    // non-zero padding modes).
    Conv2dParams params(const Shape &in) const { return params_for(in); }

  private:
    Conv2dParams params_for(const Shape &in) const;
    // The algorithm this layer runs on NHWC values for this input ("" where none can).
    std::string nhwc_algorithm(const Shape &in) const;
    // The registry entry that runs this input: the algorithm itself, the concrete one
    // 'guess'/'default' pick, or 'guess'/'default' where the backend registers them.
    std::string registry_name_for(const Shape &in, DType dtype, const Device &dev) const;
    template <class T>
    void run(const T *in, const Shape &in_shape, const T *w, const T *b, T *out, const Device &dev,
             uint64_t weight_version, Activation act, bool max_pool, Layout layout);

    Shape wshape_;
    bool has_bias_;
    Conv2dConfig cfg_;
    std::optional<Tensor> weight_, bias_;
    // The padded input for non-zero padding modes on a backend with device memory
    // (host scratch serves the CPU); held under pad_mu_ for the whole run.
    std::mutex pad_mu_;
    DeviceBuffer pad_buf_;
    Device pad_dev_;
};

// ---- linear ---------------------------------------------------------------------

class LinearLayer final : public Layer {
  public:
    LinearLayer(Tensor weight, std::optional<Tensor> bias, std::string algorithm);
    const char *op() const override { return "linear"; }
    Shape out_shape(const Shape &in) const override;
    void forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) override;
    std::optional<DType> param_dtype() const override { return weight_.dtype(); }
    NamedTensors params() const override {
        NamedTensors out{{"weight", weight_}};
        if (bias_) out.emplace_back("bias", *bias_);
        return out;
    }

  private:
    Tensor weight_;
    std::optional<Tensor> bias_;
};

// ---- pooling ------------------------------------------------------------------

struct Pool2dConfig {
    int64_t kh = 1, kw = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
    bool ceil_mode = false;
    bool count_include_pad = true;
    int64_t divisor_override = 0;
};

class Pool2dLayer final : public Layer {
  public:
    enum Kind { max, avg };
    Pool2dLayer(Kind kind, Pool2dConfig cfg, std::string algorithm);
    const char *op() const override { return kind_ == max ? "maxpool2d" : "avgpool2d"; }
    Kind kind() const { return kind_; }
    Shape out_shape(const Shape &in) const override;
    void forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) override;
    const Pool2dConfig &config() const { return cfg_; }

  private:
    Kind kind_;
    Pool2dConfig cfg_;
};

class AdaptiveAvgPool2dLayer final : public Layer {
  public:
    // A non-positive size keeps that input dimension (torch's None).
    AdaptiveAvgPool2dLayer(int64_t out_h, int64_t out_w, std::string algorithm);
    const char *op() const override { return "adaptiveavgpool2d"; }
    Shape out_shape(const Shape &in) const override;
    void forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) override;
    // NHWC to a 1x1 output (a classifier head's global average): the mean over the
    // stored (N, H*W, C) middle dimension, so an NHWC region runs on into the pool.
    bool nhwc_capable(const std::vector<Shape> &in, DType dtype, const Device &dev) const override;
    void forward_nhwc(const std::vector<const void *> &in, const std::vector<Shape> &in_shapes, void *out, DType dtype,
                      const Device &dev) override;

  private:
    int64_t out_h_, out_w_;
};

class ReLULayer final : public Layer {
  public:
    explicit ReLULayer(std::string algorithm) : Layer(std::move(algorithm)) {}
    const char *op() const override { return "relu"; }
    Shape out_shape(const Shape &in) const override { return in; }
    void forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) override;
    bool elementwise() const override { return true; }
    Activation as_epilogue() const override { return algorithm() == "default" ? Activation::relu : Activation::none; }
    bool layout_free() const override { return true; }
};

class FlattenLayer final : public Layer {
  public:
    FlattenLayer(int64_t start_dim, int64_t end_dim, std::string algorithm);
    const char *op() const override { return "flatten"; }
    Shape out_shape(const Shape &in) const override;
    void forward(const void *in, const Shape &in_shape, void *out, DType dtype, const Device &dev) override;
    bool is_view() const override { return true; }

  private:
    int64_t start_, end_;
};

// ---- model ----------------------------------------------------------------------

namespace detail {
// Returns heap memory that is free but still resident to the OS (glibc's malloc_trim;
// a no-op elsewhere). Models call it once per buffer plan: converting a network
// (swap_backend) frees the framework's copy of the weights and its own temporaries in
// the middle of the heap, where glibc keeps them resident (~90 MiB for ResNet-50)
// until trimmed, which put ai3.Model's peak memory above torch's.
void release_free_heap();
} // namespace detail

// Per-layer wall time of Model/Graph runs, collected only while switched on
// (ai3.Model.profile): a device backend is synchronised after each layer so each
// time is that layer's own work, which is why it is off for normal runs.
class LayerTimes {
  public:
    void enable(bool on, std::size_t n_layers) {
        on_ = on;
        if (on) {
            seconds_.assign(n_layers, 0.0);
            runs_ = 0;
        }
    }
    bool on() const { return on_; }
    void finish_run() { runs_ += on_; }
    // Runs f as layer `layer`, timed when on.
    template <class F> void run(std::size_t layer, DeviceOps *ops, const Device &dev, F &&f) {
        if (!on_) {
            f();
            return;
        }
        auto t0 = std::chrono::steady_clock::now();
        f();
        if (ops) ops->synchronize(dev);
        seconds_.at(layer) += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    // Mean seconds per run of each layer (0 for layers never run, e.g. fused or views).
    std::vector<double> mean() const {
        std::vector<double> m(seconds_);
        for (double &v : m) v = runs_ ? v / double(runs_) : 0.0;
        return m;
    }

  private:
    bool on_ = false;
    std::vector<double> seconds_;
    int64_t runs_ = 0;
};

// A chain of layers run in one C++ call. Intermediate activations live in two
// buffers planned once per (input shape, dtype, device) and reused; the output is
// a fresh host tensor (callers keep it), the input is only read. On a backend
// with device memory the buffers live on the device: one copy in, one copy out.
class Model {
  public:
    explicit Model(std::vector<std::shared_ptr<Layer>> layers);
    Tensor forward(const void *in, const Shape &in_shape, DType dtype, const Device &dev);
    Shape out_shape(const Shape &in) const;
    const std::vector<std::shared_ptr<Layer>> &layers() const { return layers_; }
    void set_profiling(bool on) {
        std::lock_guard<std::mutex> lk(mu_);
        times_.enable(on, layers_.size());
    }
    std::vector<double> layer_seconds() const {
        std::lock_guard<std::mutex> lk(mu_); // a forward adds to the times under it
        return times_.mean();
    }
    // Drops the plan with every layer's kernels: the fusion decided in it depends on
    // what each conv resolved to, which tuning can change.
    void clear_cache() {
        std::lock_guard<std::mutex> lk(mu_);
        planned_ = false;
        for (auto &l : layers_) l->clear_cache();
    }

  private:
    std::vector<std::shared_ptr<Layer>> layers_;
    LayerTimes times_;
    mutable std::mutex mu_;
    bool planned_ = false;
    Shape planned_for_;
    DType planned_dtype_ = DType::f32;
    Device planned_dev_;
    // per layer, for a conv: the activation and 2x2 max pool its epilogue applies
    std::vector<Activation> fuse_act_;
    std::vector<char> fuse_pool_;
    DeviceBuffer buffers_[2], in_buf_, out_buf_;
};

} // namespace ai3
