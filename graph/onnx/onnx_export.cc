// Graph -> ONNX ModelProto. Unchanged IR nodes are written from their source records, so an
// untouched import exports byte-for-byte; edited or new nodes are built from the IR.
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <fstream>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "graph/onnx/onnx_convert.h"
#include "graph/onnx/onnx_embedding_bag.h"
#include "graph/onnx/onnx_external_data.h"
#include "graph/onnx/onnx_io.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

bool IsDefaultDomain(absl::string_view domain) { return domain.empty() || domain == "ai.onnx"; }

// Defaults for a graph that was not imported from ONNX.
constexpr int64_t kDefaultIrVersion = 8;
constexpr int64_t kDefaultOpset = 17;

// A graph input in the making; sorted by source position so unchanged inputs keep their order.
struct PendingInput {
  int64_t key;
  onnx::ValueInfoProto info;
};

class Exporter {
 public:
  explicit Exporter(const Graph& graph)
      : graph_(graph), source_(dynamic_cast<const OnnxSourceModel*>(graph.source().get())) {}

  absl::StatusOr<onnx::ModelProto> Run() {
    StartModel();
    RANKOPT_RETURN_IF_ERROR(NameTensors());
    RANKOPT_ASSIGN_OR_RETURN(std::vector<int> order, graph_.TopologicalOrder());
    std::vector<PendingInput> inputs;
    for (int i : order) {
      const Node& node = graph_.nodes()[i];
      if (node.op == kPlaceholderOp) {
        RANKOPT_RETURN_IF_ERROR(AddPlaceholder(i, &inputs));
      } else if (node.op == kConstOp) {
        RANKOPT_RETURN_IF_ERROR(AddConst(i, &inputs));
      }
    }
    std::stable_sort(inputs.begin(), inputs.end(),
                     [](const PendingInput& a, const PendingInput& b) { return a.key < b.key; });
    for (PendingInput& input : inputs) *out_graph()->add_input() = std::move(input.info);
    for (int i : order) {
      const Node& node = graph_.nodes()[i];
      if (node.op != kPlaceholderOp && node.op != kConstOp) {
        RANKOPT_RETURN_IF_ERROR(AddOpNode(i));
      }
    }
    RANKOPT_RETURN_IF_ERROR(AddOutputs());
    AddValueInfo();
    AddMissingOpsets();
    return std::move(model_);
  }

 private:
  onnx::GraphProto* out_graph() { return model_.mutable_graph(); }
  const onnx::GraphProto* src_graph() const {
    return source_ != nullptr ? &source_->model().graph() : nullptr;
  }

  void StartModel() {
    if (source_ == nullptr) {
      model_.set_ir_version(kDefaultIrVersion);
      model_.set_producer_name("rankopt");
      onnx::OperatorSetIdProto* opset = model_.add_opset_import();
      opset->set_domain("");
      opset->set_version(kDefaultOpset);
      model_.mutable_graph()->set_name("rankopt");
      return;
    }
    model_ = source_->model();
    onnx::GraphProto* g = out_graph();
    g->clear_node();
    g->clear_initializer();
    g->clear_input();
    g->clear_output();
    g->clear_value_info();
    const onnx::GraphProto& src = *src_graph();
    for (int i = 0; i < src.input_size(); ++i) src_input_index_.try_emplace(src.input(i).name(), i);
    for (int i = 0; i < src.output_size(); ++i) {
      src_info_.try_emplace(src.output(i).name(), &src.output(i));
    }
    for (int i = 0; i < src.value_info_size(); ++i) {
      src_info_.try_emplace(src.value_info(i).name(), &src.value_info(i));
    }
  }

