// PyTorch's nn.EmbeddingBag as the TorchScript ONNX exporter writes it (opset 11+,
// torch/onnx/symbolic_opset11.py embedding_bag): a Loop over the bags,
//
//   offsets_ends = Slice(offsets, starts=[1], ends=[INT64_MAX], axes=[0], steps=[1])
//   Loop(M = Gather(Shape(offsets_ends), 0), cond = true) body(i, cond):
//     start = Unsqueeze(Gather(offsets, i), [0]); end = Unsqueeze(Gather(offsets_ends, i), [0])
//     rows  = Gather(weight, Slice(indices, start, end, axes=[0]))
//     [rows = Mul(rows, Unsqueeze(Slice(per_sample_weights, start, end, [0]), [1]))]
//     -> cond (Cast to bool of a true constant), Reduce{Sum,Mean,Max}(rows, axes=[0], keepdims=0)
//
// and as torch 2.x's dynamo exporter writes it (onnxscript's aten_embedding_bag, sum or mean):
//
//   rows    = Mul(Gather(weight, ids), Unsqueeze(per_sample_weights, [1]))   (ones when unset)
//   offsets = Concat(starts, Shape(ids));  bags = Size(starts)
//   Loop("", Less(0, bags), 0, SequenceEmpty()) body(iter, cond, i, seq):
//     p = Reshape(i, [-1]); start = Slice(offsets, p, p + 1); end = Slice(offsets, p + 1, p + 2)
//     row = If(Equal(start, end), zeros [1, dim],
//              Reduce{Sum,Mean}(Slice(rows, start, end), axes [0], keepdims 1))
//     -> Less(i + 1, bags), i + 1, SequenceInsert(seq, row)
//   ConcatFromSequence(the Loop's sequence, axis 0)   (the bags' [B, dim] rows)
//
// The importer then makes the ConcatFromSequence an Identity of the bag, whose output stands for
// the sequence. That form's max pools an empty bag to zeros, not -inf: the node gets attr
// empty_is_zero = 1, which the exporter cannot write back as the TorchScript Loop (an error).
// Mean's and max's last bag is the exporter's own branch, ending at len(ids).
//
// In both, `offsets` already holds the last offset (the exporter appends len(indices) unless the
// model set include_last_offset). The importer rewrites such a Loop into one
// _RankoptEmbeddingBagOffsets(weight, indices, offsets[, per_sample_weights]) node, attr mode
// (graph/kernels/embedding/embedding_kernels.h states its semantics). The match checks
// structure, never names. Includes ONNX's generated headers: keep it out of IR users' headers.
#ifndef RANKOPT_GRAPH_ONNX_ONNX_EMBEDDING_BAG_H_
#define RANKOPT_GRAPH_ONNX_ONNX_EMBEDDING_BAG_H_

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rankopt {

inline constexpr absl::string_view kOnnxEmbeddingBagOp = "_RankoptEmbeddingBagOffsets";

// What a matched Loop computes: outer-graph tensor names and the pooling mode.
struct OnnxEmbeddingBagLoop {
  std::string weight;
  std::string indices;
  std::string offsets;             // bags + 1 entries
  std::string per_sample_weights;  // empty when the bag has none
  std::string mode;                // "sum", "mean" or "max"
  std::string sequence;            // the dynamo form: the Loop's sequence output; else empty
  bool empty_is_zero = false;      // an empty max bag is zeros (the dynamo form), not -inf
};

// Matches `loop` (a Loop node of `graph`) against the pattern above. On a mismatch, an
// InvalidArgument status whose message names the node and the condition that failed
// ("the body's node 'r' (ReduceL2) is not ReduceSum, ReduceMean or ReduceMax").
absl::StatusOr<OnnxEmbeddingBagLoop> MatchOnnxEmbeddingBagLoop(const onnx::GraphProto& graph,
                                                               const onnx::NodeProto& loop);

// The inverse, for the exporter: appends to `graph` the Loop above computing `bag` into tensor
// `output` at `opset` (11 or later; axes as inputs or attributes as the opset wants), naming
// every new node and tensor `prefix` + "/...". So an exported model stays standard ONNX.
absl::Status AppendOnnxEmbeddingBagLoop(const OnnxEmbeddingBagLoop& bag, const std::string& output,
                                        const std::string& prefix, int64_t opset,
                                        onnx::GraphProto* graph);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_ONNX_ONNX_EMBEDDING_BAG_H_
