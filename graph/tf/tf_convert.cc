#include "graph/tf/tf_convert.h"

#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

// A splat or zero-filled tensor expands a few bytes of file into this many bytes at most; a
// larger one is almost surely a corrupt shape, and would exhaust memory.
constexpr int64_t kMaxExpandedBytes = int64_t{1} << 30;

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

std::string TfTypeName(tf::DataType type) {
  const std::string& name = tf::DataType_Name(type);
  return name.empty() ? absl::StrCat("DataType(", static_cast<int>(type), ")") : name;
}

// Writes `count` elements of type Out decoded from `values` (with TF's splat rule) as bytes.
template <typename Out, typename Field, typename Convert>
absl::StatusOr<Tensor> FillFromValues(DType dtype, const std::vector<int64_t>& dims, int64_t count,
                                      const Field& values, Convert convert) {
  const int64_t given = values.size();
  if (given > count) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor has ", given, " values but its shape has ", count, " elements"));
  }
  if (given < count && count > kMaxExpandedBytes / static_cast<int64_t>(sizeof(Out))) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor declares ", count, " elements but stores only ", given,
                     " values; refusing to expand it past ", kMaxExpandedBytes, " bytes"));
  }
  std::string bytes(static_cast<size_t>(count) * sizeof(Out), '\0');
  for (int64_t i = 0; i < count && given > 0; ++i) {
    Out v = convert(values.Get(static_cast<int>(i < given ? i : given - 1)));
    std::memcpy(&bytes[static_cast<size_t>(i) * sizeof(Out)], &v, sizeof(Out));
  }
  return Tensor::FromBytes(dtype, dims, bytes);
}

template <typename T>
auto Cast() {
  return [](auto v) { return static_cast<T>(v); };
}

absl::StatusOr<AttrValue> Opaque(absl::string_view kind, const tf::AttrValue& proto) {
  return AttrValue(OpaqueAttr{std::string(kind), proto.SerializeAsString()});
}

// Decodes a list attribute. nullopt when it must stay opaque.
absl::StatusOr<std::optional<AttrValue>> ListFromTf(const tf::AttrValue::ListValue& list) {
  int kinds = (list.s_size() > 0) + (list.i_size() > 0) + (list.f_size() > 0) +
              (list.b_size() > 0) + (list.type_size() > 0) + (list.shape_size() > 0) +
              (list.tensor_size() > 0) + (list.func_size() > 0);
  if (kinds == 0) return std::optional<AttrValue>(std::vector<int64_t>{});
  if (kinds > 1 || list.func_size() > 0) return std::optional<AttrValue>();
  if (list.s_size() > 0) {
    return std::optional<AttrValue>(std::vector<std::string>(list.s().begin(), list.s().end()));
  }
  if (list.i_size() > 0) {
    return std::optional<AttrValue>(std::vector<int64_t>(list.i().begin(), list.i().end()));
  }
  if (list.f_size() > 0) {
    return std::optional<AttrValue>(std::vector<float>(list.f().begin(), list.f().end()));
  }
  if (list.b_size() > 0) {
    return std::optional<AttrValue>(std::vector<bool>(list.b().begin(), list.b().end()));
  }
  if (list.type_size() > 0) {
    std::vector<DType> types;
    for (int t : list.type()) {
      std::optional<DType> dtype = DTypeFromTf(static_cast<tf::DataType>(t));
      if (!dtype) return std::optional<AttrValue>();
      types.push_back(*dtype);
    }
    return std::optional<AttrValue>(std::move(types));
  }
  if (list.shape_size() > 0) {
    std::vector<Shape> shapes;
    for (const tf::TensorShapeProto& s : list.shape()) {
      RANKOPT_ASSIGN_OR_RETURN(Shape shape, ShapeFromTf(s));
      shapes.push_back(std::move(shape));
    }
    return std::optional<AttrValue>(std::move(shapes));
  }
  std::vector<Tensor> tensors;
  for (const tf::TensorProto& t : list.tensor()) {
    std::optional<DType> dtype = DTypeFromTf(t.dtype());
    if (!dtype || !(IsFixedWidth(*dtype) || *dtype == DType::kString)) {
      return std::optional<AttrValue>();
    }
    RANKOPT_ASSIGN_OR_RETURN(Tensor tensor, TensorFromTf(t));
    tensors.push_back(std::move(tensor));
  }
  return std::optional<AttrValue>(std::move(tensors));
}

