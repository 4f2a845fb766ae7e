#include "graph/tf/graphdef_io.h"

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/unknown_field_set.h"
#include "graph/tf/tf_convert.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

// Keeps the first text-format parse error instead of letting protobuf log it to stderr.
class FirstErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (error_.empty())
      error_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ", message);
  }
  void AddWarning(int, int, const std::string&) override {}
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

bool HasTextExtension(absl::string_view path) {
  return absl::EndsWith(path, ".pbtxt") || absl::EndsWith(path, ".pbtext") ||
         absl::EndsWith(path, ".txt");
}

// Text-format protos are printable ASCII or UTF-8 with whitespace; binary ones have control bytes.
bool LooksLikeText(absl::string_view bytes) {
  absl::string_view head = bytes.substr(0, 4096);
  for (unsigned char c : head) {
    if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') return false;
    if (c == 0x7f) return false;
  }
  return !head.empty();
}

absl::Status ParseText(absl::string_view text, google::protobuf::Message* message,
                       std::string* error) {
  google::protobuf::TextFormat::Parser parser;
  FirstErrorCollector collector;
  parser.RecordErrorsTo(&collector);
  if (text.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    *error = "file too large for text format";
    return absl::InvalidArgumentError(*error);
  }
  if (!parser.ParseFromString(std::string(text), message)) {
    *error = collector.error().empty() ? "parse failed" : collector.error();
    return absl::InvalidArgumentError(*error);
  }
  return absl::OkStatus();
}

absl::StatusOr<Graph> ConvertNodes(const tf::GraphDef& graph_def, ModelFormat format,
                                   absl::string_view origin) {
  Graph graph(format);
  for (int i = 0; i < graph_def.node_size(); ++i) {
    absl::StatusOr<Node> node = NodeFromTf(graph_def.node(i), i);
    if (!node.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(origin, ": ", node.status().message()));
    }
    absl::Status added = graph.AddNode(*std::move(node));
    if (!added.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(origin, ": ", added.message()));
    }
  }
  return graph;
}

}  // namespace

absl::StatusOr<Graph> ImportGraphDefFile(const std::string& path) {
  RANKOPT_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  return ImportGraphDefBytes(
      bytes, HasTextExtension(path) ? GraphDefEncoding::kText : GraphDefEncoding::kDetect, path);
}

absl::StatusOr<Graph> ImportGraphDefBytes(absl::string_view bytes, GraphDefEncoding encoding,
                                          absl::string_view origin) {
  if (bytes.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        origin, ": empty file; expected a frozen TensorFlow GraphDef (.pb or .pbtxt)"));
  }
  // Parse failures become our Status; protobuf's own log lines (bad UTF-8, ...) would only be
  // noise on stderr.
  google::protobuf::LogSilencer silence_protobuf;
  tf::GraphDef graph_def;
  ModelFormat format = ModelFormat::kTfGraphDef;
  std::string text_error;
  if (encoding == GraphDefEncoding::kText) {
    format = ModelFormat::kTfGraphDefText;
    if (!ParseText(bytes, &graph_def, &text_error).ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ": not a TensorFlow GraphDef in text format (", text_error,
                       "); expected a frozen graph .pbtxt"));
    }
  } else if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
             !graph_def.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    graph_def.Clear();
    if (!LooksLikeText(bytes) || !ParseText(bytes, &graph_def, &text_error).ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ": not a TensorFlow GraphDef (protobuf parse failed",
                       text_error.empty() ? "" : absl::StrCat("; as text: ", text_error),
                       "); expected a frozen graph .pb or .pbtxt"));
    }
    format = ModelFormat::kTfGraphDefText;
  }
  if (graph_def.node_size() == 0) {
    // Stray bytes can parse as a GraphDef made only of unknown fields.
    return absl::InvalidArgumentError(absl::StrCat(
        origin, ": not a TensorFlow GraphDef (no nodes); expected a frozen graph .pb or .pbtxt"));
  }
  RANKOPT_ASSIGN_OR_RETURN(Graph graph, ConvertNodes(graph_def, format, origin));
  graph.set_source(std::make_shared<TfGraphDefSource>(std::move(graph_def)));
  absl::Status valid = graph.Validate();
  if (!valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": ", valid.message()));
  }
  return graph;
}

absl::StatusOr<Graph> GraphFromGraphDef(const tf::GraphDef& graph_def, ModelFormat format,
                                        absl::string_view origin) {
  RANKOPT_ASSIGN_OR_RETURN(Graph graph, ConvertNodes(graph_def, format, origin));
  graph.set_source(std::make_shared<TfGraphDefSource>(graph_def));
  return graph;
}

absl::StatusOr<tf::GraphDef> GraphDefFromGraph(const Graph& graph) {
  const auto* source = dynamic_cast<const TfGraphSource*>(graph.source().get());
  tf::GraphDef out;
  if (source != nullptr) {
    const tf::GraphDef& original = source->graph_def();
    if (original.has_versions()) *out.mutable_versions() = original.versions();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    out.set_version(original.version());  // deprecated by TF, still written back unchanged
#pragma GCC diagnostic pop
    if (original.has_library()) *out.mutable_library() = original.library();
    out.GetReflection()->MutableUnknownFields(&out)->MergeFrom(
        original.GetReflection()->GetUnknownFields(original));
  }
  out.mutable_node()->Reserve(static_cast<int>(graph.num_nodes()));
  for (const Node& node : graph.nodes()) {
    const tf::NodeDef* original = nullptr;
    if (source != nullptr && node.source_index >= 0 &&
        node.source_index < source->graph_def().node_size()) {
      original = &source->graph_def().node(node.source_index);
    }
    RANKOPT_ASSIGN_OR_RETURN(*out.add_node(), NodeToTf(node, original));
  }
  return out;
}

absl::Status ExportGraphDefFile(const Graph& graph, const std::string& path) {
  RANKOPT_ASSIGN_OR_RETURN(tf::GraphDef graph_def, GraphDefFromGraph(graph));
  std::string bytes;
  if (graph.format() == ModelFormat::kTfGraphDefText) {
    if (!google::protobuf::TextFormat::PrintToString(graph_def, &bytes)) {
      return absl::InternalError(absl::StrCat(path, ": text serialization failed"));
    }
  } else if (!graph_def.SerializeToString(&bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": GraphDef serialization failed (over protobuf's 2 GiB limit?)"));
  }
  return WriteStringToFile(path, bytes);
}

}  // namespace rankopt
