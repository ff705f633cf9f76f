// DLPack both ways, zero-copy. ai3.Tensor exports its host memory as a capsule whose
// manager owns a reference to the tensor's storage; ai3._core.DLPackTensor consumes a
// capsule from any producer (torch, numpy, dpctl, CuPy, JAX) and describes its memory
// (device, address, shape, strides, dtype) so Python can hand the address to a Model on
// the matching device. The producer's deleter runs when the DLPackTensor is released or
// collected, under the GIL (numpy's deleter needs it).
#include "dlpack.hpp"

#include <cstring>
#include <memory>
#include <vector>

#include <pybind11/stl.h>

#include "ai3/errors.hpp"
#include "ai3/tensor.hpp"

namespace py = pybind11;

namespace ai3::dlpack {
namespace {

constexpr const char *kName = "dltensor";
constexpr const char *kVersionedName = "dltensor_versioned";
constexpr const char *kUsedName = "used_dltensor";
constexpr const char *kUsedVersionedName = "used_dltensor_versioned";

// What a zero-element tensor points at: some consumers reject a NULL data pointer.
alignas(64) char empty_data[64];

// ---- producer --------------------------------------------------------------------------

struct Holder {
    Tensor tensor; // keeps the storage alive for as long as the consumer holds the capsule
    std::vector<int64_t> shape, strides;
};

template <class Managed> void delete_managed(Managed *m) {
    delete static_cast<Holder *>(m->manager_ctx);
    delete m;
}

template <class Managed> Managed *make_managed(const Tensor &t) {
    auto holder = std::make_unique<Holder>();
    holder->tensor = t;
    holder->shape.assign(t.shape().begin(), t.shape().end());
    holder->strides.resize(holder->shape.size());
    int64_t s = 1;
    for (std::size_t i = holder->shape.size(); i-- > 0;) {
        holder->strides[i] = s;
        s *= holder->shape[i];
    }
    auto m = std::make_unique<Managed>();
    DLTensor &d = m->dl_tensor;
    d.data = t.data() ? t.data() : static_cast<void *>(empty_data);
    d.device = Device{kDLCPU, 0};
    d.ndim = int32_t(holder->shape.size());
    d.dtype = DataType{kDLFloat, uint8_t(dtype_size(t.dtype()) * 8), 1};
    d.shape = holder->shape.data();
    d.strides = holder->strides.data();
    d.byte_offset = 0;
    m->manager_ctx = holder.release();
    m->deleter = &delete_managed<Managed>;
    return m.release();
}

// A capsule nobody consumed still owns its tensor; a consumed one (renamed) does not.
void capsule_destructor(PyObject *cap) {
    if (PyCapsule_IsValid(cap, kVersionedName)) {
        auto *m = static_cast<ManagedTensorVersioned *>(PyCapsule_GetPointer(cap, kVersionedName));
        if (m && m->deleter) m->deleter(m);
    } else if (PyCapsule_IsValid(cap, kName)) {
        auto *m = static_cast<ManagedTensor *>(PyCapsule_GetPointer(cap, kName));
        if (m && m->deleter) m->deleter(m);
    }
}

Tensor copy_of(const Tensor &t) {
    Tensor c(t.shape(), t.dtype());
    if (t.nbytes()) std::memcpy(c.data(), t.data(), t.nbytes());
    return c;
}

py::object to_dlpack(const Tensor &t, const py::object &stream, const py::object &max_version,
                     const py::object &dl_device, const py::object &copy) {
    if (!stream.is_none())
        throw py::buffer_error("ai3.Tensor is host memory: __dlpack__ takes stream=None, got " +
                               std::string(py::repr(stream)));
    if (!dl_device.is_none()) {
        auto dev = dl_device.cast<std::pair<int, int>>();
        if (dev.first != kDLCPU)
            throw py::buffer_error("ai3.Tensor is host memory (kDLCPU); it cannot be exported to DLPack device (" +
                                   std::to_string(dev.first) + ", " + std::to_string(dev.second) + ")");
    }
    const bool copied = !copy.is_none() && copy.cast<bool>();
    const Tensor &src = copied ? copy_of(t) : t;
    bool versioned = false;
    if (!max_version.is_none()) versioned = max_version.cast<std::pair<int, int>>().first >= 1;
    PyObject *cap = nullptr;
    if (versioned) {
        auto *m = make_managed<ManagedTensorVersioned>(src);
        m->version = Version{1, 0};
        m->flags = 0;              // writable: an ai3.Tensor's buffer is writable through the buffer protocol too
        if (copied) m->flags |= 2; // DLPACK_FLAG_BITMASK_IS_COPIED
        cap = PyCapsule_New(m, kVersionedName, capsule_destructor);
        if (!cap) m->deleter(m);
    } else {
        auto *m = make_managed<ManagedTensor>(src);
        cap = PyCapsule_New(m, kName, capsule_destructor);
        if (!cap) m->deleter(m);
    }
    if (!cap) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(cap);
}

// ---- consumer --------------------------------------------------------------------------

std::string dtype_string(const DataType &t) {
    if (t.lanes != 1) return str("vector of ", t.lanes, " lanes");
    switch (t.code) {
    case kDLInt: return str("int", int(t.bits));
    case kDLUInt: return str("uint", int(t.bits));
    case kDLFloat: return str("float", int(t.bits));
    case kDLBfloat: return str("bfloat", int(t.bits));
    case kDLComplex: return str("complex", int(t.bits));
    case kDLBool: return "bool";
    default: return str("type code ", int(t.code), " of ", int(t.bits), " bits");
    }
}

class DLPackTensor {
  public:
    explicit DLPackTensor(const py::object &obj) {
        PyObject *cap = obj.ptr();
        if (!PyCapsule_CheckExact(cap))
            throw TypeError(str("ai3 expected a DLPack capsule, got ", std::string(py::str(obj.get_type()))));
        if (PyCapsule_IsValid(cap, kUsedName) || PyCapsule_IsValid(cap, kUsedVersionedName))
            throw ValueError("this DLPack capsule was already consumed (a capsule can be read once; call "
                             "__dlpack__() again for another)");
        if (PyCapsule_IsValid(cap, kVersionedName)) {
            auto *m = static_cast<ManagedTensorVersioned *>(PyCapsule_GetPointer(cap, kVersionedName));
            if (m->version.major != 1) // a new major version may change the struct: not readable here
                throw ValueError(
                    str("ai3 reads DLPack 1.x capsules, got version ", m->version.major, ".", m->version.minor));
            versioned_ = m;
            tensor_ = &m->dl_tensor;
            readonly_ = (m->flags & kFlagReadOnly) != 0;
            PyCapsule_SetName(cap, kUsedVersionedName);
        } else if (PyCapsule_IsValid(cap, kName)) {
            auto *m = static_cast<ManagedTensor *>(PyCapsule_GetPointer(cap, kName));
            legacy_ = m;
            tensor_ = &m->dl_tensor;
            PyCapsule_SetName(cap, kUsedName);
        } else {
            const char *name = PyCapsule_GetName(cap);
            PyErr_Clear();
            throw TypeError(str("ai3 expected a DLPack capsule ('dltensor' or 'dltensor_versioned'), got a capsule "
                                "named '",
                                name ? name : "", "'"));
        }
        AI3_CHECK(tensor_->ndim >= 0, ValueError, "DLPack tensor with ndim ", tensor_->ndim);
    }
    DLPackTensor(const DLPackTensor &) = delete;
    DLPackTensor &operator=(const DLPackTensor &) = delete;
    ~DLPackTensor() { release(); }