absl::Status SplitInputs(const google::protobuf::RepeatedPtrField<std::string>& inputs,
                         absl::string_view node_name, std::vector<TensorRef>* refs,
                         std::vector<std::string>* controls) {
  for (int i = 0; i < inputs.size(); ++i) {
    const std::string& input = inputs.Get(i);
    if (!input.empty() && input[0] == '^') {
      if (input.size() == 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "node '", node_name, "' input ", i, " is '^' with no node name; expected '^node'"));
      }
      controls->push_back(input.substr(1));
      continue;
    }
    absl::StatusOr<TensorRef> ref = ParseTensorName(input);
    if (!ref.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("node '", node_name, "' input ", i, ": ",
                                                     ref.status().message(),
                                                     "; expected 'node', 'node:port' or '^node'"));
    }
    refs->push_back(*std::move(ref));
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<DType> DTypeFromTf(tf::DataType type) {
  switch (type) {
    case tf::DT_FLOAT:
      return DType::kFloat32;
    case tf::DT_DOUBLE:
      return DType::kFloat64;
    case tf::DT_HALF:
      return DType::kFloat16;
    case tf::DT_BFLOAT16:
      return DType::kBFloat16;
    case tf::DT_INT8:
      return DType::kInt8;
    case tf::DT_UINT8:
      return DType::kUInt8;
    case tf::DT_INT16:
      return DType::kInt16;
    case tf::DT_UINT16:
      return DType::kUInt16;
    case tf::DT_INT32:
      return DType::kInt32;
    case tf::DT_UINT32:
      return DType::kUInt32;
    case tf::DT_INT64:
      return DType::kInt64;
    case tf::DT_UINT64:
      return DType::kUInt64;
    case tf::DT_BOOL:
      return DType::kBool;
    case tf::DT_STRING:
      return DType::kString;
    case tf::DT_RESOURCE:
      return DType::kResource;
    case tf::DT_VARIANT:
      return DType::kVariant;
    default:
      return std::nullopt;
  }
}

tf::DataType DTypeToTf(DType dtype) {
  switch (dtype) {
    case DType::kInvalid:
      return tf::DT_INVALID;
    case DType::kFloat32:
      return tf::DT_FLOAT;
    case DType::kFloat64:
      return tf::DT_DOUBLE;
    case DType::kFloat16:
      return tf::DT_HALF;
    case DType::kBFloat16:
      return tf::DT_BFLOAT16;
    case DType::kInt8:
      return tf::DT_INT8;
    case DType::kUInt8:
      return tf::DT_UINT8;
    case DType::kInt16:
      return tf::DT_INT16;
    case DType::kUInt16:
      return tf::DT_UINT16;
    case DType::kInt32:
      return tf::DT_INT32;
    case DType::kUInt32:
      return tf::DT_UINT32;
    case DType::kInt64:
      return tf::DT_INT64;
    case DType::kUInt64:
      return tf::DT_UINT64;
    case DType::kBool:
      return tf::DT_BOOL;
    case DType::kString:
      return tf::DT_STRING;
    case DType::kResource:
      return tf::DT_RESOURCE;
    case DType::kVariant:
      return tf::DT_VARIANT;
  }
  return tf::DT_INVALID;
}

absl::StatusOr<Shape> ShapeFromTf(const tf::TensorShapeProto& proto) {
  if (proto.unknown_rank()) return Shape::UnknownRank();
  std::vector<int64_t> dims;
  dims.reserve(proto.dim_size());
  for (int i = 0; i < proto.dim_size(); ++i) {
    int64_t size = proto.dim(i).size();
    if (size < -1) {
      return absl::InvalidArgumentError(absl::StrCat("shape dimension ", i, " has size ", size,
                                                     "; expected -1 (unknown) or >= 0"));
    }
    dims.push_back(size);
  }
  return Shape(std::move(dims));
}

