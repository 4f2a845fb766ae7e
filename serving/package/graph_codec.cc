#include "serving/package/graph_codec.h"

#include <cstring>
#include <limits>
#include <utility>
#include <variant>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "core/shape.h"
#include "rankopt/status_macros.h"
#include "serving/package/model_package.h"

namespace rankopt {
namespace {

// No real op has more than a few dozen attributes; the cap keeps a hostile manifest from making
// AttrMap's linear inserts quadratic.
constexpr int kMaxAttrsPerNode = 1024;

// ---- encoding ----

// "node 'x' attr 'y'" for errors.
std::string AttrWhere(absl::string_view node, absl::string_view attr) {
  return absl::StrCat("node '", node, "' attr '", attr, "'");
}

absl::Status EncodeShape(const Shape& shape, absl::string_view where, package::ShapeProto* out) {
  out->set_unknown_rank(!shape.known_rank());
  for (int64_t d : shape.dims()) {
    if (d < Shape::kUnknownDim) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": shape ", shape.ToString(), " has dim ", d, "; expected -1 (unknown) or >= 0"));
    }
    out->add_dims(d);
  }
  return absl::OkStatus();
}

class Encoder {
 public:
  explicit Encoder(std::vector<EncodedBlob>* blobs) : blobs_(blobs) {}

  // `blob_name` names a blob made from it ("node/attr").
  absl::Status EncodeTensor(const Tensor& t, absl::string_view where, std::string blob_name,
                            package::TensorProto* out) {
    out->set_dtype(ToDataType(t.dtype()));
    for (int64_t d : t.dims()) out->add_dims(d);
    if (t.dtype() == DType::kInvalid) {
      if (!t.dims().empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": a tensor of dtype invalid has dims; expected an empty tensor"));
      }
      return absl::OkStatus();
    }
    if (t.dtype() == DType::kString) {
      package::StringListProto* strings = out->mutable_strings();
      for (const std::string& s : t.strings()) strings->add_values(s);
      return absl::OkStatus();
    }
    if (!IsFixedWidth(t.dtype())) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": a ", DTypeName(t.dtype()),
                                                     " tensor cannot be stored in a package"));
    }
    const absl::string_view bytes = t.bytes();
    if (bytes.size() != static_cast<uint64_t>(t.num_elements()) * DTypeSize(t.dtype())) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": the tensor holds ", bytes.size(), " bytes but its shape needs ",
                       static_cast<uint64_t>(t.num_elements()) * DTypeSize(t.dtype()),
                       " (a moved-from tensor?)"));
    }
    if (bytes.size() < kPackageBlobMinBytes) {
      out->set_raw(bytes.data(), bytes.size());
      return absl::OkStatus();
    }
    // Copies of one tensor share storage: store it once.
    const std::pair<const char*, size_t> key(bytes.data(), bytes.size());
    auto it = index_.find(key);
    if (it != index_.end()) {
      const Tensor& stored = (*blobs_)[it->second].tensor;
      if (stored.dtype() == t.dtype() && stored.dims() == t.dims()) {
        out->set_blob(it->second);
        return absl::OkStatus();
      }
    }
    if (blobs_->size() >= std::numeric_limits<uint32_t>::max()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": too many blobs"));
    }
    const uint32_t index = static_cast<uint32_t>(blobs_->size());
    blobs_->push_back({std::move(blob_name), t});
    index_.try_emplace(key, index);
    out->set_blob(index);
    return absl::OkStatus();
  }

  absl::Status EncodeAttr(absl::string_view node, absl::string_view name, const AttrValue& value,
                          package::AttrValueProto* out) {
    const std::string where = AttrWhere(node, name);
    const std::string blob_name = absl::StrCat(node, "/", name);
    return std::visit(
        [&](const auto& v) -> absl::Status {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, int64_t>) {
            out->set_i(v);
          } else if constexpr (std::is_same_v<T, float>) {
            out->set_f(v);
          } else if constexpr (std::is_same_v<T, bool>) {
            out->set_b(v);
          } else if constexpr (std::is_same_v<T, std::string>) {
            out->set_s(v);
          } else if constexpr (std::is_same_v<T, DType>) {
            out->set_dtype(ToDataType(v));
          } else if constexpr (std::is_same_v<T, Shape>) {
            return EncodeShape(v, where, out->mutable_shape());
          } else if constexpr (std::is_same_v<T, Tensor>) {
            return EncodeTensor(v, where, blob_name, out->mutable_tensor());
          } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
            out->mutable_ints()->mutable_values()->Add(v.begin(), v.end());
          } else if constexpr (std::is_same_v<T, std::vector<float>>) {
            out->mutable_floats()->mutable_values()->Add(v.begin(), v.end());
          } else if constexpr (std::is_same_v<T, std::vector<bool>>) {
            package::BoolListProto* list = out->mutable_bools();
            for (bool b : v) list->add_values(b);
          } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            package::StringListProto* list = out->mutable_strings();
            for (const std::string& s : v) list->add_values(s);
          } else if constexpr (std::is_same_v<T, std::vector<DType>>) {
            package::DataTypeListProto* list = out->mutable_dtypes();
            for (DType d : v) list->add_values(ToDataType(d));
          } else if constexpr (std::is_same_v<T, std::vector<Shape>>) {
            package::ShapeListProto* list = out->mutable_shapes();
            for (size_t i = 0; i < v.size(); ++i) {
              RANKOPT_RETURN_IF_ERROR(
                  EncodeShape(v[i], absl::StrCat(where, " shape ", i), list->add_values()));
            }
          } else if constexpr (std::is_same_v<T, std::vector<Tensor>>) {
            package::TensorListProto* list = out->mutable_tensors();
            for (size_t i = 0; i < v.size(); ++i) {
              RANKOPT_RETURN_IF_ERROR(EncodeTensor(v[i], absl::StrCat(where, " tensor ", i),
                                                   absl::StrCat(blob_name, "[", i, "]"),
                                                   list->add_values()));
            }
          } else {
            static_assert(std::is_same_v<T, OpaqueAttr>, "every AttrValue alternative is stored");
            out->mutable_opaque()->set_kind(v.kind);
            out->mutable_opaque()->set_bytes(v.bytes);
          }
          return absl::OkStatus();
        },
        value);
  }

 private:
  std::vector<EncodedBlob>* blobs_;
  absl::flat_hash_map<std::pair<const char*, size_t>, uint32_t> index_;
};

