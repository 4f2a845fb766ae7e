// Graph inputs, constants and variables. The executor binds them itself (no kernels), so this
// file registers only their shape functions and FLOP counts (data movement).
#include <string>
#include <vector>

#include "graph/kernels/array/array_util.h"
#include "graph/ops/op_info.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace shape_fn {
namespace {

// A graph input: its declared shape, unknown dims set to the batch size when one is given.
void PlaceholderShape(const Node& n, ShapeContext* ctx) {
  Shape shape;
  if (const Shape* s = n.attrs.Get<Shape>("shape")) shape = Sanitize(*s);
  if (ctx->batch_size() >= 0 && shape.known_rank()) {
    Dims dims = shape.dims();
    for (int64_t& d : dims) {
      if (d == kUnknownDim) d = ctx->batch_size();
    }
    shape = Shape(std::move(dims));
  }
  ctx->Set(n, 0, AttrDType(n, "dtype"), shape);
}

// TF Const and ONNX Constant (value, value_int(s) or value_float(s)).
void ConstShape(const Node& n, ShapeContext* ctx) {
  if (const Tensor* t = n.attrs.Get<Tensor>("value")) {
    ctx->SetConst(n, 0, *t);
  } else if (std::optional<int64_t> i = AttrInt(n, "value_int")) {
    ctx->SetInt(n, 0, DType::kInt64, IntValue{{}, {*i}});
  } else if (const auto* l = n.attrs.Get<std::vector<int64_t>>("value_ints")) {
    if (static_cast<int64_t>(l->size()) <= kMaxInferredValueElements) {
      ctx->SetInt(n, 0, DType::kInt64, IntValue{{static_cast<int64_t>(l->size())}, *l});
    } else {
      ctx->Set(n, 0, DType::kInt64, Shape({static_cast<int64_t>(l->size())}));
    }
  } else if (n.attrs.Find("value_float") != nullptr) {
    ctx->Set(n, 0, DType::kFloat32, Shape::Scalar());
  } else if (const auto* f = n.attrs.Get<std::vector<float>>("value_floats")) {
    ctx->Set(n, 0, DType::kFloat32, Shape({static_cast<int64_t>(f->size())}));
  }
}

void VariableShape(const Node& n, ShapeContext* ctx) {
  const Shape* s = n.attrs.Get<Shape>("shape");
  ctx->Set(n, 0, AttrDType(n, "dtype"), s ? *s : Shape());
}

// A resource handle; ReadVariableOp and ResourceGather read the shape it declares.
void VarHandleShape(const Node& n, ShapeContext* ctx) {
  ctx->Set(n, 0, DType::kResource, Shape::Scalar());
  if (const Shape* s = n.attrs.Get<Shape>("shape")) {
    ctx->SetResourceShape(TensorRef{n.name, 0}, Sanitize(*s));
  }
}

void ReadVariableShape(const Node& n, ShapeContext* ctx) {
  Shape s;
  if (ctx->HasInput(n, 0)) s = ctx->ResourceShape(n.inputs[0]);
  ctx->Set(n, 0, AttrDType(n, "dtype"), s);
}

}  // namespace
}  // namespace shape_fn

namespace array_internal {

absl::Status RegisterSourceOps(KernelRegistry* r) {
  for (const char* op : {"Placeholder", "PlaceholderWithDefault"}) {
    RANKOPT_RETURN_IF_ERROR(
        r->RegisterOpInfo(op, {shape_fn::PlaceholderShape, flops::DataMovement}));
  }
  for (const char* op : {"Const", "Constant"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {shape_fn::ConstShape, flops::DataMovement}));
  }
  for (const char* op : {"VariableV2", "Variable"}) {
    RANKOPT_RETURN_IF_ERROR(r->RegisterOpInfo(op, {shape_fn::VariableShape, flops::DataMovement}));
  }
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("VarHandleOp", {shape_fn::VarHandleShape, flops::DataMovement}));
  RANKOPT_RETURN_IF_ERROR(
      r->RegisterOpInfo("ReadVariableOp", {shape_fn::ReadVariableShape, flops::DataMovement}));
  return absl::OkStatus();
}

}  // namespace array_internal
}  // namespace rankopt