    void release() {
        if (versioned_ && versioned_->deleter) versioned_->deleter(versioned_);
        if (legacy_ && legacy_->deleter) legacy_->deleter(legacy_);
        versioned_ = nullptr;
        legacy_ = nullptr;
        tensor_ = nullptr;
    }

    const DLTensor &t() const {
        AI3_CHECK(tensor_, ValueError, "this DLPackTensor was released");
        return *tensor_;
    }
    std::pair<int, int> device() const { return {t().device.device_type, t().device.device_id}; }
    uintptr_t data() const { return reinterpret_cast<uintptr_t>(t().data) + uintptr_t(t().byte_offset); }
    std::vector<int64_t> shape() const { return std::vector<int64_t>(t().shape, t().shape + t().ndim); }
    std::vector<int64_t> strides() const { // in elements
        if (t().strides) return std::vector<int64_t>(t().strides, t().strides + t().ndim);
        std::vector<int64_t> s(std::size_t(t().ndim));
        int64_t n = 1;
        for (int i = t().ndim; i-- > 0;) {
            s[std::size_t(i)] = n;
            n *= t().shape[i];
        }
        return s;
    }
    // Dense row-major: strides of dimensions of size 1 do not matter, nor any of an empty tensor.
    bool contiguous() const {
        auto sh = shape();
        auto st = strides();
        int64_t expect = 1;
        for (std::size_t i = sh.size(); i-- > 0;) {
            if (sh[i] == 0) return true;
            if (sh[i] != 1 && st[i] != expect) return false;
            expect *= sh[i];
        }
        return true;
    }
    std::string dtype() const {
        const DataType &d = t().dtype;
        if (d.code == kDLFloat && d.lanes == 1 && (d.bits == 32 || d.bits == 64))
            return d.bits == 32 ? "float32" : "float64";
        throw TypeError(str("ai3 supports float32 and float64, got DLPack dtype ", dtype_string(d)));
    }
    bool readonly() const { return readonly_; }