void EncodeRef(const TensorRef& ref, package::TensorRefProto* out) {
  out->set_node(ref.node);
  out->set_port(ref.port);
}

absl::StatusOr<package::GraphFormat> ToGraphFormat(ModelFormat format) {
  switch (format) {
    case ModelFormat::kTfGraphDef:
      return package::GRAPH_FORMAT_TF_GRAPHDEF;
    case ModelFormat::kTfGraphDefText:
      return package::GRAPH_FORMAT_TF_GRAPHDEF_TEXT;
    case ModelFormat::kTfSavedModel:
      return package::GRAPH_FORMAT_TF_SAVED_MODEL;
    case ModelFormat::kOnnx:
      return package::GRAPH_FORMAT_ONNX;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("graph format ", static_cast<int>(format), " is not one a package stores"));
}

// ---- decoding ----

absl::StatusOr<ModelFormat> FromGraphFormat(int format) {
  switch (format) {
    case package::GRAPH_FORMAT_TF_GRAPHDEF:
      return ModelFormat::kTfGraphDef;
    case package::GRAPH_FORMAT_TF_GRAPHDEF_TEXT:
      return ModelFormat::kTfGraphDefText;
    case package::GRAPH_FORMAT_TF_SAVED_MODEL:
      return ModelFormat::kTfSavedModel;
    case package::GRAPH_FORMAT_ONNX:
      return ModelFormat::kOnnx;
    default:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat("graph format ", format,
                                                 " is unknown; expected 1 to 4 (tf_graphdef, ",
                                                 "tf_graphdef_text, tf_saved_model, onnx)"));
}

// Prefixes `status`'s message with `where`.
absl::Status Annotate(const absl::Status& status, absl::string_view where) {
  return absl::Status(status.code(), absl::StrCat(where, ": ", status.message()));
}

absl::StatusOr<Shape> DecodeShape(const package::ShapeProto& in, absl::string_view where) {
  if (in.unknown_rank()) {
    if (in.dims_size() != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": a shape of unknown rank has ", in.dims_size(), " dims"));
    }
    return Shape::UnknownRank();
  }
  std::vector<int64_t> dims(in.dims().begin(), in.dims().end());
  for (int64_t d : dims) {
    if (d < Shape::kUnknownDim) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": shape dim ", d, "; expected -1 (unknown) or >= 0"));
    }
  }
  return Shape(std::move(dims));
}

