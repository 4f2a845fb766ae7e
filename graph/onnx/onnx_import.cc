// ONNX ModelProto -> Graph. The mapping is described in onnx_io.h and graph.h.
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <string>
#include <utility>

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

absl::Status CheckModelHeader(const onnx::ModelProto& model, absl::string_view where) {
  if (model.ir_version() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": not an ONNX model (ir_version is ", model.ir_version(),
                     "; every ONNX model sets a positive ir_version)"));
  }
  if (!model.has_graph()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": the ONNX model has no graph (ModelProto.graph is missing)"));
  }
  bool found_default = false;
  for (const onnx::OperatorSetIdProto& opset : model.opset_import()) {
    if (!IsDefaultDomain(opset.domain())) continue;
    found_default = true;
    if (opset.version() < kMinOnnxOpset || opset.version() > kMaxOnnxOpset) {
      return absl::UnimplementedError(absl::StrCat(where, ": opset ", opset.version(),
                                                   " of domain 'ai.onnx' is not supported; rankopt "
                                                   "reads opsets ",
                                                   kMinOnnxOpset, " to ", kMaxOnnxOpset));
    }
  }
  if (!found_default) {
    for (const onnx::NodeProto& node : model.graph().node()) {
      if (IsDefaultDomain(node.domain())) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": node '", node.name(), "' (", node.op_type(),
                         ") is in domain 'ai.onnx' but the model imports no opset for it "
                         "(ModelProto.opset_import); expected an entry with domain '' and version ",
                         kMinOnnxOpset, " to ", kMaxOnnxOpset));
      }
    }
  }
  if (model.graph().sparse_initializer_size() > 0) {
    return absl::UnimplementedError(absl::StrCat(
        where, ": the graph has ", model.graph().sparse_initializer_size(),
        " sparse initializers, which rankopt does not support; densify them before import"));
  }
  return absl::OkStatus();
}

