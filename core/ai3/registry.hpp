// The run-time kernel registry, keyed by (op, algorithm, backend, dtype).
//
// Each backend fills it from an explicit register_<backend>(Registry&) call made
// by its module init; nothing registers itself through static constructors, so
// what is present is exactly what was called. A registry value is a factory: it
// builds a Kernel for one (layer, input shape, device), which may precompute
// state (transformed filters, offset tables) once and reuse it on every run.
#pragma once
#include "device_ops.hpp"
#include "dtype.hpp"
#include "errors.hpp"
#include "ops.hpp"

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace ai3 {

template <class Op, class T> struct AI3_EXPORT Kernel {
    virtual ~Kernel() = default;
    virtual void run(const typename Op::template Args<T> &args) = 0;
    // What the kernel really runs when its registry name leaves the choice to a
    // library (cuDNN's 'guess'/'default' pick a cuDNN algorithm); "" = the name itself.
    virtual std::string runs() const { return {}; }
};

template <class Op, class T> using KernelPtr = std::unique_ptr<Kernel<Op, T>>;

template <class Op, class T> using Factory = KernelPtr<Op, T> (*)(const typename Op::Params &, const Device &);

// Most kernels are plain functions of (params, args) with no per-shape state.
template <class Op, class T>
using KernelFn = void (*)(const typename Op::Params &, const typename Op::template Args<T> &);

template <class Op, class T, KernelFn<Op, T> F> struct FnKernel final : Kernel<Op, T> {
    typename Op::Params params;
    explicit FnKernel(const typename Op::Params &p) : params(p) {}
    void run(const typename Op::template Args<T> &args) override { F(params, args); }
};

struct KernelKey {
    std::string op, algorithm;
    Backend backend;
    DType dtype;
};

// One registry per process, owned by ai3._core. Optional backend modules reach
// it through the capsule ai3._core._registry (never through registry(), which
// would be their own copy) and fill it from their module init.
class AI3_EXPORT Registry {
  public:
    template <class Op, class T> void add(const std::string &algorithm, Backend backend, Factory<Op, T> factory) {
        entries_[key(Op::name, algorithm, backend, dtype_of<T>::value)] = reinterpret_cast<void (*)()>(factory);
    }

    // A function kernel for float and double in one registration line.
    template <class Op, KernelFn<Op, float> F32, KernelFn<Op, double> F64>
    void add_fn(const std::string &algorithm, Backend backend) {
        add<Op, float>(algorithm, backend, &make_fn<Op, float, F32>);
        add<Op, double>(algorithm, backend, &make_fn<Op, double, F64>);
    }

    template <class Op, class T> Factory<Op, T> find(const std::string &algorithm, Backend backend) const {
        auto it = entries_.find(key(Op::name, algorithm, backend, dtype_of<T>::value));
        return it == entries_.end() ? nullptr : reinterpret_cast<Factory<Op, T>>(it->second);
    }

    bool contains(const std::string &op, const std::string &algorithm, Backend backend, DType dtype) const {
        return entries_.count(key(op, algorithm, backend, dtype)) != 0;
    }

    // Like find, but a missing entry is a typed error naming all four parts of the key.
    template <class Op, class T> Factory<Op, T> get(const std::string &algorithm, Backend backend) const {
        if (auto f = find<Op, T>(algorithm, backend)) return f;
        throw Unimplemented(str("no kernel registered for op '", Op::name, "', algorithm '", algorithm, "', backend '",
                                backend_name(backend), "', dtype ", dtype_name(dtype_of<T>::value),
                                available(Op::name, backend)));
    }

    std::vector<KernelKey> list() const {
        std::vector<KernelKey> out;
        for (auto &[k, v] : entries_)
            out.push_back({std::get<0>(k), std::get<1>(k), Backend(std::get<2>(k)), DType(std::get<3>(k))});
        return out;
    }

    // Device memory for a backend (null: the backend works on host memory).
    void set_device_ops(Backend b, std::shared_ptr<DeviceOps> ops) { device_ops_[int(b)] = std::move(ops); }
    DeviceOps *device_ops(Backend b) const {
        auto it = device_ops_.find(int(b));
        return it == device_ops_.end() ? nullptr : it->second.get();
    }

  private:
    std::map<int, std::shared_ptr<DeviceOps>> device_ops_;
    using Key = std::tuple<std::string, std::string, int, int>;
    static Key key(const std::string &op, const std::string &algo, Backend b, DType d) {
        return {op, algo, int(b), int(d)};
    }
    template <class Op, class T, KernelFn<Op, T> F>
    static KernelPtr<Op, T> make_fn(const typename Op::Params &p, const Device &) {
        return std::make_unique<FnKernel<Op, T, F>>(p);
    }
    std::string available(const std::string &op, Backend b) const {
        std::string s;
        for (auto &[k, v] : entries_)
            if (std::get<0>(k) == op && std::get<2>(k) == int(b) &&
                s.find("'" + std::get<1>(k) + "'") == std::string::npos)
                s += (s.empty() ? "" : ", ") + ("'" + std::get<1>(k) + "'");
        return s.empty() ? str(" (backend '", backend_name(b), "' has no kernels for this op)")
                         : str(" (registered for this op and backend: ", s, ")");
    }
    std::map<Key, void (*)()> entries_;
};

// The process-wide registry the bindings fill and the layers resolve from.
Registry &registry();

} // namespace ai3