  // Fixes every node's output tensor names: its output_names, or generated "<node>"/"<node>:k"
  // names for nodes a pass created without them. Errors on a tensor with two producers.
  absl::Status NameTensors() {
    const std::vector<Node>& nodes = graph_.nodes();
    tensor_names_.resize(nodes.size());
    // Outputs of unnamed nodes: as many as the highest port anyone reads, at least one.
    std::vector<int> needed(nodes.size(), 1);
    auto note_read = [&](const TensorRef& ref) {
      int i = graph_.NodeIndex(ref.node);
      if (i >= 0 && ref.port >= 0 && ref.port + 1 > needed[i]) needed[i] = ref.port + 1;
    };
    for (const Node& node : nodes) {
      for (const TensorRef& ref : node.inputs) {
        if (!ref.empty()) note_read(ref);
      }
    }
    for (const GraphOutput& output : graph_.outputs()) note_read(output.ref);

    absl::flat_hash_map<std::string, int> producer;
    auto claim = [&](const std::string& tensor, int i) -> absl::Status {
      if (tensor.empty()) return absl::OkStatus();
      auto [it, inserted] = producer.try_emplace(tensor, i);
      if (inserted || it->second == i) return absl::OkStatus();
      return absl::InvalidArgumentError(
          absl::StrCat("cannot export to ONNX: tensor '", tensor, "' is an output of both node '",
                       nodes[it->second].name, "' and node '", nodes[i].name,
                       "'; ONNX tensors need one producer (rename one of the output_names)"));
    };
    for (size_t i = 0; i < nodes.size(); ++i) {
      const Node& node = nodes[i];
      if (!node.output_names.empty()) {
        tensor_names_[i] = node.output_names;
        if ((node.op == kPlaceholderOp || node.op == kConstOp) && tensor_names_[i][0].empty()) {
          tensor_names_[i][0] = node.name;
        }
        for (const std::string& t : tensor_names_[i]) RANKOPT_RETURN_IF_ERROR(claim(t, i));
      }
    }
    for (size_t i = 0; i < nodes.size(); ++i) {
      const Node& node = nodes[i];
      if (!node.output_names.empty()) continue;
      const bool single = node.op == kPlaceholderOp || node.op == kConstOp;
      const int count = single ? 1 : needed[i];
      for (int port = 0; port < count; ++port) {
        std::string base = TensorRef{node.name, port}.ToString();
        std::string name = base;
        for (int suffix = 1; producer.contains(name); ++suffix) {
          name = absl::StrCat(base, "_", suffix);
        }
        RANKOPT_RETURN_IF_ERROR(claim(name, static_cast<int>(i)));
        tensor_names_[i].push_back(name);
      }
    }
    return absl::OkStatus();
  }