absl::StatusOr<TensorRef> DecodeRef(const package::TensorRefProto& in, absl::string_view where) {
  if (in.port() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " reads port ", in.port(), " of '", in.node(), "'; expected >= 0"));
  }
  return TensorRef{in.node(), in.port()};
}

// Bools must be 0 or 1: any other byte read as bool is undefined behaviour, and our writer never
// writes one (a package that has one is damaged; Tensor::FromBytes would quietly make it 1).
absl::Status CheckBoolBytes(DType dtype, absl::string_view b, absl::string_view where) {
  if (dtype != DType::kBool) return absl::OkStatus();
  for (size_t i = 0; i < b.size(); ++i) {
    if (static_cast<unsigned char>(b[i]) > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": bool element ", i, " is byte ",
                       static_cast<int>(static_cast<unsigned char>(b[i])), "; expected 0 or 1"));
    }
  }
  return absl::OkStatus();
}

class Decoder {
 public:
  explicit Decoder(absl::Span<const Tensor> blobs) : blobs_(blobs) {}

  absl::StatusOr<Tensor> DecodeTensor(const package::TensorProto& in, absl::string_view where) {
    absl::StatusOr<DType> dtype = FromDataType(in.dtype());
    if (!dtype.ok()) return Annotate(dtype.status(), where);
    std::vector<int64_t> dims(in.dims().begin(), in.dims().end());
    if (absl::StatusOr<int64_t> n = CheckedNumElements(dims); !n.ok()) {
      return Annotate(n.status(), where);
    }
    const auto data = in.data_case();
    if (*dtype == DType::kInvalid) {
      if (!dims.empty() || data != package::TensorProto::DATA_NOT_SET) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": a tensor of dtype invalid has dims or data; expected an empty tensor"));
      }
      return Tensor();
    }
    if (*dtype == DType::kString) {
      if (data != package::TensorProto::kStrings) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": a string tensor without its strings"));
      }
      std::vector<std::string> values(in.strings().values().begin(), in.strings().values().end());
      absl::StatusOr<Tensor> t = Tensor::FromStrings(std::move(dims), std::move(values));
      if (!t.ok()) return Annotate(t.status(), where);
      return t;
    }
    if (!IsFixedWidth(*dtype)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": a ", DTypeName(*dtype), " tensor cannot hold data"));
    }
    absl::StatusOr<Tensor> t;
    if (data == package::TensorProto::kRaw) {
      RANKOPT_RETURN_IF_ERROR(CheckBoolBytes(*dtype, in.raw(), where));
      t = Tensor::FromBytes(*dtype, std::move(dims), in.raw());
      if (!t.ok()) return Annotate(t.status(), where);
    } else if (data == package::TensorProto::kBlob) {
      if (in.blob() >= blobs_.size()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": blob index ", in.blob(),
                                                       " is out of range; the package has ",
                                                       blobs_.size(), " blobs"));
      }
      const Tensor& blob = blobs_[in.blob()];
      if (blob.dtype() != *dtype || blob.dims() != dims) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": the tensor is ", DTypeName(*dtype), " ", Shape(dims).ToString(), " but blob ",
            in.blob(), " is ", DTypeName(blob.dtype()), " ", Shape(blob.dims()).ToString()));
      }
      // Checked once per blob, not once per reference.
      if (checked_bool_blobs_.insert(in.blob()).second) {
        RANKOPT_RETURN_IF_ERROR(CheckBoolBytes(blob.dtype(), blob.bytes(),
                                               absl::StrCat(where, " (blob ", in.blob(), ")")));
      }
      return blob;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": a ", DTypeName(*dtype), " tensor without data"));
    }
    return t;
  }

  absl::StatusOr<AttrValue> DecodeAttr(const package::AttrValueProto& in, absl::string_view where) {
    switch (in.value_case()) {
      case package::AttrValueProto::kI:
        return AttrValue(in.i());
      case package::AttrValueProto::kF:
        return AttrValue(in.f());
      case package::AttrValueProto::kB:
        return AttrValue(in.b());
      case package::AttrValueProto::kS:
        return AttrValue(in.s());
      case package::AttrValueProto::kDtype: {
        absl::StatusOr<DType> d = FromDataType(in.dtype());
        if (!d.ok()) return Annotate(d.status(), where);
        return AttrValue(*d);
      }
      case package::AttrValueProto::kShape: {
        RANKOPT_ASSIGN_OR_RETURN(Shape s, DecodeShape(in.shape(), where));
        return AttrValue(std::move(s));
      }
      case package::AttrValueProto::kTensor: {
        RANKOPT_ASSIGN_OR_RETURN(Tensor t, DecodeTensor(in.tensor(), where));
        return AttrValue(std::move(t));
      }
      case package::AttrValueProto::kInts:
        return AttrValue(
            std::vector<int64_t>(in.ints().values().begin(), in.ints().values().end()));
      case package::AttrValueProto::kFloats:
        return AttrValue(
            std::vector<float>(in.floats().values().begin(), in.floats().values().end()));
      case package::AttrValueProto::kBools:
        return AttrValue(std::vector<bool>(in.bools().values().begin(), in.bools().values().end()));
      case package::AttrValueProto::kStrings:
        return AttrValue(
            std::vector<std::string>(in.strings().values().begin(), in.strings().values().end()));
      case package::AttrValueProto::kDtypes: {
        std::vector<DType> v;
        v.reserve(in.dtypes().values_size());
        for (int d : in.dtypes().values()) {
          absl::StatusOr<DType> dtype = FromDataType(d);
          if (!dtype.ok()) return Annotate(dtype.status(), where);
          v.push_back(*dtype);
        }
        return AttrValue(std::move(v));
      }
      case package::AttrValueProto::kShapes: {
        std::vector<Shape> v;
        v.reserve(in.shapes().values_size());
        for (int i = 0; i < in.shapes().values_size(); ++i) {
          RANKOPT_ASSIGN_OR_RETURN(
              Shape s, DecodeShape(in.shapes().values(i), absl::StrCat(where, " shape ", i)));
          v.push_back(std::move(s));
        }
        return AttrValue(std::move(v));
      }
      case package::AttrValueProto::kTensors: {
        std::vector<Tensor> v;
        v.reserve(in.tensors().values_size());
        for (int i = 0; i < in.tensors().values_size(); ++i) {
          RANKOPT_ASSIGN_OR_RETURN(
              Tensor t, DecodeTensor(in.tensors().values(i), absl::StrCat(where, " tensor ", i)));
          v.push_back(std::move(t));
        }
        return AttrValue(std::move(v));
      }
      case package::AttrValueProto::kOpaque:
        return AttrValue(OpaqueAttr{in.opaque().kind(), in.opaque().bytes()});
      case package::AttrValueProto::VALUE_NOT_SET:
        break;
    }
    return absl::InvalidArgumentError(absl::StrCat(where, ": the attribute has no value"));
  }

  absl::StatusOr<Node> DecodeNode(const package::NodeProto& in, int index) {
    Node node;
    node.name = in.name();
    node.op = in.op();
    node.domain = in.domain();
    node.device = in.device();
    const std::string where = absl::StrCat("node ", index, " '", in.name(), "'");
    node.inputs.reserve(in.inputs_size());
    for (int i = 0; i < in.inputs_size(); ++i) {
      RANKOPT_ASSIGN_OR_RETURN(TensorRef ref,
                               DecodeRef(in.inputs(i), absl::StrCat(where, " input ", i)));
      node.inputs.push_back(std::move(ref));
    }
    node.control_inputs.assign(in.control_inputs().begin(), in.control_inputs().end());
    if (in.attrs_size() > kMaxAttrsPerNode) {
      return absl::InvalidArgumentError(absl::StrCat(where, " has ", in.attrs_size(),
                                                     " attributes; at most ", kMaxAttrsPerNode,
                                                     " are accepted"));
    }
    absl::flat_hash_set<absl::string_view> names;
    for (const package::AttrProto& attr : in.attrs()) {
      const std::string attr_where = AttrWhere(in.name(), attr.name());
      if (!names.insert(attr.name()).second) {
        return absl::InvalidArgumentError(
            absl::StrCat(attr_where, " appears twice; attribute names are unique"));
      }
      RANKOPT_ASSIGN_OR_RETURN(AttrValue value, DecodeAttr(attr.value(), attr_where));
      node.attrs.Set(attr.name(), std::move(value));
    }
    node.output_names.assign(in.output_names().begin(), in.output_names().end());
    node.source_index = -1;
    return node;
  }

 private:
  absl::Span<const Tensor> blobs_;
  absl::flat_hash_set<uint32_t> checked_bool_blobs_;
};

