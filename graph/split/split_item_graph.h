// Splits an O2 graph (graph/passes/request_level.h) at its item-level boundary, so that a server
// can cache per-item results across requests:
//
//   item part:  the candidate-level inputs (the item features, one row per candidate) -> the
//               item-level tensors that the rest of the graph reads (the "boundary": ESMM's
//               `i @ W_i` per tower, DIN's candidate embeddings, ...), one row per candidate;
//   cross part: the rest of the graph, where every boundary tensor is a new graph input (a
//               Placeholder with the boundary's dtype and inferred shape, one row per candidate).
//
// Item-level tensors are those computed only from candidate-level graph inputs (every input that
// is not a whole request-level input; of a mixed [N, C] input only the columns a
// _RankoptSelectColumns takes) and constants through row-wise nodes (IsRowWiseNode): row r of
// each depends only on row r of the item inputs. A lookup into a remote table is item-level when
// its ids are: the table's fetched rows and ids (IsRemoteTableInput) are read whole by the item
// part, like a constant table, and are never among `item_inputs`. `item_inputs` says which bytes of a row the item
// part reads: equal bytes there mean an equal boundary row.
//
// To move the item half of a split first dense layer into the item part, each
// _RankoptFusedMatMul(i, W, runtime_bias, activation) whose `i` is item-level, `W` constant and
// bias not (the user half: split_first_dense.h) becomes, in both parts,
//
//   item part:  _RankoptFusedMatMul(i, W)                  (no bias, no activation)
//   cross part: activation(Add(that, runtime_bias))
//
// which computes the same bits: the GEMM kernel (graph/kernels/math/gemm.h) adds the bias to the
// finished FMA chain in one float add, and the fused activation is the element math of the
// activation kernels. Only none/relu/sigmoid/tanh activations are moved.
//
// Running the item part (on any subset of the rows, in any batch: the kernels it uses are
// row-deterministic) and feeding its rows to the cross part computes exactly what the whole graph
// computes, so the scores are bitwise equal.
//
// Example:
//   RANKOPT_ASSIGN_OR_RETURN(ItemGraphSplit split, SplitItemGraph(graph, request_inputs));
//   if (split.applicable) { plan split.item (outputs: the boundary) and split.cross }
#ifndef RANKOPT_GRAPH_SPLIT_SPLIT_ITEM_GRAPH_H_
#define RANKOPT_GRAPH_SPLIT_SPLIT_ITEM_GRAPH_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "graph/ir/graph.h"
#include "graph/passes/pass_options.h"

namespace rankopt {

// One tensor computed by the item part and read by the cross part.
struct ItemBoundary {
  TensorRef tensor;       // in the item part
  std::string item_name;  // the item part's output name (PlanOptions::outputs)
  std::string feed_name;  // the cross part's new input (its Placeholder's feed name)
  DType dtype = DType::kInvalid;
  Shape shape;  // inferred; leading dim -1 (candidates), every other dim known
};

struct ItemGraphSplit {
  // False: `note` says why (no item-level computation worth caching, an output that is
  // item-level, a boundary of unknown row shape, ...); the graphs are then empty.
  bool applicable = false;
  std::string note;
  Graph item{ModelFormat::kOnnx};   // outputs: the boundary, in `boundary` order
  Graph cross{ModelFormat::kOnnx};  // outputs: those of the source graph
  std::vector<ItemBoundary> boundary;
  // The source graph inputs the item part reads (feed names), in graph order: `columns` empty =
  // the whole row; else only those columns of each row of a [N, C] input.
  std::vector<RequestLevelInput> item_inputs;
  // First dense layers whose item half moved into the item part.
  int moved_layers = 0;
};

struct ItemSplitOptions {
  // Whether an item part that only reads tables (embedding lookups, gathers) is worth caching.
  // By default not: a cache lookup costs more than the table read it saves (measured with
  // bench/serving/serving_cache_bench.cc on DIN: 0.88-0.97x), so only an item part with a
  // product (MatMul, Gemm, _RankoptFusedMatMul) or a pooled bag is.
  bool cache_lookups = false;
};

// `request_inputs`: the graph's request-level inputs (as the O2 passes took them); an entry that
// is not a graph input is an error (NotFound). `outputs`: the tensors the cross part must produce
// (as Graph::ResolveTensor takes them; empty: the graph outputs). Not applicable when the item
// part would do no work worth caching (see ItemSplitOptions), when an output is item-level, or
// when a boundary tensor's row shape is unknown. Errors: a graph that does not validate or whose
// shapes do not infer.
absl::StatusOr<ItemGraphSplit> SplitItemGraph(const Graph& graph,
                                              const std::vector<RequestLevelInput>& request_inputs,
                                              const std::vector<std::string>& outputs = {},
                                              const ItemSplitOptions& options = {});

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_SPLIT_SPLIT_ITEM_GRAPH_H_
