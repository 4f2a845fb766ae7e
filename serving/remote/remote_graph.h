// Remote embedding tables in a graph: which tables can move to a Redis Cluster, the rewrite that
// moves them (the package then names them instead of carrying them), and the description of a
// graph's remote tables that serving reads back.
//
// A table can move when every node that reads it is a _RankoptEmbeddingLookup/Bag (input 0) whose
// ids come from graph inputs through ops that only move or select ids (Identity, Reshape,
// Squeeze, Unsqueeze, ExpandDims, Flatten, Transpose, Slice, StridedSlice, Gather data, Tile,
// Concat, _RankoptRequestRow, and Cast to int32/int64). Then the ids a request can look up are a
// subset of the values of those inputs, so serving can fetch every row a request needs in one
// batch before the graph runs. The rewrite replaces the table constant T by two Placeholders,
// "T/remote_rows" ([k, dim] float32 or [k, row_bytes] uint8) and "T/remote_ids" ([k] int64),
// and its readers by _RankoptRemoteEmbeddingLookup/Bag (graph/kernels/embedding/embedding_kernels.h).
// The rows Placeholder carries the table's identity as attrs: remote_table (T), remote_key_prefix,
// table_dtype, table_dim, table_rows, table_xxh64, remote_redis (the cluster it was published to).
//
// Keys: row `id` of table T of model M version V is "rankopt:M:V:T:<decimal id>", each of M, V, T
// with '%', ':', '{', '}', '*', '?', '[', ']', '\\' and whitespace percent-encoded (no hash tags: the
// rows of one table spread over every slot); the table's markers are "rankopt:M:V:T:#ready" (written
// last by publish: "dtype rows dim xxh64") and "rankopt:M:V:T:#progress" (rows published so far).
#ifndef RANKOPT_SERVING_REMOTE_REMOTE_GRAPH_H_
#define RANKOPT_SERVING_REMOTE_REMOTE_GRAPH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/dtype.h"
#include "core/tensor.h"
#include "embedding/table_view.h"
#include "graph/ir/graph.h"

namespace rankopt {

// A graph input whose values are (a superset of) some lookup's ids.
struct RemoteIdSource {
  std::string input;  // the Placeholder's feed name
  // The narrowest cast on the way (kInt32 truncates as the Cast kernel does), or kInt64.
  DType cast = DType::kInt64;
  bool wrap_negative_ids = false;  // an ONNX Gather's negative ids count from the end
};

struct RemoteTableDesc {
  std::string table;       // the table constant's name in the local graph
  std::string key_prefix;  // "rankopt:M:V:T:"; row id's key is key_prefix + decimal id
  TableDType dtype = TableDType::kFloat32;
  int64_t rows = 0;
  int64_t dim = 0;
  size_t row_bytes = 0;
  uint64_t xxh64 = 0;        // of the rows' bytes, rows * row_bytes, in row order
  std::string redis;         // the cluster it was published to ("HOST:PORT,..."); may be empty
  std::string rows_input;    // the Placeholders that feed a request's rows and their ids
  std::string ids_input;
  std::vector<RemoteIdSource> sources;

  // "fp32 1000 16 0123456789abcdef": what the #ready marker holds.
  std::string ReadyMarker() const;
};

// Percent-encodes a key component (see above).
std::string EscapeKeyComponent(absl::string_view name);
// "rankopt:M:V:T:".
std::string RemoteKeyPrefix(absl::string_view model, absl::string_view version,
                            absl::string_view table);
// "rankopt:M:V:*" with SCAN MATCH's glob characters escaped: every key of a version.
std::string RemoteVersionPattern(absl::string_view model, absl::string_view version);

// A table of a local graph that can move, with its bytes.
struct RemotableTable {
  RemoteTableDesc desc;  // rows_input / ids_input / redis not set yet
  Tensor value;          // the constant (shares its bytes)
};

// The tables of `graph` (a local package's) that can move, among `names` (empty: all), in graph
// order; `skipped` gets one line per table that cannot, saying why. Errors: a name in `names`
// that is not a table of the graph.
absl::StatusOr<std::vector<RemotableTable>> FindRemotableTables(
    const Graph& graph, absl::string_view model, absl::string_view version,
    const std::vector<std::string>& names, std::vector<std::string>* skipped);

// Rewrites `graph` so that `tables` (from FindRemotableTables on it) are remote, published to
// `redis`. Errors: a table no longer in the graph.
absl::Status MakeTablesRemote(const std::vector<RemotableTable>& tables, absl::string_view redis,
                              Graph* graph);

// The remote tables of a graph (rewritten above), with their id sources traced. Errors: a rows
// Placeholder with missing or bad attrs, a remote lookup whose ids cannot be traced.
absl::StatusOr<std::vector<RemoteTableDesc>> DescribeRemoteTables(const Graph& graph);

}  // namespace rankopt

#endif  // RANKOPT_SERVING_REMOTE_REMOTE_GRAPH_H_
