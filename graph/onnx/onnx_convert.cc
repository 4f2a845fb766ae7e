#include "graph/onnx/onnx_convert.h"

#include <bit>
#include <cstring>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

// Tensor stores little-endian bytes and so does ONNX's raw_data: both are copied as is.
static_assert(std::endian::native == std::endian::little, "rankopt assumes a little-endian host");

using onnx::TensorProto;

// Copies `count` values of a repeated proto field into `width`-byte little-endian elements
// (truncating, as ONNX packs int8/int16/bool/fp16 bits into int32_data).
template <typename Field>
std::string PackField(const Field& field, size_t width) {
  std::string bytes(field.size() * width, '\0');
  for (int i = 0; i < field.size(); ++i) {
    auto v = field.Get(i);
    if (width == sizeof(v)) {
      std::memcpy(&bytes[i * width], &v, width);
    } else {
      uint64_t bits = 0;
      std::memcpy(&bits, &v, sizeof(v) < sizeof(bits) ? sizeof(v) : sizeof(bits));
      std::memcpy(&bytes[i * width], &bits, width);  // low bytes (little-endian)
    }
  }
  return bytes;
}

std::string OnnxTypeName(int32_t elem_type) {
  if (TensorProto::DataType_IsValid(elem_type)) {
    return TensorProto::DataType_Name(static_cast<TensorProto::DataType>(elem_type));
  }
  return absl::StrCat("unknown (", elem_type, ")");
}

}  // namespace

absl::StatusOr<DType> DTypeFromOnnx(int32_t elem_type) {
  switch (elem_type) {
    case TensorProto::FLOAT:
      return DType::kFloat32;
    case TensorProto::UINT8:
      return DType::kUInt8;
    case TensorProto::INT8:
      return DType::kInt8;
    case TensorProto::UINT16:
      return DType::kUInt16;
    case TensorProto::INT16:
      return DType::kInt16;
    case TensorProto::INT32:
      return DType::kInt32;
    case TensorProto::INT64:
      return DType::kInt64;
    case TensorProto::STRING:
      return DType::kString;
    case TensorProto::BOOL:
      return DType::kBool;
    case TensorProto::FLOAT16:
      return DType::kFloat16;
    case TensorProto::DOUBLE:
      return DType::kFloat64;
    case TensorProto::UINT32:
      return DType::kUInt32;
    case TensorProto::UINT64:
      return DType::kUInt64;
    case TensorProto::BFLOAT16:
      return DType::kBFloat16;
    default:
      break;
  }
  return absl::UnimplementedError(absl::StrCat(
      "ONNX data type ", OnnxTypeName(elem_type),
      " is not supported; rankopt reads float, double, float16, bfloat16, (u)int8/16/32/64, bool "
      "and string tensors"));
}

absl::StatusOr<int32_t> OnnxFromDType(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return TensorProto::FLOAT;
    case DType::kFloat64:
      return TensorProto::DOUBLE;
    case DType::kFloat16:
      return TensorProto::FLOAT16;
    case DType::kBFloat16:
      return TensorProto::BFLOAT16;
    case DType::kInt8:
      return TensorProto::INT8;
    case DType::kUInt8:
      return TensorProto::UINT8;
    case DType::kInt16:
      return TensorProto::INT16;
    case DType::kUInt16:
      return TensorProto::UINT16;
    case DType::kInt32:
      return TensorProto::INT32;
    case DType::kUInt32:
      return TensorProto::UINT32;
    case DType::kInt64:
      return TensorProto::INT64;
    case DType::kUInt64:
      return TensorProto::UINT64;
    case DType::kBool:
      return TensorProto::BOOL;
    case DType::kString:
      return TensorProto::STRING;
    case DType::kInvalid:
    case DType::kResource:
    case DType::kVariant:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("dtype ", DTypeName(dtype), " has no ONNX equivalent"));
}

