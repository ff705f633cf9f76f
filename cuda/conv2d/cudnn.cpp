// conv2d through cuDNN, running the algorithm each ai3 name says:
//   gemm                  CUDNN_CONVOLUTION_FWD_ALGO_GEMM
//   implicit gemm         CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM
//   implicit precomp gemm CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM
//   winograd              CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD, else WINOGRAD_NONFUSED where only
//                         that one applies, else a clear UnsupportedError
//   guess                 the first supported entry of cudnnGetConvolutionForwardAlgorithm_v7
//   default               the fastest supported entry of cudnnFindConvolutionForwardAlgorithm,
//                         measured once per layer shape (per process)
// cuDNN's legacy descriptors take int sizes and symmetric padding: batches whose tensors
// exceed 2^31 elements run in chunks of images, and a layer whose trailing padding
// differs from its leading one runs on an explicitly zero-padded copy of the input.
#include "kernels.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>
#include <type_traits>
#include <vector>

namespace ai3::cuda {

namespace {

template <class T> cudnnDataType_t cudnn_type() {
    return std::is_same<T, float>::value ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
}

const char *algo_name(cudnnConvolutionFwdAlgo_t a) {
    switch (a) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM: return "implicit gemm";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM: return "implicit precomp gemm";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM: return "gemm";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT: return "cuDNN direct";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT: return "cuDNN fft";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING: return "cuDNN fft tiling";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD: return "winograd";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED: return "winograd"; // both are ai3's winograd
    default: return "?";
    }
}

enum class Mode { fixed, guess, find };

// The descriptors for one batch size.
struct Descs {
    cudnnTensorDescriptor_t x = nullptr, y = nullptr;
    cudnnFilterDescriptor_t w = nullptr;
    cudnnConvolutionDescriptor_t conv = nullptr;
    int64_t n = 0;
    Descs() = default;
    Descs(const Descs &) = delete;
    Descs &operator=(const Descs &) = delete;
    ~Descs() {
        if (x) cudnnDestroyTensorDescriptor(x);
        if (y) cudnnDestroyTensorDescriptor(y);
        if (w) cudnnDestroyFilterDescriptor(w);
        if (conv) cudnnDestroyConvolutionDescriptor(conv);
    }
};

// cudnnFind's winner per layer shape: measuring takes milliseconds, so once per process.
std::mutex found_mu;
std::map<std::vector<int64_t>, cudnnConvolutionFwdAlgo_t> &found() {
    static auto *m = new std::map<std::vector<int64_t>, cudnnConvolutionFwdAlgo_t>();
    return *m;
}

template <class T> class CudnnConv final : public Kernel<Conv2d, T> {
  public:
    CudnnConv(const Conv2dParams &p, const Device &dev, Mode mode, cudnnConvolutionFwdAlgo_t algo)
        : p_(p), ctx_(context_of(dev)), mode_(mode) {
        AI3_CHECK(p.groups >= 1 && p.C % p.groups == 0 && p.K % p.groups == 0, ValueError,
                  "conv2d: channels must be divisible by groups");
        // Trailing padding implied by the output size; cuDNN pads both sides alike.
        const int64_t eh = p.dil_h * (p.R - 1) + 1, ew = p.dil_w * (p.S - 1) + 1;
        const int64_t pad_b = std::max<int64_t>(0, (p.P - 1) * p.stride_h + eh - p.H - p.pad_h);
        const int64_t pad_r = std::max<int64_t>(0, (p.Q - 1) * p.stride_w + ew - p.W - p.pad_w);
        const int64_t sym_p = (p.H + 2 * p.pad_h - eh) / p.stride_h + 1;
        const int64_t sym_q = (p.W + 2 * p.pad_w - ew) / p.stride_w + 1;
        prepad_ = sym_p != p.P || sym_q != p.Q;
        if (prepad_) {
            pad_.N = 0; // set per chunk
            pad_.C = p.C;
            pad_.H = p.H;
            pad_.W = p.W;
            pad_.top = p.pad_h;
            pad_.bottom = pad_b;
            pad_.left = p.pad_w;
            pad_.right = pad_r;
            pad_.mode = PadMode::zeros;
        }
        hin_ = prepad_ ? p.pad_h + p.H + pad_b : p.H;
        win_ = prepad_ ? p.pad_w + p.W + pad_r : p.W;
        // Images per cuDNN call, so that no tensor of a call exceeds int32 elements.
        const int64_t per_in = p.C * hin_ * win_, per_out = p.K * p.P * p.Q;
        const int64_t limit = int64_t(0x7fffffff);
        chunk_ = std::min<int64_t>(std::max<int64_t>(p.N, 1), limit / std::max<int64_t>(1, std::max(per_in, per_out)));
        AI3_CHECK(chunk_ >= 1, ValueError,
                  "conv2d: one image of this layer has more than 2^31 elements, which cuDNN's "
                  "descriptors cannot express");

        Run r(ctx_);
        set_descs(main_, chunk_);
        if (p.N % chunk_) set_descs(tail_, p.N % chunk_);
        AI3_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias_));
        AI3_CUDNN_CHECK(cudnnSetTensor4dDescriptor(bias_, CUDNN_TENSOR_NCHW, cudnn_type<T>(), 1,
                                                   to_int(p.K, "out_channels"), 1, 1));
        switch (mode) {
        case Mode::fixed: pick_fixed(algo); break;
        case Mode::guess: pick_guess(); break;
        case Mode::find: pick_find(); break;
        }
    }
    ~CudnnConv() override {
        if (bias_) cudnnDestroyTensorDescriptor(bias_);
    }

    // 'guess' and 'default' report the cuDNN algorithm they picked for this shape.
    std::string runs() const override { return mode_ == Mode::fixed ? std::string() : algo_name(algo_); }

    void run(const Conv2d::Args<T> &a) override {
        const Conv2dParams &p = p_;
        if (p.N == 0) return;
        Run r(ctx_);
        const std::size_t in_n = std::size_t(p.N * p.C * p.H * p.W), out_n = std::size_t(p.N * p.K * p.P * p.Q);
        const T *x = r.in(a.input, in_n, ctx_.stage_in);
        const T *w = w_.get(a.weight, std::size_t(p.K * (p.C / p.groups) * p.R * p.S), a.weight_owned, r, ctx_.stage_w);
        const T *b = p.has_bias ? b_.get(a.bias, std::size_t(p.K), a.weight_owned, r, ctx_.stage_b) : nullptr;
        T *y = r.out(a.output, out_n);
        void *ws = ws_bytes_ ? ctx_.workspace.ensure(ws_bytes_, ctx_.stream) : nullptr;
        const T one = T(1), zero = T(0);
        for (int64_t n0 = 0; n0 < p.N; n0 += chunk_) {
            const Descs &d = (p.N - n0 >= chunk_) ? main_ : tail_;
            const T *xin = x + n0 * p.C * p.H * p.W;
            if (prepad_) {
                Pad2dParams pp = pad_;
                pp.N = d.n;
                T *padded =
                    static_cast<T *>(ctx_.padded.ensure(std::size_t(d.n * p.C * hin_ * win_) * sizeof(T), ctx_.stream));
                launch_pad2d<T>(pp, xin, padded, ctx_.stream);
                AI3_CUDA_CHECK_LAUNCH();
                xin = padded;
            }
            T *yout = y + n0 * p.K * p.P * p.Q;
            AI3_CUDNN_CHECK(cudnnConvolutionForward(ctx_.cudnn, &one, d.x, xin, d.w, w, d.conv, algo_, ws, ws_bytes_,
                                                    &zero, d.y, yout));
            if (b) AI3_CUDNN_CHECK(cudnnAddTensor(ctx_.cudnn, &one, bias_, b, &one, d.y, yout));
        }
        r.finish(y);
    }

  private:
    void set_descs(Descs &d, int64_t n) {
        const Conv2dParams &p = p_;
        d.n = n;
        const cudnnDataType_t t = cudnn_type<T>();
        AI3_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d.x));
        AI3_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d.y));
        AI3_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d.w));
        AI3_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d.conv));
        AI3_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d.x, CUDNN_TENSOR_NCHW, t, to_int(n, "batch"),
                                                   to_int(p.C, "channels"), to_int(hin_, "height"),
                                                   to_int(win_, "width")));
        AI3_CUDNN_CHECK(cudnnSetFilter4dDescriptor(d.w, t, CUDNN_TENSOR_NCHW, to_int(p.K, "out_channels"),
                                                   to_int(p.C / p.groups, "in_channels/groups"),
                                                   to_int(p.R, "kernel height"), to_int(p.S, "kernel width")));
        AI3_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(
            d.conv, prepad_ ? 0 : to_int(p.pad_h, "padding"), prepad_ ? 0 : to_int(p.pad_w, "padding"),
            to_int(p.stride_h, "stride"), to_int(p.stride_w, "stride"), to_int(p.dil_h, "dilation"),
            to_int(p.dil_w, "dilation"), CUDNN_CROSS_CORRELATION, t));
        AI3_CUDNN_CHECK(cudnnSetConvolutionGroupCount(d.conv, to_int(p.groups, "groups")));
        AI3_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, math_type()));
        int on, ok, op, oq;
        AI3_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(d.conv, d.x, d.w, &on, &ok, &op, &oq));
        AI3_CHECK(on == n && ok == p.K && op == p.P && oq == p.Q, RuntimeError,
                  "ai3 internal error: cuDNN's output shape (", on, ", ", ok, ", ", op, ", ", oq, ") differs from (", n,
                  ", ", p.K, ", ", p.P, ", ", p.Q, ")");
        AI3_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d.y, CUDNN_TENSOR_NCHW, t, on, ok, op, oq));
    }

    cudnnMathType_t math_type() const {
        // FMA math keeps float32 exact (no TF32 tensor cores) unless the user allowed TF32.
        if (std::is_same<T, float>::value && !ctx_.allow_tf32) return CUDNN_FMA_MATH;
        return CUDNN_DEFAULT_MATH;
    }

    // The workspace `algo` needs for every descriptor set, or an error status when
    // cuDNN does not support it for this layer.
    cudnnStatus_t workspace(cudnnConvolutionFwdAlgo_t algo, std::size_t &bytes) const {
        bytes = 0;
        for (const Descs *d : {&main_, &tail_}) {
            if (!d->x) continue;
            std::size_t b = 0;
            cudnnStatus_t s = cudnnGetConvolutionForwardWorkspaceSize(ctx_.cudnn, d->x, d->w, d->conv, d->y, algo, &b);
            if (s != CUDNN_STATUS_SUCCESS) return s;
            bytes = std::max(bytes, b);
        }
        return CUDNN_STATUS_SUCCESS;
    }

    std::string layer_str() const {
        const Conv2dParams &p = p_;
        return str("(", p.N, "x", p.C, "x", p.H, "x", p.W, " input, ", p.K, "x", p.C / p.groups, "x", p.R, "x", p.S,
                   " weight, stride (", p.stride_h, ", ", p.stride_w, "), dilation (", p.dil_h, ", ", p.dil_w,
                   "), groups ", p.groups, ", ", std::is_same<T, float>::value ? "float32" : "float64", ")");
    }

    void pick_fixed(cudnnConvolutionFwdAlgo_t algo) {
        std::size_t bytes = 0;
        cudnnStatus_t s = workspace(algo, bytes);
        if (s != CUDNN_STATUS_SUCCESS && algo == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD) {
            // cuDNN's fused Winograd covers fewer layers; the non-fused one is still Winograd.
            cudnnStatus_t s2 = workspace(CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED, bytes);
            if (s2 == CUDNN_STATUS_SUCCESS) {
                algo = CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
                s = s2;
            } else {
                throw Unimplemented(str("conv2d algorithm 'winograd': cuDNN supports neither WINOGRAD nor "
                                        "WINOGRAD_NONFUSED for this layer ",
                                        layer_str(), " (", cudnnGetErrorString(s),
                                        "); Winograd needs 3x3 (or 5x5) filters, stride 1 and dilation 1"));
            }
        }
        if (s != CUDNN_STATUS_SUCCESS)
            throw Unimplemented(str("conv2d algorithm '", algo_name(algo),
                                    "': cuDNN does not support it for this layer ", layer_str(), " (",
                                    cudnnGetErrorString(s), ")"));
        algo_ = algo;
        ws_bytes_ = bytes;
    }

    // The first candidate (in cuDNN's order) that succeeds with this layer's math type.
    bool take_first(const cudnnConvolutionFwdAlgoPerf_t *perf, int count) {
        for (int i = 0; i < count; ++i) {
            if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
            if (math_type() == CUDNN_FMA_MATH && perf[i].mathType != CUDNN_FMA_MATH &&
                perf[i].mathType != CUDNN_DEFAULT_MATH)
                continue; // a tensor-core (TF32) variant the user did not allow
            std::size_t bytes = 0;
            if (workspace(perf[i].algo, bytes) != CUDNN_STATUS_SUCCESS) continue;
            algo_ = perf[i].algo;
            ws_bytes_ = bytes;
            return true;
        }
        return false;
    }

    void pick_guess() {
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int count = 0;
        AI3_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(ctx_.cudnn, main_.x, main_.w, main_.conv, main_.y,
                                                               CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, perf));
        AI3_CHECK(take_first(perf, count), Unimplemented,
                  "conv2d algorithm 'guess': cuDNN's heuristic offers no supported algorithm for this layer ",
                  layer_str());
    }

    void pick_find() {
        const Conv2dParams &p = p_;
        std::vector<int64_t> key{p.N,
                                 p.C,
                                 p.H,
                                 p.W,
                                 p.K,
                                 p.R,
                                 p.S,
                                 p.P,
                                 p.Q,
                                 p.stride_h,
                                 p.stride_w,
                                 p.pad_h,
                                 p.pad_w,
                                 p.dil_h,
                                 p.dil_w,
                                 p.groups,
                                 int64_t(sizeof(T)),
                                 int64_t(ctx_.device),
                                 int64_t(math_type())};
        {
            std::lock_guard<std::mutex> lk(found_mu);
            auto it = found().find(key);
            if (it != found().end()) {
                std::size_t bytes = 0;
                if (workspace(it->second, bytes) == CUDNN_STATUS_SUCCESS) {
                    algo_ = it->second;
                    ws_bytes_ = bytes;
                    return;
                }
            }
        }
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int count = 0;
        // cudnnFind runs every algorithm on buffers it allocates itself, synchronously.
        AI3_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(ctx_.cudnn, main_.x, main_.w, main_.conv, main_.y,
                                                             CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, perf));
        AI3_CHECK(take_first(perf, count), Unimplemented,
                  "conv2d algorithm 'default': cudnnFind measured no supported algorithm for this layer ", layer_str());
        std::lock_guard<std::mutex> lk(found_mu);
        found()[key] = algo_;
    }

    Conv2dParams p_;
    Context &ctx_;
    Mode mode_;
    bool prepad_ = false;
    Pad2dParams pad_;
    int64_t hin_ = 0, win_ = 0, chunk_ = 1;
    Descs main_, tail_;
    cudnnTensorDescriptor_t bias_ = nullptr;
    cudnnConvolutionFwdAlgo_t algo_ = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    std::size_t ws_bytes_ = 0;
    DeviceParam<T> w_, b_;
};

} // namespace