tf::TensorShapeProto ShapeToTf(const Shape& shape) {
  tf::TensorShapeProto proto;
  if (!shape.known_rank()) {
    proto.set_unknown_rank(true);
    return proto;
  }
  for (int64_t d : shape.dims()) proto.add_dim()->set_size(d);
  return proto;
}

absl::StatusOr<Tensor> TensorFromTf(const tf::TensorProto& proto) {
  std::optional<DType> dtype = DTypeFromTf(proto.dtype());
  if (!dtype || !(IsFixedWidth(*dtype) || *dtype == DType::kString)) {
    return absl::UnimplementedError(
        absl::StrCat("tensors of dtype ", TfTypeName(proto.dtype()), " are not supported"));
  }
  RANKOPT_ASSIGN_OR_RETURN(Shape shape, ShapeFromTf(proto.tensor_shape()));
  if (!shape.IsFullyDefined()) {
    return absl::InvalidArgumentError(absl::StrCat("tensor shape ", shape.ToString(),
                                                   " is not fully defined; a constant needs one"));
  }
  const std::vector<int64_t>& dims = shape.dims();
  RANKOPT_ASSIGN_OR_RETURN(int64_t count, CheckedNumElements(dims));

  if (*dtype == DType::kString) {
    if (!proto.tensor_content().empty()) {
      return absl::UnimplementedError(
          "string tensor stored in tensor_content is not supported; expected string_val");
    }
    const int64_t given = proto.string_val_size();
    if (given > count) {
      return absl::InvalidArgumentError(absl::StrCat(
          "string tensor has ", given, " values but its shape has ", count, " elements"));
    }
    if (given < count && count > kMaxExpandedBytes / static_cast<int64_t>(sizeof(std::string))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "string tensor declares ", count, " elements but stores only ", given, " values"));
    }
    std::vector<std::string> values;
    values.reserve(count);
    for (int64_t i = 0; i < count; ++i) {
      values.push_back(given == 0 ? std::string()
                                  : proto.string_val(static_cast<int>(i < given ? i : given - 1)));
    }
    return Tensor::FromStrings(dims, std::move(values));
  }

  const int64_t element_size = static_cast<int64_t>(DTypeSize(*dtype));
  if (!proto.tensor_content().empty()) {
    const int64_t size = static_cast<int64_t>(proto.tensor_content().size());
    if (count > std::numeric_limits<int64_t>::max() / element_size ||
        count * element_size != size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor_content has ", size, " bytes but a ", DTypeName(*dtype), " tensor of shape ",
          shape.ToString(), " needs ", count, " x ", element_size, " bytes"));
    }
    return Tensor::FromBytes(*dtype, dims, proto.tensor_content());
  }
  switch (*dtype) {
    case DType::kFloat32:
      return FillFromValues<float>(*dtype, dims, count, proto.float_val(), Cast<float>());
    case DType::kFloat64:
      return FillFromValues<double>(*dtype, dims, count, proto.double_val(), Cast<double>());
    case DType::kInt32:
      return FillFromValues<int32_t>(*dtype, dims, count, proto.int_val(), Cast<int32_t>());
    case DType::kInt16:
      return FillFromValues<int16_t>(*dtype, dims, count, proto.int_val(), Cast<int16_t>());
    case DType::kInt8:
      return FillFromValues<int8_t>(*dtype, dims, count, proto.int_val(), Cast<int8_t>());
    case DType::kUInt8:
      return FillFromValues<uint8_t>(*dtype, dims, count, proto.int_val(), Cast<uint8_t>());
    case DType::kUInt16:
      return FillFromValues<uint16_t>(*dtype, dims, count, proto.int_val(), Cast<uint16_t>());
    case DType::kInt64:
      return FillFromValues<int64_t>(*dtype, dims, count, proto.int64_val(), Cast<int64_t>());
    case DType::kUInt32:
      return FillFromValues<uint32_t>(*dtype, dims, count, proto.uint32_val(), Cast<uint32_t>());
    case DType::kUInt64:
      return FillFromValues<uint64_t>(*dtype, dims, count, proto.uint64_val(), Cast<uint64_t>());
    case DType::kBool:
      return FillFromValues<uint8_t>(*dtype, dims, count, proto.bool_val(),
                                     [](bool b) { return static_cast<uint8_t>(b ? 1 : 0); });
    case DType::kFloat16:
    case DType::kBFloat16:
      // half_val carries the 16 raw bits of each fp16 / bf16 value.
      return FillFromValues<uint16_t>(*dtype, dims, count, proto.half_val(), Cast<uint16_t>());
    default:
      break;
  }
  return absl::UnimplementedError(
      absl::StrCat("tensors of dtype ", DTypeName(*dtype), " are not supported"));
}

