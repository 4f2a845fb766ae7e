// Graph <-> the manifest's GraphProto (serving/package/package_manifest.proto). Internal to the
// model package: services go through serving/package/model_package.h.
//
// Encoding sets fixed-width tensors of kPackageBlobMinBytes or more aside as blobs (the caller
// writes them after the manifest and fills in the BlobProto entries); decoding takes the blobs as
// tensors the caller has already checked against their BlobProto entries and mapped (views).
#ifndef RANKOPT_SERVING_PACKAGE_GRAPH_CODEC_H_
#define RANKOPT_SERVING_PACKAGE_GRAPH_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/dtype.h"
#include "core/tensor.h"
#include "graph/ir/graph.h"
#include "serving/package/package_manifest.pb.h"

namespace rankopt {

// A tensor set aside as a blob by EncodeGraph: blob i of the package.
struct EncodedBlob {
  std::string name;  // "node/attr", "node/attr[2]" for a tensor list element
  Tensor tensor;     // fixed-width; shares the graph's storage (no copy)
};

// Encodes `graph` into `out` (cleared first) and appends its blob tensors to `blobs` (cleared
// first); `out`'s tensors refer to blobs by index. A tensor stored in several attributes (copies
// sharing storage) becomes one blob. Errors: a value the format cannot hold (a Shape dim below
// -1, a tensor whose dtype cannot hold data), naming the node and attribute.
absl::Status EncodeGraph(const Graph& graph, package::GraphProto* out,
                         std::vector<EncodedBlob>* blobs);

struct DecodeGraphOptions {
  // Graphs with more nodes are rejected before any node is decoded.
  int64_t max_nodes = int64_t{1} << 20;
};

// Decodes `message`. `blobs[i]` is blob i (dtype and dims as its BlobProto says). Checks every
// enum, every dims list (non-negative, product fits int64), every inline byte size, every blob
// index and that the referencing tensor's dtype and dims equal the blob's, bool bytes are 0 or
// 1, attribute names are unique, references of graph outputs and signatures, and finally
// Graph::Validate. Errors name the node and attribute. Nodes get source_index -1.
absl::StatusOr<Graph> DecodeGraph(const package::GraphProto& message,
                                  absl::Span<const Tensor> blobs,
                                  const DecodeGraphOptions& options = {});

// DType <-> the file's DataType. FromDataType errors on numbers the file format does not define.
package::DataType ToDataType(DType dtype);
absl::StatusOr<DType> FromDataType(int value);

}  // namespace rankopt

#endif  // RANKOPT_SERVING_PACKAGE_GRAPH_CODEC_H_