#define AI3_CUDNN_FACTORY(name, mode, algo)                                                                            \
    template <class T> KernelPtr<Conv2d, T> name(const Conv2dParams &p, const Device &dev) {                           \
        return std::make_unique<CudnnConv<T>>(p, dev, mode, algo);                                                     \
    }                                                                                                                  \
    template KernelPtr<Conv2d, float> name<float>(const Conv2dParams &, const Device &);                               \
    template KernelPtr<Conv2d, double> name<double>(const Conv2dParams &, const Device &);

AI3_CUDNN_FACTORY(make_conv2d_cudnn_gemm, Mode::fixed, CUDNN_CONVOLUTION_FWD_ALGO_GEMM)
AI3_CUDNN_FACTORY(make_conv2d_cudnn_implicit_gemm, Mode::fixed, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM)
AI3_CUDNN_FACTORY(make_conv2d_cudnn_implicit_precomp_gemm, Mode::fixed,
                  CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM)
AI3_CUDNN_FACTORY(make_conv2d_cudnn_winograd, Mode::fixed, CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD)
AI3_CUDNN_FACTORY(make_conv2d_cudnn_guess, Mode::guess, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM)
AI3_CUDNN_FACTORY(make_conv2d_cudnn_default, Mode::find, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM)

} // namespace ai3::cuda