  // The tensor name `ref` reads.
  absl::StatusOr<std::string> TensorName(const TensorRef& ref, absl::string_view reader) const {
    int i = graph_.NodeIndex(ref.node);
    if (i < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot export to ONNX: ", reader, " reads missing node '", ref.node, "'"));
    }
    const std::vector<std::string>& names = tensor_names_[i];
    if (ref.port < 0 || ref.port >= static_cast<int>(names.size()) || names[ref.port].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot export to ONNX: ", reader, " reads output ", ref.port, " of node '",
                       ref.node, "', which has ", names.size(), " named outputs"));
    }
    return names[ref.port];
  }

  absl::Status AddPlaceholder(int i, std::vector<PendingInput>* inputs) {
    const Node& node = graph_.nodes()[i];
    const std::string& tensor = tensor_names_[i][0];
    const DType* dtype = node.attrs.Get<DType>("dtype");
    const Shape* shape = node.attrs.Get<Shape>("shape");
    if (dtype == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("cannot export to ONNX: Placeholder '",
                                                     node.name, "' has no 'dtype' attr (a DType)"));
    }
    Shape unknown;
    if (shape == nullptr) shape = &unknown;
    const onnx::ValueInfoProto* src = nullptr;
    if (src_graph() != nullptr && node.source_index >= 0 &&
        node.source_index < src_graph()->input_size()) {
      src = &src_graph()->input(node.source_index);
    }
    if (src != nullptr && src->name() == tensor) {
      absl::StatusOr<OnnxTensorType> type = TensorTypeFromOnnx(*src, tensor);
      if (type.ok() && type->dtype == *dtype && type->shape == *shape) {
        inputs->push_back({node.source_index, *src});
        return absl::OkStatus();
      }
    }
    RANKOPT_ASSIGN_OR_RETURN(onnx::ValueInfoProto info, OnnxValueInfo(tensor, *dtype, *shape, src));
    const int64_t key = src != nullptr ? node.source_index : NewInputKey();
    inputs->push_back({key, std::move(info)});
    return absl::OkStatus();
  }

  absl::Status AddConst(int i, std::vector<PendingInput>* inputs) {
    const Node& node = graph_.nodes()[i];
    const std::string& tensor = tensor_names_[i][0];
    const Tensor* value = node.attrs.Get<Tensor>("value");
    if (value == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("cannot export to ONNX: Const '", node.name,
                                                     "' has no 'value' attr (a Tensor)"));
    }
    const onnx::GraphProto* src = src_graph();
    const bool unchanged =
        src != nullptr && node.source_index >= 0 && node.source_index < src->initializer_size() &&
        src->initializer(node.source_index).name() == tensor &&
        static_cast<size_t>(node.source_index) < source_->initializer_values.size() &&
        source_->initializer_values[node.source_index] == *value;
    if (unchanged) {
      *out_graph()->add_initializer() = src->initializer(node.source_index);
    } else {
      absl::StatusOr<onnx::TensorProto> proto = OnnxFromTensor(*value, tensor);
      if (!proto.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("cannot export Const '", node.name,
                                                       "' to ONNX: ", proto.status().message()));
      }
      *out_graph()->add_initializer() = *std::move(proto);
    }
    // Models before IR version 4 also list each initializer as a graph input; keep doing so.
    auto it = src_input_index_.find(tensor);
    if (it != src_input_index_.end()) {
      const onnx::ValueInfoProto& src_info = src->input(it->second);
      absl::StatusOr<OnnxTensorType> type = TensorTypeFromOnnx(src_info, tensor);
      // An unchanged initializer keeps its input entry as written, even where the two disagree
      // (some old exporters declared an int64 initializer as a float input).
      if (unchanged ||
          (type.ok() && type->dtype == value->dtype() && type->shape == Shape(value->dims()))) {
        inputs->push_back({it->second, src_info});
      } else {
        RANKOPT_ASSIGN_OR_RETURN(
            onnx::ValueInfoProto info,
            OnnxValueInfo(tensor, value->dtype(), Shape(value->dims()), nullptr));
        inputs->push_back({it->second, std::move(info)});
      }
    }
    return absl::OkStatus();
  }

  // _RankoptEmbeddingBagOffsets back into the standard ONNX Loop it was imported from.
  absl::Status AddEmbeddingBagLoop(int i) {
    const Node& node = graph_.nodes()[i];
    const std::string where = absl::StrCat("node '", node.name, "' (", node.op, ")");
    const std::string* mode = node.attrs.Get<std::string>("mode");
    if (node.inputs.size() < 3 || node.inputs.size() > 4 || mode == nullptr ||
        tensor_names_[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot export to ONNX: ", where,
          " needs inputs (weight, indices, offsets[, per_sample_weights]) and attr 'mode'"));
    }
    std::vector<std::string> names;
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      if (node.inputs[k].empty()) {
        names.emplace_back();
        continue;
      }
      RANKOPT_ASSIGN_OR_RETURN(std::string t,
                               TensorName(node.inputs[k], absl::StrCat(where, " input ", k)));
      names.push_back(std::move(t));
    }
    const int64_t* empty_is_zero = node.attrs.Get<int64_t>("empty_is_zero");
    if (*mode == "max" && empty_is_zero != nullptr && *empty_is_zero != 0) {
      return absl::UnimplementedError(absl::StrCat(
          "cannot export to ONNX: ", where,
          " is a max bag whose empty bags are zeros (imported from torch's dynamo export); the "
          "EmbeddingBag Loop rankopt writes pools an empty max bag to -inf"));
    }
    OnnxEmbeddingBagLoop bag;
    bag.weight = names[0];
    bag.indices = names[1];
    bag.offsets = names[2];
    if (names.size() > 3) bag.per_sample_weights = names[3];
    bag.mode = *mode;
    int64_t opset = kDefaultOpset;
    for (const onnx::OperatorSetIdProto& o : model_.opset_import()) {
      if (IsDefaultDomain(o.domain())) opset = o.version();
    }
    return AppendOnnxEmbeddingBagLoop(bag, tensor_names_[i][0], node.name, opset, out_graph());
  }

  absl::Status AddOpNode(int i) {
    const Node& node = graph_.nodes()[i];
    if (node.op == kOnnxEmbeddingBagOp) return AddEmbeddingBagLoop(i);
    const std::string where = absl::StrCat("node '", node.name, "' (", node.op, ")");
    if (!node.control_inputs.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot export to ONNX: ", where, " has control inputs, which ONNX cannot express"));
    }
    const onnx::GraphProto* src = src_graph();
    const bool reuse = src != nullptr && node.source_index >= 0 &&
                       node.source_index < src->node_size() &&
                       static_cast<size_t>(node.source_index) < source_->node_attrs.size();
    onnx::NodeProto* proto = out_graph()->add_node();
    if (reuse) {
      *proto = src->node(node.source_index);
      if (node.name != source_->node_names[node.source_index]) proto->set_name(node.name);
    } else {
      proto->set_name(node.name);
    }
    if (proto->op_type() != node.op) proto->set_op_type(node.op);
    if (!(node.domain.empty() && IsDefaultDomain(proto->domain())) &&
        proto->domain() != node.domain) {
      proto->set_domain(node.domain);
    }

    std::vector<std::string> inputs;
    inputs.reserve(node.inputs.size());
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      if (node.inputs[k].empty()) {
        inputs.emplace_back();
        continue;
      }
      RANKOPT_ASSIGN_OR_RETURN(std::string t,
                               TensorName(node.inputs[k], absl::StrCat(where, " input ", k)));
      inputs.push_back(std::move(t));
    }
    if (!std::equal(inputs.begin(), inputs.end(), proto->input().begin(), proto->input().end())) {
      proto->clear_input();
      for (std::string& t : inputs) proto->add_input(std::move(t));
    }
    const std::vector<std::string>& outputs = tensor_names_[i];
    if (!std::equal(outputs.begin(), outputs.end(), proto->output().begin(),
                    proto->output().end())) {
      proto->clear_output();
      for (const std::string& t : outputs) proto->add_output(t);
    }

    const AttrMap* src_attrs = reuse ? &source_->node_attrs[node.source_index] : nullptr;
    if (src_attrs != nullptr && *src_attrs == node.attrs) return absl::OkStatus();
    // Rebuild the list, still reusing each attribute whose value did not change.
    onnx::NodeProto original;
    if (reuse) original.mutable_attribute()->Swap(proto->mutable_attribute());
    proto->clear_attribute();
    for (const auto& [name, value] : node.attrs.entries()) {
      const AttrValue* old = src_attrs != nullptr ? src_attrs->Find(name) : nullptr;
      const onnx::AttributeProto* old_proto = nullptr;
      for (const onnx::AttributeProto& a : original.attribute()) {
        if (a.name() == name) old_proto = &a;
      }
      if (old != nullptr && old_proto != nullptr && *old == value) {
        *proto->add_attribute() = *old_proto;
        continue;
      }
      RANKOPT_ASSIGN_OR_RETURN(*proto->add_attribute(), OnnxFromAttr(name, value, where));
    }
    return absl::OkStatus();
  }

  absl::Status AddOutputs() {
    std::vector<std::pair<int, std::string>> untyped;  // (graph.output index, producer node)
    for (const GraphOutput& output : graph_.outputs()) {
      RANKOPT_ASSIGN_OR_RETURN(
          std::string tensor,
          TensorName(output.ref, absl::StrCat("graph output '", output.name, "'")));
      output_tensors_.insert(tensor);
      onnx::ValueInfoProto* info = out_graph()->add_output();
      auto src = src_info_.find(tensor);
      if (src != src_info_.end()) {
        *info = *src->second;
        continue;
      }
      const Node& producer = *graph_.FindNode(output.ref.node);
      if (producer.op == kPlaceholderOp || producer.op == kConstOp) {
        // Copy the type this export just wrote for the input or initializer.
        RANKOPT_ASSIGN_OR_RETURN(*info, KnownType(tensor));
        continue;
      }
      info->set_name(tensor);
      untyped.emplace_back(out_graph()->output_size() - 1, producer.name);
    }
    if (untyped.empty()) return absl::OkStatus();

    // ONNX's shape inference types the remaining outputs.
    absl::flat_hash_map<std::string, onnx::TypeProto> inferred = InferTypes();
    for (const auto& [index, producer] : untyped) {
      onnx::ValueInfoProto* info = out_graph()->mutable_output(index);
      auto it = inferred.find(info->name());
      if (it != inferred.end() && it->second.has_tensor_type() &&
          it->second.tensor_type().elem_type() != onnx::TensorProto::UNDEFINED) {
        *info->mutable_type() = it->second;
        continue;
      }
      return absl::FailedPreconditionError(
          absl::StrCat("cannot export to ONNX: the type of graph output '", info->name(),
                       "' (from node '", producer,
                       "') is unknown and ONNX shape inference could not determine it; ONNX "
                       "requires a type on every graph output"));
    }
    return absl::OkStatus();
  }

  // The ValueInfo of an exported graph input or initializer named `tensor`.
  absl::StatusOr<onnx::ValueInfoProto> KnownType(const std::string& tensor) {
    for (const onnx::ValueInfoProto& input : out_graph()->input()) {
      if (input.name() == tensor) return input;
    }
    for (const onnx::TensorProto& init : out_graph()->initializer()) {
      if (init.name() != tensor) continue;
      onnx::ValueInfoProto info;
      info.set_name(tensor);
      onnx::TypeProto::Tensor* type = info.mutable_type()->mutable_tensor_type();
      type->set_elem_type(init.data_type());
      type->mutable_shape();
      for (int64_t d : init.dims()) type->mutable_shape()->add_dim()->set_dim_value(d);
      return info;
    }
    return absl::InternalError(absl::StrCat("exported tensor '", tensor, "' has no type"));
  }

  // Types ONNX shape inference derives for the model built so far (empty on failure).
  absl::flat_hash_map<std::string, onnx::TypeProto> InferTypes() {
    absl::flat_hash_map<std::string, onnx::TypeProto> types;
    onnx::ModelProto copy = model_;
    try {
      onnx::shape_inference::InferShapes(copy);
    } catch (const std::exception&) {
      return types;  // partial results are not kept; the caller reports the untyped output
    }
    for (const onnx::ValueInfoProto& info : copy.graph().value_info()) {
      if (info.has_type()) types.try_emplace(info.name(), info.type());
    }
    for (const onnx::ValueInfoProto& info : copy.graph().output()) {
      if (info.has_type()) types.try_emplace(info.name(), info.type());
    }
    return types;
  }

  // Keeps the source's value_info for intermediate tensors that still exist.
  void AddValueInfo() {
    const onnx::GraphProto* src = src_graph();
    if (src == nullptr) return;
    absl::flat_hash_set<std::string> intermediates;
    for (const onnx::NodeProto& node : out_graph()->node()) {
      for (const std::string& t : node.output()) intermediates.insert(t);
    }
    for (const onnx::ValueInfoProto& info : src->value_info()) {
      if (intermediates.contains(info.name()) && !output_tensors_.contains(info.name())) {
        *out_graph()->add_value_info() = info;
      }
    }
  }

  // Passes may add ops of a domain the source never imported; declare it (version 1).
  void AddMissingOpsets() {
    absl::flat_hash_set<std::string> declared;
    for (const onnx::OperatorSetIdProto& opset : model_.opset_import()) {
      declared.insert(IsDefaultDomain(opset.domain()) ? "" : opset.domain());
    }
    for (const onnx::NodeProto& node : out_graph()->node()) {
      std::string domain = IsDefaultDomain(node.domain()) ? "" : node.domain();
      if (!declared.insert(domain).second) continue;
      onnx::OperatorSetIdProto* opset = model_.add_opset_import();
      opset->set_domain(domain);
      opset->set_version(domain.empty() ? kDefaultOpset : 1);
    }
  }

  int64_t NewInputKey() { return std::numeric_limits<int>::max() + next_new_input_++; }

  const Graph& graph_;
  const OnnxSourceModel* source_;
  onnx::ModelProto model_;
  std::vector<std::vector<std::string>> tensor_names_;  // per IR node: output tensor names
  absl::flat_hash_map<std::string, int> src_input_index_;
  absl::flat_hash_map<std::string, const onnx::ValueInfoProto*> src_info_;
  absl::flat_hash_set<std::string> output_tensors_;
  int64_t next_new_input_ = 0;
};

}  // namespace

absl::StatusOr<onnx::ModelProto> OnnxModelFromGraph(const Graph& graph) {
  return Exporter(graph).Run();
}

absl::Status ExportOnnxFile(const Graph& graph, const std::string& path) {
  RANKOPT_ASSIGN_OR_RETURN(onnx::ModelProto model, OnnxModelFromGraph(graph));
  RANKOPT_RETURN_IF_ERROR(WriteOnnxExternalData(graph, path, &model));
  std::string bytes;
  if (!model.SerializeToString(&bytes)) {
    return absl::ResourceExhaustedError(
        absl::StrCat(path, ": cannot serialize the ONNX model (", model.ByteSizeLong(),
                     " bytes; protobuf files are limited to 2 GiB)"));
  }
  return WriteStringToFile(path, bytes);
}

absl::Status CheckOnnxModel(const onnx::ModelProto& model) {
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("ONNX checker: ", e.what()));
  }
  return absl::OkStatus();
}

}  // namespace rankopt