    // numpy's view of host memory (kDLCPU, kDLCUDAHost): np.asarray(self) keeps self alive.
    py::dict array_interface() const {
        auto [type, id] = device();
        AI3_CHECK(type == kDLCPU || type == kDLCUDAHost, ValueError, "DLPack memory on device (", type, ", ", id,
                  ") is not host memory");
        const std::string dt = dtype();
        const int64_t item = dt == "float32" ? 4 : 8;
        py::list strides;
        for (int64_t s : this->strides()) strides.append(s * item);
        py::dict d;
        d["shape"] = py::tuple(py::cast(shape()));
        d["typestr"] = dt == "float32" ? "<f4" : "<f8";
        d["data"] = py::make_tuple(data(), readonly_);
        d["strides"] = py::tuple(strides);
        d["version"] = 3;
        return d;
    }

  private:
    ManagedTensorVersioned *versioned_ = nullptr;
    ManagedTensor *legacy_ = nullptr;
    DLTensor *tensor_ = nullptr;
    bool readonly_ = false;
};

} // namespace

void bind(py::module_ &m) {
    auto tensor = py::reinterpret_borrow<py::class_<Tensor>>(m.attr("Tensor"));
    tensor
        .def("__dlpack__", &to_dlpack, py::kw_only(), py::arg("stream") = py::none(),
             py::arg("max_version") = py::none(), py::arg("dl_device") = py::none(), py::arg("copy") = py::none(),
             "This tensor's memory as a DLPack capsule (zero-copy unless copy=True).")
        .def("__dlpack_device__", [](const Tensor &) { return py::make_tuple(int(kDLCPU), 0); });

    py::class_<DLPackTensor>(m, "DLPackTensor",
                             "A consumed DLPack capsule: its memory's device, address, shape, strides and dtype. "
                             "The producer's memory is held until release() or collection.")
        .def(py::init<const py::object &>(), py::arg("capsule"))
        .def_property_readonly("device", &DLPackTensor::device,
                               "(DLPack device type, device id): 1 CPU, 2 CUDA, 14 "
                               "oneAPI.")
        .def_property_readonly("data", &DLPackTensor::data, "Address of the first element.")
        .def_property_readonly("shape", [](const DLPackTensor &t) { return py::tuple(py::cast(t.shape())); })
        .def_property_readonly(
            "strides", [](const DLPackTensor &t) { return py::tuple(py::cast(t.strides())); }, "In elements.")
        .def_property_readonly("contiguous", &DLPackTensor::contiguous)
        .def_property_readonly("dtype", &DLPackTensor::dtype, "'float32' or 'float64'; DTypeError for others.")
        .def_property_readonly("readonly", &DLPackTensor::readonly)
        .def_property_readonly("__array_interface__", &DLPackTensor::array_interface)
        .def("release", &DLPackTensor::release, "Give the memory back to its producer now.");
}

} // namespace ai3::dlpack
