// The DLPack ABI (https://dmlc.github.io/dlpack/latest/c_api.html), version 1.0: the
// structs a producer and a consumer exchange inside a PyCapsule. Declared here rather
// than taken from torch's or dpctl's copy of dlpack.h: the extension must build with
// neither installed, and the ABI is frozen by the standard.
#pragma once
#include <cstdint>

#include <pybind11/pybind11.h>

namespace ai3::dlpack {

enum DeviceType : int32_t {
    kDLCPU = 1,
    kDLCUDA = 2,
    kDLCUDAHost = 3,
    kDLROCM = 10,
    kDLCUDAManaged = 13,
    kDLOneAPI = 14,
};
enum TypeCode : uint8_t {
    kDLInt = 0,
    kDLUInt = 1,
    kDLFloat = 2,
    kDLOpaqueHandle = 3,
    kDLBfloat = 4,
    kDLComplex = 5,
    kDLBool = 6
};

struct Device {
    int32_t device_type;
    int32_t device_id;
};
struct DataType {
    uint8_t code;
    uint8_t bits;
    uint16_t lanes;
};
struct DLTensor {
    void *data;
    Device device;
    int32_t ndim;
    DataType dtype;
    int64_t *shape;
    int64_t *strides; // in elements; NULL means C-contiguous
    uint64_t byte_offset;
};
struct ManagedTensor {
    DLTensor dl_tensor;
    void *manager_ctx;
    void (*deleter)(ManagedTensor *self);
};
struct Version {
    uint32_t major;
    uint32_t minor;
};
constexpr uint64_t kFlagReadOnly = 1;
struct ManagedTensorVersioned {
    Version version;
    void *manager_ctx;
    void (*deleter)(ManagedTensorVersioned *self);
    uint64_t flags;
    DLTensor dl_tensor;
};

// ai3.Tensor.__dlpack__/__dlpack_device__ and ai3._core.DLPackTensor (a consumed capsule).
void bind(pybind11::module_ &m);

} // namespace ai3::dlpack
