// The interface of a shape function: what static inference knows about one tensor
// (InferredTensor), the context a shape function reads its inputs from and writes its outputs to
// (ShapeContext), and the shape arithmetic and attribute readers shape functions share
// (namespace shape_fn). Each kernel family registers its ops' shape functions beside its kernels
// (KernelRegistry::RegisterOpInfo); graph/analysis/shape_inference.cc walks the graph.
#ifndef RANKOPT_GRAPH_OPS_SHAPE_CONTEXT_H_
#define RANKOPT_GRAPH_OPS_SHAPE_CONTEXT_H_

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "graph/ir/graph.h"

namespace rankopt {

// What inference knows about one tensor.
struct InferredTensor {
  DType dtype = DType::kInvalid;  // kInvalid: unknown dtype
  Shape shape;                    // Shape(): unknown rank; Shape::kUnknownDim: unknown dimension
  // The tensor's value when it is known and small (at most kMaxInferredValueElements): constants,
  // and integer shape arithmetic (Shape -> StridedSlice -> Pack -> Reshape) computed from them.
  std::optional<Tensor> value;
};

// Larger constants are not carried as values (shape arithmetic never needs them).
inline constexpr int64_t kMaxInferredValueElements = 64;

// Every output port of every node, keyed by TensorRef{node, port}.
using ShapeMap = absl::flat_hash_map<TensorRef, InferredTensor>;

// The entry for `ref`, or a static unknown InferredTensor when `shapes` has none.
const InferredTensor& LookupInferred(const ShapeMap& shapes, const TensorRef& ref);

namespace shape_fn {

using Dims = std::vector<int64_t>;
inline constexpr int64_t kUnknownDim = Shape::kUnknownDim;
// Marks an unknown element of a partially known integer value.
inline constexpr int64_t kUnknownElem = std::numeric_limits<int64_t>::min();
// Ranks beyond this are treated as garbage from an untrusted file.
inline constexpr int64_t kMaxRank = 64;

// An integer tensor whose dims are known and whose elements may be partly unknown, so that
// Shape([?,50]) -> StridedSlice -> Pack(., 50) still yields the Reshape target [?,50].
struct IntValue {
  Dims dims;
  std::vector<int64_t> elems;

  bool FullyKnown() const {
    return std::none_of(elems.begin(), elems.end(), [](int64_t e) { return e == kUnknownElem; });
  }
};

// a op b, or nullopt on int64 overflow.
std::optional<int64_t> CheckedMul(int64_t a, int64_t b);
std::optional<int64_t> CheckedAdd(int64_t a, int64_t b);
std::optional<int64_t> CheckedSub(int64_t a, int64_t b);

// Dimension arithmetic where unknown (negative) operands or overflow give an unknown dim.
int64_t MulDims(int64_t a, int64_t b);
int64_t AddDims(int64_t a, int64_t b);

// Axis in [-rank, rank) -> [0, rank); nullopt when out of range.
std::optional<int> NormalizeAxis(int64_t axis, int64_t rank);

bool IsIntType(DType t);

// Negative dims become kUnknownDim; absurd ranks become unknown rank.
Shape Sanitize(const Shape& s);

// Numpy broadcasting; unknown rank when either side is unknown or the shapes are incompatible.
Shape Broadcast(const Shape& a, const Shape& b);

// Two views of one tensor: same rank, dims known from either; nullopt on a conflict.
std::optional<Shape> MergeShapes(const Shape& a, const Shape& b);

// The elements of an int32/int64 tensor of at most `max_elements`; nullopt otherwise.
std::optional<Dims> TensorInts(const Tensor& t, int64_t max_elements);

// Attributes (TF and ONNX spell the same idea with different value types); nullopt, false,
// "" or kInvalid when absent or of another type.
std::optional<int64_t> AttrInt(const Node& n, absl::string_view name);
bool AttrBool(const Node& n, absl::string_view name, bool default_value);
std::optional<Dims> AttrInts(const Node& n, absl::string_view name);
std::string AttrString(const Node& n, absl::string_view name);
DType AttrDType(const Node& n, absl::string_view name);

bool OneOf(absl::string_view op, std::initializer_list<absl::string_view> ops);

// True for a node imported from ONNX (ONNX nodes name their outputs).
inline bool IsOnnxNode(const Node& n) { return !n.output_names.empty(); }

}  // namespace shape_fn

// What a shape function sees while it infers one node: the inferred inputs (and their small
// integer values) and where its outputs go. Not thread-safe; one per inference walk.
class ShapeContext {
 public:
  using Dims = shape_fn::Dims;
  using IntValue = shape_fn::IntValue;

  // batch_size < 0 keeps unknown dims of graph inputs unknown.
  explicit ShapeContext(int64_t batch_size) : batch_size_(batch_size) {}