tf::TensorProto TensorToTf(const Tensor& tensor) {
  tf::TensorProto proto;
  proto.set_dtype(DTypeToTf(tensor.dtype()));
  for (int64_t d : tensor.dims()) proto.mutable_tensor_shape()->add_dim()->set_size(d);
  if (tensor.dtype() == DType::kString) {
    for (const std::string& s : tensor.strings()) proto.add_string_val(s);
  } else {
    absl::string_view bytes = tensor.bytes();
    proto.set_tensor_content(std::string(bytes));
  }
  return proto;
}

absl::StatusOr<AttrValue> AttrFromTf(const tf::AttrValue& proto) {
  switch (proto.value_case()) {
    case tf::AttrValue::kS:
      return AttrValue(proto.s());
    case tf::AttrValue::kI:
      return AttrValue(static_cast<int64_t>(proto.i()));
    case tf::AttrValue::kF:
      return AttrValue(proto.f());
    case tf::AttrValue::kB:
      return AttrValue(proto.b());
    case tf::AttrValue::kType: {
      std::optional<DType> dtype = DTypeFromTf(proto.type());
      if (!dtype) return Opaque("type", proto);
      return AttrValue(*dtype);
    }
    case tf::AttrValue::kShape: {
      RANKOPT_ASSIGN_OR_RETURN(Shape shape, ShapeFromTf(proto.shape()));
      return AttrValue(std::move(shape));
    }
    case tf::AttrValue::kTensor: {
      std::optional<DType> dtype = DTypeFromTf(proto.tensor().dtype());
      if (!dtype || !(IsFixedWidth(*dtype) || *dtype == DType::kString)) {
        return Opaque("tensor", proto);
      }
      RANKOPT_ASSIGN_OR_RETURN(Tensor tensor, TensorFromTf(proto.tensor()));
      return AttrValue(std::move(tensor));
    }
    case tf::AttrValue::kList: {
      RANKOPT_ASSIGN_OR_RETURN(std::optional<AttrValue> list, ListFromTf(proto.list()));
      if (!list) return Opaque("list", proto);
      return *std::move(list);
    }
    case tf::AttrValue::kFunc:
      return Opaque("func", proto);
    case tf::AttrValue::kPlaceholder:
      return Opaque("placeholder", proto);
    case tf::AttrValue::VALUE_NOT_SET:
      break;
  }
  return Opaque("unset", proto);
}

absl::StatusOr<tf::AttrValue> AttrToTf(const AttrValue& value) {
  tf::AttrValue proto;
  bool ok = true;
  std::visit(Overloaded{
                 [&](int64_t v) { proto.set_i(v); },
                 [&](float v) { proto.set_f(v); },
                 [&](bool v) { proto.set_b(v); },
                 [&](const std::string& v) { proto.set_s(v); },
                 [&](DType v) { proto.set_type(DTypeToTf(v)); },
                 [&](const Shape& v) { *proto.mutable_shape() = ShapeToTf(v); },
                 [&](const Tensor& v) { *proto.mutable_tensor() = TensorToTf(v); },
                 [&](const std::vector<int64_t>& v) {
                   auto* list = proto.mutable_list();
                   for (int64_t x : v) list->add_i(x);
                 },
                 [&](const std::vector<float>& v) {
                   auto* list = proto.mutable_list();
                   for (float x : v) list->add_f(x);
                 },
                 [&](const std::vector<bool>& v) {
                   auto* list = proto.mutable_list();
                   for (bool x : v) list->add_b(x);
                 },
                 [&](const std::vector<std::string>& v) {
                   auto* list = proto.mutable_list();
                   for (const std::string& x : v) list->add_s(x);
                 },
                 [&](const std::vector<DType>& v) {
                   auto* list = proto.mutable_list();
                   for (DType x : v) list->add_type(DTypeToTf(x));
                 },
                 [&](const std::vector<Shape>& v) {
                   auto* list = proto.mutable_list();
                   for (const Shape& x : v) *list->add_shape() = ShapeToTf(x);
                 },
                 [&](const std::vector<Tensor>& v) {
                   auto* list = proto.mutable_list();
                   for (const Tensor& x : v) *list->add_tensor() = TensorToTf(x);
                 },
                 [&](const OpaqueAttr& v) { ok = proto.ParseFromString(v.bytes); },
             },
             value);
  if (!ok) {
    return absl::InvalidArgumentError(
        "an opaque attribute's bytes are not a serialized tensorflow AttrValue");
  }
  return proto;
}