// Builds the graph from `source->model()`, filling the source's per-record caches.
// `external` resolves initializers kept in side files; null when the model has no directory (bytes
// in memory), where such initializers are an error.
absl::StatusOr<Graph> BuildGraph(std::shared_ptr<OnnxSourceModel> source, absl::string_view where,
                                 OnnxExternalData* external) {
  const onnx::GraphProto& g = source->model().graph();
  Graph graph(ModelFormat::kOnnx);
  for (const onnx::OperatorSetIdProto& opset : source->model().opset_import()) {
    if (IsDefaultDomain(opset.domain())) graph.set_onnx_opset(opset.version());
  }

  // Tensor name -> its producer, and a description of that producer for error messages.
  absl::flat_hash_map<std::string, std::pair<TensorRef, std::string>> producers;
  auto add_producer = [&](const std::string& tensor, TensorRef ref,
                          std::string who) -> absl::Status {
    auto [it, inserted] = producers.try_emplace(tensor, std::move(ref), who);
    if (inserted) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": tensor '", tensor, "' is produced twice, by ", it->second.second,
                     " and by ", who, "; every ONNX tensor has exactly one producer"));
  };

  absl::flat_hash_set<std::string> initializer_names;
  for (const onnx::TensorProto& init : g.initializer()) initializer_names.insert(init.name());

  for (int i = 0; i < g.input_size(); ++i) {
    const onnx::ValueInfoProto& input = g.input(i);
    if (input.name().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": graph input #", i, " has an empty name"));
    }
    // Before IR version 4 every initializer is also listed as a graph input; the Const wins.
    if (initializer_names.contains(input.name())) continue;
    RANKOPT_ASSIGN_OR_RETURN(
        OnnxTensorType type,
        TensorTypeFromOnnx(input, absl::StrCat(where, ": graph input '", input.name(), "'")));
    RANKOPT_RETURN_IF_ERROR(
        add_producer(input.name(), TensorRef{input.name(), 0}, absl::StrCat("graph input #", i)));
    Node node;
    node.name = input.name();
    node.op = std::string(kPlaceholderOp);
    node.attrs.Set("dtype", type.dtype);
    node.attrs.Set("shape", type.shape);
    node.output_names = {input.name()};
    node.source_index = i;
    RANKOPT_RETURN_IF_ERROR(graph.AddNode(std::move(node)));
  }

  source->initializer_values.reserve(g.initializer_size());
  for (int i = 0; i < g.initializer_size(); ++i) {
    const onnx::TensorProto& init = g.initializer(i);
    if (init.name().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": initializer #", i, " has an empty name"));
    }
    const std::string what = absl::StrCat(where, ": initializer '", init.name(), "'");
    if (IsOnnxExternal(init) && external == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          what,
          " keeps its data in an external file, which is read relative to the model's file: "
          "import the model from its path"));
    }
    RANKOPT_ASSIGN_OR_RETURN(Tensor value, IsOnnxExternal(init) ? external->Load(init, what)
                                                                : TensorFromOnnx(init, what));
    RANKOPT_RETURN_IF_ERROR(
        add_producer(init.name(), TensorRef{init.name(), 0}, absl::StrCat("initializer #", i)));
    source->initializer_values.push_back(value);
    Node node;
    node.name = init.name();
    node.op = std::string(kConstOp);
    node.attrs.Set("value", std::move(value));
    node.output_names = {init.name()};
    node.source_index = i;
    RANKOPT_RETURN_IF_ERROR(graph.AddNode(std::move(node)));
  }

  // PyTorch's nn.EmbeddingBag exports as a Loop (onnx_embedding_bag.h): each becomes one
  // _RankoptEmbeddingBagOffsets node; any other Loop is an error saying why it did not match.
  absl::flat_hash_map<int, OnnxEmbeddingBagLoop> bags;
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& proto = g.node(i);
    if (proto.op_type() != "Loop" || !IsDefaultDomain(proto.domain())) continue;
    absl::StatusOr<OnnxEmbeddingBagLoop> bag = MatchOnnxEmbeddingBagLoop(g, proto);
    if (!bag.ok()) {
      return absl::UnimplementedError(absl::StrCat(
          where,
          ": ONNX Loop is not supported except as PyTorch's nn.EmbeddingBag export (a Loop "
          "over the bags pooling rows of the table with ReduceSum/Mean/Max, as the "
          "TorchScript or the dynamo exporter writes it), which this one is not: ",
          bag.status().message()));
    }
    bags.emplace(i, *std::move(bag));
  }
  // The dynamo form's ConcatFromSequence of a bag's rows: an Identity of the bag node.
  absl::flat_hash_set<std::string> bag_sequences;
  for (const auto& [index, bag] : bags) {
    if (!bag.sequence.empty()) bag_sequences.insert(bag.sequence);
  }
  absl::flat_hash_set<int> sequence_concats;
  for (int i = 0; i < g.node_size() && !bag_sequences.empty(); ++i) {
    const onnx::NodeProto& proto = g.node(i);
    if (proto.op_type() == "ConcatFromSequence" && proto.input_size() == 1 &&
        bag_sequences.contains(proto.input(0))) {
      sequence_concats.insert(i);
    }
  }

  // Name every op node first, so inputs may refer to producers listed later (the cycle check
  // below reports real cycles).
  source->node_names.reserve(g.node_size());
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& proto = g.node(i);
    std::string name = proto.name();
    if (name.empty() || graph.FindNode(name) != nullptr) {
      const std::string base =
          absl::StrCat(proto.op_type().empty() ? "node" : proto.op_type(), "_", i);
      name = base;
      for (int suffix = 1; graph.FindNode(name) != nullptr; ++suffix) {
        name = absl::StrCat(base, "_", suffix);
      }
    }
    if (proto.op_type().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": node #", i, " ('", proto.name(), "') has an empty op_type"));
    }
    auto bag = bags.find(i);
    const bool dynamo_bag = bag != bags.end() && !bag->second.sequence.empty();
    for (int port = 0; port < proto.output_size(); ++port) {
      if (proto.output(port).empty()) continue;  // an omitted optional output
      // A dynamo-form bag's one output stands for the Loop's sequence; the final counter (its
      // other output) has no reader, which the match checked.
      if (dynamo_bag && proto.output(port) != bag->second.sequence) continue;
      const int our_port = dynamo_bag ? 0 : port;
      RANKOPT_RETURN_IF_ERROR(
          add_producer(proto.output(port), TensorRef{name, our_port},
                       absl::StrCat("node '", name, "' (", proto.op_type(), ") output ", port)));
    }
    Node node;
    node.name = name;
    node.op = proto.op_type();
    node.domain = IsDefaultDomain(proto.domain()) ? "" : proto.domain();
    node.output_names.assign(proto.output().begin(), proto.output().end());
    node.source_index = i;
    if (bag != bags.end()) {
      node.op = std::string(kOnnxEmbeddingBagOp);
      node.source_index = -1;  // a new node: the exporter must not reuse the Loop's record
      if (dynamo_bag) node.output_names = {bag->second.sequence};
    }
    if (sequence_concats.contains(i)) {
      node.op = "Identity";
      node.source_index = -1;
    }
    source->node_names.push_back(name);
    RANKOPT_RETURN_IF_ERROR(graph.AddNode(std::move(node)));
  }

  source->node_attrs.reserve(g.node_size());
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& proto = g.node(i);
    Node* node = graph.FindMutableNode(source->node_names[i]);
    const std::string node_where =
        absl::StrCat(where, ": node '", node->name, "' (", proto.op_type(), ")");
    std::vector<std::string> input_names(proto.input().begin(), proto.input().end());
    auto bag = bags.find(i);
    if (bag != bags.end()) {
      input_names = {bag->second.weight, bag->second.indices, bag->second.offsets};
      if (!bag->second.per_sample_weights.empty()) {
        input_names.push_back(bag->second.per_sample_weights);
      }
      node->attrs.Set("mode", bag->second.mode);
      if (bag->second.empty_is_zero) node->attrs.Set("empty_is_zero", int64_t{1});
    }
    node->inputs.reserve(input_names.size());
    for (size_t k = 0; k < input_names.size(); ++k) {
      const std::string& tensor = input_names[k];
      if (tensor.empty()) {
        node->inputs.emplace_back();  // an omitted optional input
        continue;
      }
      auto it = producers.find(tensor);
      if (it == producers.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(node_where, " input ", k, " reads tensor '", tensor,
                         "', which no graph input, initializer or node produces"));
      }
      node->inputs.push_back(it->second.first);
    }
    for (const onnx::AttributeProto& attr : proto.attribute()) {
      if (bag != bags.end() || sequence_concats.contains(i)) break;
      if (node->attrs.Find(attr.name()) != nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(node_where, " has attribute '", attr.name(), "' twice"));
      }
      RANKOPT_ASSIGN_OR_RETURN(AttrValue value, AttrFromOnnx(attr, node_where));
      node->attrs.Set(attr.name(), std::move(value));
    }
    source->node_attrs.push_back(node->attrs);
  }

  for (int i = 0; i < g.output_size(); ++i) {
    const std::string& tensor = g.output(i).name();
    auto it = producers.find(tensor);
    if (it == producers.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": graph output #", i, " '", tensor,
                       "' is not produced by any graph input, initializer or node"));
    }
    graph.mutable_outputs()->push_back(GraphOutput{tensor, it->second.first});
  }

  absl::Status valid = graph.Validate();
  if (!valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", valid.message()));
  }
  graph.set_source(std::move(source));
  return graph;
}