absl::StatusOr<Tensor> TensorFromOnnx(const TensorProto& proto, absl::string_view what) {
  if (proto.data_location() == TensorProto::EXTERNAL || proto.external_data_size() > 0) {
    return absl::UnimplementedError(absl::StrCat(
        what,
        " keeps its data in an external file, which is not supported; save the model with "
        "its tensors inside the .onnx file (onnx.save_model(m, path, "
        "save_as_external_data=False))"));
  }
  if (proto.has_segment()) {
    return absl::UnimplementedError(
        absl::StrCat(what, " is a segment of a larger tensor, which is not supported"));
  }
  absl::StatusOr<DType> dtype = DTypeFromOnnx(proto.data_type());
  if (!dtype.ok())
    return absl::Status(dtype.status().code(), absl::StrCat(what, ": ", dtype.status().message()));
  std::vector<int64_t> dims(proto.dims().begin(), proto.dims().end());
  absl::StatusOr<int64_t> count = CheckedNumElements(dims);
  if (!count.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": bad dims ", Shape(dims).ToString(), ": ", count.status().message()));
  }
  auto wrap = [&](absl::StatusOr<Tensor> t) -> absl::StatusOr<Tensor> {
    if (t.ok()) return t;
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", t.status().message()));
  };
  auto check_count = [&](int field_size, absl::string_view field) -> absl::Status {
    if (static_cast<uint64_t>(field_size) == static_cast<uint64_t>(*count)) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(what, " has ", field_size, " values in ", field,
                                                   " but its shape ", Shape(dims).ToString(),
                                                   " needs ", *count));
  };

  if (*dtype == DType::kString) {
    if (proto.has_raw_data()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what,
                       " is a string tensor with raw_data; ONNX stores strings in "
                       "string_data"));
    }
    RANKOPT_RETURN_IF_ERROR(check_count(proto.string_data_size(), "string_data"));
    return wrap(Tensor::FromStrings(
        std::move(dims),
        std::vector<std::string>(proto.string_data().begin(), proto.string_data().end())));
  }
  if (proto.has_raw_data())
    return wrap(Tensor::FromBytes(*dtype, std::move(dims), proto.raw_data()));

  const size_t width = DTypeSize(*dtype);
  std::string bytes;
  switch (*dtype) {
    case DType::kFloat32:
      RANKOPT_RETURN_IF_ERROR(check_count(proto.float_data_size(), "float_data"));
      bytes = PackField(proto.float_data(), width);
      break;
    case DType::kFloat64:
      RANKOPT_RETURN_IF_ERROR(check_count(proto.double_data_size(), "double_data"));
      bytes = PackField(proto.double_data(), width);
      break;
    case DType::kInt64:
      RANKOPT_RETURN_IF_ERROR(check_count(proto.int64_data_size(), "int64_data"));
      bytes = PackField(proto.int64_data(), width);
      break;
    case DType::kUInt32:
    case DType::kUInt64:
      RANKOPT_RETURN_IF_ERROR(check_count(proto.uint64_data_size(), "uint64_data"));
      bytes = PackField(proto.uint64_data(), width);
      break;
    default:  // int32, int16, int8, uint16, uint8, bool, float16, bfloat16: int32_data.
      RANKOPT_RETURN_IF_ERROR(check_count(proto.int32_data_size(), "int32_data"));
      bytes = PackField(proto.int32_data(), width);
      break;
  }
  return wrap(Tensor::FromBytes(*dtype, std::move(dims), bytes));
}

absl::StatusOr<TensorProto> OnnxFromTensor(const Tensor& tensor, const std::string& name) {
  RANKOPT_ASSIGN_OR_RETURN(int32_t elem_type, OnnxFromDType(tensor.dtype()));
  TensorProto proto;
  for (int64_t d : tensor.dims()) proto.add_dims(d);
  proto.set_data_type(elem_type);
  if (!name.empty()) proto.set_name(name);
  if (tensor.dtype() == DType::kString) {
    for (const std::string& s : tensor.strings()) proto.add_string_data(s);
  } else {
    proto.set_raw_data(std::string(tensor.bytes()));
  }
  return proto;
}

absl::StatusOr<OnnxTensorType> TensorTypeFromOnnx(const onnx::ValueInfoProto& info,
                                                  absl::string_view what) {
  OnnxTensorType result;
  if (!info.has_type()) return result;  // unknown dtype and rank; the checker flags it
  const onnx::TypeProto& type = info.type();
  if (type.value_case() != onnx::TypeProto::kTensorType) {
    return absl::UnimplementedError(absl::StrCat(what, " is not a tensor (TypeProto case ",
                                                 static_cast<int>(type.value_case()),
                                                 "); rankopt reads tensor inputs only"));
  }
  const onnx::TypeProto::Tensor& tensor = type.tensor_type();
  if (tensor.elem_type() != TensorProto::UNDEFINED) {
    absl::StatusOr<DType> dtype = DTypeFromOnnx(tensor.elem_type());
    if (!dtype.ok()) {
      return absl::Status(dtype.status().code(),
                          absl::StrCat(what, ": ", dtype.status().message()));
    }
    result.dtype = *dtype;
  }
  if (tensor.has_shape()) {
    std::vector<int64_t> dims;
    dims.reserve(tensor.shape().dim_size());
    for (const auto& dim : tensor.shape().dim()) {
      bool known =
          dim.value_case() == onnx::TensorShapeProto::Dimension::kDimValue && dim.dim_value() >= 0;
      dims.push_back(known ? dim.dim_value() : Shape::kUnknownDim);
    }
    result.shape = Shape(std::move(dims));
  }
  return result;
}