absl::Status ParseNodeInputs(const tf::NodeDef& node_def, Node* node) {
  return SplitInputs(node_def.input(), node_def.name(), &node->inputs, &node->control_inputs);
}

std::vector<std::string> NodeInputStrings(const Node& node) {
  std::vector<std::string> inputs;
  inputs.reserve(node.inputs.size() + node.control_inputs.size());
  for (const TensorRef& ref : node.inputs) inputs.push_back(ref.ToString());
  for (const std::string& control : node.control_inputs) inputs.push_back("^" + control);
  return inputs;
}

absl::StatusOr<Node> NodeFromTf(const tf::NodeDef& node_def, int source_index) {
  Node node;
  node.name = node_def.name();
  node.op = node_def.op();
  node.device = node_def.device();
  node.source_index = source_index;
  if (node.name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("node #", source_index, " (op '", node.op, "') has an empty name"));
  }
  RANKOPT_RETURN_IF_ERROR(ParseNodeInputs(node_def, &node));
  for (const tf::AttrEntry& entry : node_def.attr()) {
    if (node.attrs.Find(entry.key()) != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("node '", node.name, "' has attribute '", entry.key(), "' twice"));
    }
    absl::StatusOr<AttrValue> value = AttrFromTf(entry.value());
    if (!value.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("node '", node.name, "' (", node.op,
                                                     ") attribute '", entry.key(),
                                                     "': ", value.status().message()));
    }
    node.attrs.Set(entry.key(), *std::move(value));
  }
  return node;
}

absl::StatusOr<tf::NodeDef> NodeToTf(const Node& node, const tf::NodeDef* original) {
  tf::NodeDef out;
  if (original != nullptr) out = *original;
  out.set_name(node.name);
  out.set_op(node.op);
  out.set_device(node.device);

  bool keep_inputs = false;
  if (original != nullptr) {
    std::vector<TensorRef> refs;
    std::vector<std::string> controls;
    keep_inputs = SplitInputs(original->input(), original->name(), &refs, &controls).ok() &&
                  refs == node.inputs && controls == node.control_inputs;
  }
  if (!keep_inputs) {
    out.clear_input();
    for (std::string& input : NodeInputStrings(node)) out.add_input(std::move(input));
  }

  google::protobuf::RepeatedPtrField<tf::AttrEntry> attrs;
  for (const auto& [key, value] : node.attrs.entries()) {
    const tf::AttrEntry* kept = nullptr;
    if (original != nullptr) {
      for (const tf::AttrEntry& entry : original->attr()) {
        if (entry.key() != key) continue;
        absl::StatusOr<AttrValue> decoded = AttrFromTf(entry.value());
        if (decoded.ok() && *decoded == value) kept = &entry;
        break;
      }
    }
    if (kept != nullptr) {
      *attrs.Add() = *kept;
      continue;
    }
    absl::StatusOr<tf::AttrValue> encoded = AttrToTf(value);
    if (!encoded.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("node '", node.name, "' attribute '", key,
                                                     "': ", encoded.status().message()));
    }
    tf::AttrEntry* entry = attrs.Add();
    entry->set_key(key);
    *entry->mutable_value() = *std::move(encoded);
  }
  out.mutable_attr()->Swap(&attrs);
  return out;
}

}  // namespace rankopt
