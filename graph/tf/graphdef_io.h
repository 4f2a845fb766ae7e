// TensorFlow frozen GraphDef (.pb binary, .pbtxt text) <-> rankopt Graph.
//
// Import keeps the source GraphDef in the graph (TfGraphSource), so export of an unchanged graph
// writes the same bytes back: unchanged nodes and attributes reuse their original encoding.
//
// Example:
//   RANKOPT_ASSIGN_OR_RETURN(Graph graph, ImportGraphDefFile("model.pb"));
//   ... passes ...
//   RANKOPT_RETURN_IF_ERROR(ExportGraphDefFile(graph, "pruned.pb"));
#ifndef RANKOPT_GRAPH_TF_GRAPHDEF_IO_H_
#define RANKOPT_GRAPH_TF_GRAPHDEF_IO_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph/ir/graph.h"
#include "graph/tf/tensorflow_subset.pb.h"

namespace rankopt {

// A TF source model: the GraphDef whose node indices Node::source_index refers to.
class TfGraphSource : public SourceModel {
 public:
  virtual const tf::GraphDef& graph_def() const = 0;
};

// The source of a graph imported from a plain GraphDef.
class TfGraphDefSource : public TfGraphSource {
 public:
  explicit TfGraphDefSource(tf::GraphDef graph_def) : graph_def_(std::move(graph_def)) {}
  const tf::GraphDef& graph_def() const override { return graph_def_; }

 private:
  tf::GraphDef graph_def_;
};

// Reads a frozen GraphDef: text when the extension is .pbtxt/.pbtext/.txt, else binary (falling
// back to text when binary parsing fails and the bytes look like text). Records the format
// (kTfGraphDef or kTfGraphDefText) and validates the graph; errors name the file and node.
absl::StatusOr<Graph> ImportGraphDefFile(const std::string& path);

// How ImportGraphDefBytes reads its bytes.
enum class GraphDefEncoding {
  kDetect,  // binary, falling back to text when binary parsing fails and the bytes look like text
  kText,    // text format only
};

// ImportGraphDefFile of bytes already in memory (a model from a network store, a fuzzer):
// `origin` names them in errors, as the path does for a file.
absl::StatusOr<Graph> ImportGraphDefBytes(absl::string_view bytes, GraphDefEncoding encoding,
                                          absl::string_view origin = "GraphDef");

// Writes `graph` as a GraphDef: text when graph.format() is kTfGraphDefText, else binary.
// Graph-level fields (versions, library, unknown fields) come from the source when the graph
// was imported from TF.
absl::Status ExportGraphDefFile(const Graph& graph, const std::string& path);

// The Graph of an in-memory GraphDef: nodes in file order with source_index set, a copy of
// `graph_def` kept as the source. `origin` prefixes error messages (a file path, say).
// Does not call Graph::Validate() (callers that rewrite the graph first validate after).
absl::StatusOr<Graph> GraphFromGraphDef(const tf::GraphDef& graph_def,
                                        ModelFormat format = ModelFormat::kTfGraphDef,
                                        absl::string_view origin = "GraphDef");

// The GraphDef of `graph`. Nodes with a source record (source_index >= 0 and a TfGraphSource)
// start from it, so unchanged nodes encode byte-identically; others are encoded from scratch.
absl::StatusOr<tf::GraphDef> GraphDefFromGraph(const Graph& graph);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_TF_GRAPHDEF_IO_H_