absl::StatusOr<onnx::ValueInfoProto> OnnxValueInfo(const std::string& name, DType dtype,
                                                   const Shape& shape,
                                                   const onnx::ValueInfoProto* like) {
  absl::StatusOr<int32_t> elem_type = OnnxFromDType(dtype);
  if (!elem_type.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "': ", elem_type.status().message()));
  }
  onnx::ValueInfoProto info;
  info.set_name(name);
  onnx::TypeProto::Tensor* tensor = info.mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(*elem_type);
  if (!shape.known_rank()) return info;
  const onnx::TensorShapeProto* like_shape = nullptr;
  if (like != nullptr && like->type().has_tensor_type() && like->type().tensor_type().has_shape() &&
      like->type().tensor_type().shape().dim_size() == shape.rank()) {
    like_shape = &like->type().tensor_type().shape();
  }
  onnx::TensorShapeProto* out = tensor->mutable_shape();
  for (int i = 0; i < shape.rank(); ++i) {
    onnx::TensorShapeProto::Dimension* dim = out->add_dim();
    if (shape.dim(i) >= 0) {
      dim->set_dim_value(shape.dim(i));
    } else if (like_shape != nullptr && like_shape->dim(i).has_dim_param()) {
      dim->set_dim_param(like_shape->dim(i).dim_param());
    }
  }
  return info;
}

absl::StatusOr<AttrValue> AttrFromOnnx(const onnx::AttributeProto& attr, absl::string_view where) {
  using onnx::AttributeProto;
  auto opaque = [&](absl::string_view kind) -> AttrValue {
    return OpaqueAttr{std::string(kind), attr.SerializeAsString()};
  };
  if (!attr.ref_attr_name().empty()) return opaque("ref_attr");
  AttributeProto::AttributeType type = attr.type();
  if (type == AttributeProto::UNDEFINED) {  // very old models leave `type` unset
    if (attr.has_f())
      type = AttributeProto::FLOAT;
    else if (attr.has_i())
      type = AttributeProto::INT;
    else if (attr.has_s())
      type = AttributeProto::STRING;
    else if (attr.has_t())
      type = AttributeProto::TENSOR;
    else if (attr.has_g())
      type = AttributeProto::GRAPH;
    else if (attr.floats_size() > 0)
      type = AttributeProto::FLOATS;
    else if (attr.ints_size() > 0)
      type = AttributeProto::INTS;
    else if (attr.strings_size() > 0)
      type = AttributeProto::STRINGS;
    else if (attr.tensors_size() > 0)
      type = AttributeProto::TENSORS;
    else
      return opaque("undefined");
  }
  auto tensor_what = [&](int i) {
    return absl::StrCat(where, " attribute '", attr.name(), "'",
                        i < 0 ? std::string() : absl::StrCat("[", i, "]"));
  };
  switch (type) {
    case AttributeProto::FLOAT:
      return attr.f();
    case AttributeProto::INT:
      return static_cast<int64_t>(attr.i());
    case AttributeProto::STRING:
      return attr.s();
    case AttributeProto::TENSOR: {
      RANKOPT_ASSIGN_OR_RETURN(Tensor t, TensorFromOnnx(attr.t(), tensor_what(-1)));
      return t;
    }
    case AttributeProto::FLOATS:
      return std::vector<float>(attr.floats().begin(), attr.floats().end());
    case AttributeProto::INTS:
      return std::vector<int64_t>(attr.ints().begin(), attr.ints().end());
    case AttributeProto::STRINGS:
      return std::vector<std::string>(attr.strings().begin(), attr.strings().end());
    case AttributeProto::TENSORS: {
      std::vector<Tensor> tensors;
      tensors.reserve(attr.tensors_size());
      for (int i = 0; i < attr.tensors_size(); ++i) {
        RANKOPT_ASSIGN_OR_RETURN(Tensor t, TensorFromOnnx(attr.tensors(i), tensor_what(i)));
        tensors.push_back(std::move(t));
      }
      return tensors;
    }
    case AttributeProto::GRAPH:
      return opaque("graph");
    case AttributeProto::GRAPHS:
      return opaque("graphs");
    case AttributeProto::SPARSE_TENSOR:
      return opaque("sparse_tensor");
    case AttributeProto::SPARSE_TENSORS:
      return opaque("sparse_tensors");
    case AttributeProto::TYPE_PROTO:
      return opaque("type_proto");
    case AttributeProto::TYPE_PROTOS:
      return opaque("type_protos");
    default:
      return opaque(absl::StrCat("type_", static_cast<int>(type)));
  }
}