absl::Status ParseOnnxModel(absl::string_view bytes, absl::string_view where,
                            onnx::ModelProto* model) {
  if (bytes.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": not an ONNX model (protobuf parse failed: the file is empty)"));
  }
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !model->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": not an ONNX model (protobuf parse failed)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Graph> GraphFromOwnedModel(onnx::ModelProto model, absl::string_view where,
                                          OnnxExternalData* external) {
  RANKOPT_RETURN_IF_ERROR(CheckModelHeader(model, where));
  return BuildGraph(std::make_shared<OnnxSourceModel>(std::move(model)), where, external);
}

}  // namespace

absl::StatusOr<Graph> GraphFromOnnxModel(const onnx::ModelProto& model, absl::string_view where) {
  RANKOPT_RETURN_IF_ERROR(CheckModelHeader(model, where));
  return BuildGraph(std::make_shared<OnnxSourceModel>(model), where, nullptr);
}

absl::StatusOr<Graph> ImportOnnxFile(const std::string& path) {
  RANKOPT_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  onnx::ModelProto model;
  RANKOPT_RETURN_IF_ERROR(ParseOnnxModel(bytes, path, &model));
  bytes.clear();
  bytes.shrink_to_fit();
  OnnxExternalData external(std::filesystem::path(path).parent_path().string());
  return GraphFromOwnedModel(std::move(model), path, &external);
}

absl::StatusOr<Graph> ImportOnnxBytes(absl::string_view bytes, absl::string_view where) {
  onnx::ModelProto model;
  RANKOPT_RETURN_IF_ERROR(ParseOnnxModel(bytes, where, &model));
  return GraphFromOwnedModel(std::move(model), where, nullptr);
}

}  // namespace rankopt