// The output `ref` names exists with that port (where the producer declares its outputs).
absl::Status CheckRef(const Graph& graph, const TensorRef& ref, absl::string_view where) {
  const Node* producer = graph.FindNode(ref.node);
  if (producer == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " refers to '", ref.node, "', which is not a node in the graph"));
  }
  if (!producer->output_names.empty() &&
      ref.port >= static_cast<int>(producer->output_names.size())) {
    return absl::InvalidArgumentError(absl::StrCat(where, " reads output ", ref.port, " of '",
                                                   ref.node, "', which has ",
                                                   producer->output_names.size(), " outputs"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SignatureTensor> DecodeSignatureTensor(const package::SignatureTensorProto& in,
                                                      absl::string_view where) {
  SignatureTensor t;
  t.key = in.key();
  RANKOPT_ASSIGN_OR_RETURN(t.ref, DecodeRef(in.ref(), where));
  absl::StatusOr<DType> dtype = FromDataType(in.dtype());
  if (!dtype.ok()) return Annotate(dtype.status(), where);
  t.dtype = *dtype;
  RANKOPT_ASSIGN_OR_RETURN(t.shape, DecodeShape(in.shape(), where));
  return t;
}

}  // namespace

package::DataType ToDataType(DType dtype) {
  switch (dtype) {
    case DType::kInvalid:
      return package::DT_INVALID;
    case DType::kFloat32:
      return package::DT_FLOAT32;
    case DType::kFloat64:
      return package::DT_FLOAT64;
    case DType::kFloat16:
      return package::DT_FLOAT16;
    case DType::kBFloat16:
      return package::DT_BFLOAT16;
    case DType::kInt8:
      return package::DT_INT8;
    case DType::kUInt8:
      return package::DT_UINT8;
    case DType::kInt16:
      return package::DT_INT16;
    case DType::kUInt16:
      return package::DT_UINT16;
    case DType::kInt32:
      return package::DT_INT32;
    case DType::kUInt32:
      return package::DT_UINT32;
    case DType::kInt64:
      return package::DT_INT64;
    case DType::kUInt64:
      return package::DT_UINT64;
    case DType::kBool:
      return package::DT_BOOL;
    case DType::kString:
      return package::DT_STRING;
    case DType::kResource:
      return package::DT_RESOURCE;
    case DType::kVariant:
      return package::DT_VARIANT;
  }
  return package::DT_INVALID;
}

absl::StatusOr<DType> FromDataType(int value) {
  switch (value) {
    case package::DT_INVALID:
      return DType::kInvalid;
    case package::DT_FLOAT32:
      return DType::kFloat32;
    case package::DT_FLOAT64:
      return DType::kFloat64;
    case package::DT_FLOAT16:
      return DType::kFloat16;
    case package::DT_BFLOAT16:
      return DType::kBFloat16;
    case package::DT_INT8:
      return DType::kInt8;
    case package::DT_UINT8:
      return DType::kUInt8;
    case package::DT_INT16:
      return DType::kInt16;
    case package::DT_UINT16:
      return DType::kUInt16;
    case package::DT_INT32:
      return DType::kInt32;
    case package::DT_UINT32:
      return DType::kUInt32;
    case package::DT_INT64:
      return DType::kInt64;
    case package::DT_UINT64:
      return DType::kUInt64;
    case package::DT_BOOL:
      return DType::kBool;
    case package::DT_STRING:
      return DType::kString;
    case package::DT_RESOURCE:
      return DType::kResource;
    case package::DT_VARIANT:
      return DType::kVariant;
    default:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("dtype number ", value, " is unknown; expected 0 to ", package::DataType_MAX));
}

absl::Status EncodeGraph(const Graph& graph, package::GraphProto* out,
                         std::vector<EncodedBlob>* blobs) {
  out->Clear();
  blobs->clear();
  RANKOPT_ASSIGN_OR_RETURN(package::GraphFormat format, ToGraphFormat(graph.format()));
  out->set_format(format);
  out->set_onnx_opset(graph.onnx_opset());
  Encoder encoder(blobs);
  out->mutable_nodes()->Reserve(static_cast<int>(graph.num_nodes()));
  for (const Node& node : graph.nodes()) {
    package::NodeProto* n = out->add_nodes();
    n->set_name(node.name);
    n->set_op(node.op);
    n->set_domain(node.domain);
    n->set_device(node.device);
    for (const TensorRef& ref : node.inputs) EncodeRef(ref, n->add_inputs());
    for (const std::string& c : node.control_inputs) n->add_control_inputs(c);
    for (const auto& [name, value] : node.attrs.entries()) {
      package::AttrProto* attr = n->add_attrs();
      attr->set_name(name);
      RANKOPT_RETURN_IF_ERROR(encoder.EncodeAttr(node.name, name, value, attr->mutable_value()));
    }
    for (const std::string& o : node.output_names) n->add_output_names(o);
  }
  for (const GraphOutput& output : graph.outputs()) {
    package::GraphOutputProto* o = out->add_outputs();
    o->set_name(output.name);
    EncodeRef(output.ref, o->mutable_ref());
  }
  for (const Signature& signature : graph.signatures()) {
    package::SignatureProto* s = out->add_signatures();
    s->set_key(signature.key);
    s->set_method_name(signature.method_name);
    for (const auto* list : {&signature.inputs, &signature.outputs}) {
      for (const SignatureTensor& t : *list) {
        package::SignatureTensorProto* st =
            list == &signature.inputs ? s->add_inputs() : s->add_outputs();
        st->set_key(t.key);
        EncodeRef(t.ref, st->mutable_ref());
        st->set_dtype(ToDataType(t.dtype));
        RANKOPT_RETURN_IF_ERROR(EncodeShape(
            t.shape, absl::StrCat("signature '", signature.key, "' tensor '", t.key, "'"),
            st->mutable_shape()));
      }
    }
  }
  for (const std::string& v : graph.frozen_variables()) out->add_frozen_variables(v);
  return absl::OkStatus();
}

absl::StatusOr<Graph> DecodeGraph(const package::GraphProto& message,
                                  absl::Span<const Tensor> blobs,
                                  const DecodeGraphOptions& options) {
  if (message.nodes_size() > options.max_nodes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the graph has ", message.nodes_size(), " nodes, more than the limit of ",
                     options.max_nodes, " (ReadPackageOptions::max_graph_nodes)"));
  }
  RANKOPT_ASSIGN_OR_RETURN(ModelFormat format, FromGraphFormat(message.format()));
  if (message.onnx_opset() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("onnx opset ", message.onnx_opset(), " is negative"));
  }
  Graph graph(format);
  graph.set_onnx_opset(message.onnx_opset());
  Decoder decoder(blobs);
  std::vector<Node> nodes;
  nodes.reserve(message.nodes_size());
  for (int i = 0; i < message.nodes_size(); ++i) {
    RANKOPT_ASSIGN_OR_RETURN(Node node, decoder.DecodeNode(message.nodes(i), i));
    nodes.push_back(std::move(node));
  }
  RANKOPT_RETURN_IF_ERROR(graph.SetNodes(std::move(nodes)));

  for (int i = 0; i < message.outputs_size(); ++i) {
    const package::GraphOutputProto& o = message.outputs(i);
    const std::string where = absl::StrCat("graph output ", i, " '", o.name(), "'");
    RANKOPT_ASSIGN_OR_RETURN(TensorRef ref, DecodeRef(o.ref(), where));
    RANKOPT_RETURN_IF_ERROR(CheckRef(graph, ref, where));
    graph.mutable_outputs()->push_back(GraphOutput{o.name(), std::move(ref)});
  }
  for (const package::SignatureProto& s : message.signatures()) {
    Signature signature;
    signature.key = s.key();
    signature.method_name = s.method_name();
    // Not checked against the graph: passes may prune what a signature input names.
    for (int i = 0; i < s.inputs_size(); ++i) {
      RANKOPT_ASSIGN_OR_RETURN(
          SignatureTensor t,
          DecodeSignatureTensor(s.inputs(i), absl::StrCat("signature '", s.key(), "' input ", i)));
      signature.inputs.push_back(std::move(t));
    }
    for (int i = 0; i < s.outputs_size(); ++i) {
      RANKOPT_ASSIGN_OR_RETURN(
          SignatureTensor t,
          DecodeSignatureTensor(s.outputs(i),
                                absl::StrCat("signature '", s.key(), "' output ", i)));
      signature.outputs.push_back(std::move(t));
    }
    graph.mutable_signatures()->push_back(std::move(signature));
  }
  graph.mutable_frozen_variables()->assign(message.frozen_variables().begin(),
                                           message.frozen_variables().end());
  RANKOPT_RETURN_IF_ERROR(graph.Validate());
  return graph;
}

}  // namespace rankopt