  int64_t batch_size() const { return batch_size_; }
  ShapeMap TakeMap() { return std::move(map_); }

  // Input i of `n` (a copy: the map rehashes as outputs are added); unknown when absent.
  InferredTensor In(const Node& n, size_t i) const {
    if (i >= n.inputs.size() || n.inputs[i].empty()) return InferredTensor();
    return LookupInferred(map_, n.inputs[i]);
  }
  bool HasInput(const Node& n, size_t i) const {
    return i < n.inputs.size() && !n.inputs[i].empty();
  }
  // The (partially known) integer value of input i, or nullptr.
  const IntValue* InInt(const Node& n, size_t i) const {
    if (i >= n.inputs.size() || n.inputs[i].empty()) return nullptr;
    auto it = ints_.find(n.inputs[i]);
    return it == ints_.end() ? nullptr : &it->second;
  }
  // Fully known integer elements of input i (a scalar or a vector of axes, say).
  std::optional<Dims> InInts(const Node& n, size_t i) const {
    const IntValue* v = InInt(n, i);
    if (v == nullptr || !v->FullyKnown()) return std::nullopt;
    return v->elems;
  }
  // Integer list from attribute `attr` or, when absent, from the value of input `input`.
  std::optional<Dims> AttrOrInput(const Node& n, absl::string_view attr, size_t input) const {
    if (n.attrs.Find(attr) != nullptr) return shape_fn::AttrInts(n, attr);
    return InInts(n, input);
  }
  // A shape read from the (partially known) value of a shape-vector input.
  Shape ShapeFromValue(const Node& n, size_t i) const;
  // Input i's dtype, else attribute "T".
  DType InDType(const Node& n, size_t i) const {
    DType d = In(n, i).dtype;
    return d != DType::kInvalid ? d : shape_fn::AttrDType(n, "T");
  }
  // What was inferred for `ref` so far.
  const InferredTensor& Inferred(const TensorRef& ref) const { return LookupInferred(map_, ref); }

  void Set(const Node& n, int port, DType dtype, Shape shape) {
    InferredTensor& t = map_[TensorRef{n.name, port}];
    t.dtype = dtype;
    t.shape = shape_fn::Sanitize(shape);
  }
  void SetTensor(const Node& n, int port, InferredTensor t) {
    t.shape = shape_fn::Sanitize(t.shape);
    map_[TensorRef{n.name, port}] = std::move(t);
  }
  // Records an integer value (and the public Tensor value when fully known and representable).
  void SetInt(const Node& n, int port, DType dtype, IntValue v);
  void SetConst(const Node& n, int port, const Tensor& t);
  // Output `port` is input `input`, value included.
  void PassThrough(const Node& n, int port, size_t input) {
    SetTensor(n, port, In(n, input));
    // Copied before the insertion: ints_ may rehash, and `v` points into it.
    if (const IntValue* v = InInt(n, input)) {
      IntValue value = *v;
      ints_[TensorRef{n.name, port}] = std::move(value);
    }
  }
  // Forgets the value of output `port` (its shape and dtype stay).
  void DropValue(const Node& n, int port) {
    map_[TensorRef{n.name, port}].value.reset();
    ints_.erase(TensorRef{n.name, port});
  }
  // Gives every port below `ports` an entry (unknown when nothing was set).
  void EnsureOutputs(const Node& n, int ports) {
    for (int p = 0; p < ports; ++p) map_.try_emplace(TensorRef{n.name, p});
  }

  // The variable shape behind a resource handle (VarHandleOp), or unknown.
  Shape ResourceShape(const TensorRef& handle) const {
    auto it = resource_shapes_.find(handle);
    return it == resource_shapes_.end() ? Shape() : it->second;
  }
  void SetResourceShape(const TensorRef& handle, Shape shape) {
    resource_shapes_[handle] = std::move(shape);
  }

 private:
  int64_t batch_size_;
  ShapeMap map_;
  absl::flat_hash_map<TensorRef, IntValue> ints_;
  absl::flat_hash_map<TensorRef, Shape> resource_shapes_;  // VarHandleOp -> variable shape
};

namespace shape_fn {

// Shape functions more than one family uses.
// Output 0 has input 0's dtype (else attribute T) and shape: unary ops, BiasAdd, Softmax.
void UnaryShape(const Node& n, ShapeContext* ctx);
// Output 0 is all present inputs broadcast; its dtype `out_dtype`, or when kInvalid the first
// known input dtype (else attribute T).
void ElementwiseShape(const Node& n, ShapeContext* ctx, DType out_dtype);

}  // namespace shape_fn
}  // namespace rankopt

#endif  // RANKOPT_GRAPH_OPS_SHAPE_CONTEXT_H_
