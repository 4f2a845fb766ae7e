// What static analysis knows of one op besides its kernel: its shape function and its FLOP
// count (OpInfo). A kernel family registers both beside its kernels
// (KernelRegistry::RegisterOpInfo), so an op's knowledge sits in one file.
//
// Example (in a family's Register*Kernels):
//   RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo("Relu", {SameShapeAsInput, flops::Elementwise}));
#ifndef RANKOPT_GRAPH_OPS_OP_INFO_H_
#define RANKOPT_GRAPH_OPS_OP_INFO_H_

#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"
#include "core/shape.h"
#include "graph/ir/graph.h"
#include "graph/ops/shape_context.h"

namespace rankopt {

// How one node's FLOPs came out.
enum class FlopsKind {
  kCounted,       // flops holds the estimate (it may be 0 for an empty tensor)
  kDataMovement,  // Reshape, Concat, Gather, Identity, Const, Placeholder, Shape, ...: 0 FLOPs
  kUncounted,     // an op the model does not cover, or a shape inference did not resolve
};

struct NodeFlops {
  FlopsKind kind = FlopsKind::kUncounted;
  int64_t flops = 0;
};

// Infers the outputs of `n` (a default-domain node) from its inputs in `ctx`. Never fails: what
// it cannot tell stays unknown.
using ShapeFn = void (*)(const Node& n, ShapeContext* ctx);
// The FLOPs of `n` given the inferred shapes of the whole graph.
using FlopsFn = NodeFlops (*)(const Node& n, const ShapeMap& shapes);

// One op's analysis entry, the same in every op set (the functions read the node's format).
// Either function may be null: no shape function leaves the outputs unknown, no FLOP function
// leaves the node uncounted.
struct OpInfo {
  ShapeFn shape = nullptr;
  FlopsFn flops = nullptr;
};

// FLOP counting helpers and the common FLOP functions (the model is stated in
// graph/analysis/flops.h).
namespace flops {

// a * b and a + b; nullopt when either is unknown or on overflow.
std::optional<int64_t> Mul(std::optional<int64_t> a, std::optional<int64_t> b);
std::optional<int64_t> Add(std::optional<int64_t> a, std::optional<int64_t> b);
// The inferred shape of input i (unknown when absent).
const Shape& InputShape(const Node& n, size_t i, const ShapeMap& shapes);
// The element count of output 0, when known.
std::optional<int64_t> OutputElements(const Node& n, const ShapeMap& shapes);
// An integer or bool attribute that is set and non-zero.
bool AttrTrue(const Node& n, absl::string_view name);
// The contracting dimension of a matmul's left operand.
std::optional<int64_t> ContractingDim(const Shape& a, bool transposed);
// kCounted with `flops`, or kUncounted when it is unknown.
NodeFlops Counted(std::optional<int64_t> flops);

// 0 FLOPs: the op only moves, reshapes or creates data.
NodeFlops DataMovement(const Node& n, const ShapeMap& shapes);
// 1 per output element.
NodeFlops Elementwise(const Node& n, const ShapeMap& shapes);
// 1 per input element.
NodeFlops Reduction(const Node& n, const ShapeMap& shapes);

}  // namespace flops

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_OPS_OP_INFO_H_