absl::StatusOr<onnx::AttributeProto> OnnxFromAttr(const std::string& name, const AttrValue& value,
                                                  absl::string_view where) {
  using onnx::AttributeProto;
  AttributeProto attr;
  attr.set_name(name);
  auto fail = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " attribute '", name, "' ", why, "; ONNX cannot hold it"));
  };
  auto add_tensor = [&](const Tensor& t, onnx::TensorProto* out) -> absl::Status {
    absl::StatusOr<onnx::TensorProto> proto = OnnxFromTensor(t, "");
    if (!proto.ok()) return fail(proto.status().message());
    *out = *std::move(proto);
    return absl::OkStatus();
  };
  auto add_dtype = [&](DType d) -> absl::StatusOr<int64_t> {
    absl::StatusOr<int32_t> e = OnnxFromDType(d);
    if (!e.ok()) return fail(e.status().message());
    return *e;
  };
  if (const auto* v = std::get_if<int64_t>(&value)) {
    attr.set_type(AttributeProto::INT);
    attr.set_i(*v);
  } else if (const auto* v = std::get_if<float>(&value)) {
    attr.set_type(AttributeProto::FLOAT);
    attr.set_f(*v);
  } else if (const auto* v = std::get_if<bool>(&value)) {
    attr.set_type(AttributeProto::INT);
    attr.set_i(*v ? 1 : 0);
  } else if (const auto* v = std::get_if<std::string>(&value)) {
    attr.set_type(AttributeProto::STRING);
    attr.set_s(*v);
  } else if (const auto* v = std::get_if<DType>(&value)) {
    RANKOPT_ASSIGN_OR_RETURN(int64_t e, add_dtype(*v));
    attr.set_type(AttributeProto::INT);
    attr.set_i(e);
  } else if (const auto* v = std::get_if<Shape>(&value)) {
    if (!v->known_rank()) return fail("is a shape of unknown rank");
    attr.set_type(AttributeProto::INTS);
    for (int64_t d : v->dims()) attr.add_ints(d);
  } else if (const auto* v = std::get_if<Tensor>(&value)) {
    attr.set_type(AttributeProto::TENSOR);
    RANKOPT_RETURN_IF_ERROR(add_tensor(*v, attr.mutable_t()));
  } else if (const auto* v = std::get_if<std::vector<int64_t>>(&value)) {
    attr.set_type(AttributeProto::INTS);
    for (int64_t x : *v) attr.add_ints(x);
  } else if (const auto* v = std::get_if<std::vector<float>>(&value)) {
    attr.set_type(AttributeProto::FLOATS);
    for (float x : *v) attr.add_floats(x);
  } else if (const auto* v = std::get_if<std::vector<bool>>(&value)) {
    attr.set_type(AttributeProto::INTS);
    for (bool x : *v) attr.add_ints(x ? 1 : 0);
  } else if (const auto* v = std::get_if<std::vector<std::string>>(&value)) {
    attr.set_type(AttributeProto::STRINGS);
    for (const std::string& x : *v) attr.add_strings(x);
  } else if (const auto* v = std::get_if<std::vector<DType>>(&value)) {
    attr.set_type(AttributeProto::INTS);
    for (DType d : *v) {
      RANKOPT_ASSIGN_OR_RETURN(int64_t e, add_dtype(d));
      attr.add_ints(e);
    }
  } else if (std::holds_alternative<std::vector<Shape>>(value)) {
    return fail("is a list of shapes");
  } else if (const auto* v = std::get_if<std::vector<Tensor>>(&value)) {
    attr.set_type(AttributeProto::TENSORS);
    for (const Tensor& t : *v) RANKOPT_RETURN_IF_ERROR(add_tensor(t, attr.add_tensors()));
  } else if (const auto* v = std::get_if<OpaqueAttr>(&value)) {
    if (!attr.ParseFromString(v->bytes)) {
      return fail(absl::StrCat("is an opaque '", v->kind,
                               "' value that is not a serialized AttributeProto"));
    }
    attr.set_name(name);
  }
  return attr;
}

}  // namespace rankopt
