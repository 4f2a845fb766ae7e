#include "graph/onnx/onnx_embedding_bag.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/onnx/onnx_convert.h"

namespace rankopt {
namespace {

using onnx::AttributeProto;
using onnx::GraphProto;
using onnx::NodeProto;

// An end this large means "to the end" (torch writes sys.maxsize; INT32_MAX is as good).
constexpr int64_t kToTheEnd = std::numeric_limits<int32_t>::max();

using Producers = absl::flat_hash_map<std::string, const NodeProto*>;

Producers ProducersOf(const GraphProto& g) {
  Producers map;
  for (const NodeProto& node : g.node()) {
    for (const std::string& out : node.output()) {
      if (!out.empty()) map.emplace(out, &node);
    }
  }
  return map;
}

const AttributeProto* FindAttr(const NodeProto& node, absl::string_view name) {
  for (const AttributeProto& a : node.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

std::string Label(const NodeProto& node) {
  return absl::StrCat("'", node.name(), "' (", node.op_type(), ")");
}

std::optional<std::vector<int64_t>> IntsOfTensor(const onnx::TensorProto& proto) {
  absl::StatusOr<Tensor> t = TensorFromOnnx(proto, "constant");
  if (!t.ok()) return std::nullopt;
  std::vector<int64_t> v;
  switch (t->dtype()) {
    case DType::kInt64:
      for (int64_t x : t->values<int64_t>()) v.push_back(x);
      return v;
    case DType::kInt32:
      for (int32_t x : t->values<int32_t>()) v.push_back(x);
      return v;
    case DType::kBool:
      for (bool x : t->values<bool>()) v.push_back(x ? 1 : 0);
      return v;
    default:
      return std::nullopt;
  }
}

class LoopMatcher {
 public:
  LoopMatcher(const GraphProto& outer, const NodeProto& loop)
      : outer_(outer), loop_(loop), outer_producers_(ProducersOf(outer)) {}

  absl::StatusOr<OnnxEmbeddingBagLoop> Match() {
    if (loop_.input_size() != 2 || loop_.output_size() != 1) {
      return Fail(absl::StrCat("it has ", loop_.input_size(), " inputs and ", loop_.output_size(),
                               " outputs; expected 2 inputs (trip count, condition) and 1 output "
                               "(the scan of one row per bag), no loop-carried values"));
    }
    const AttributeProto* body_attr = FindAttr(loop_, "body");
    if (body_attr == nullptr || body_attr->type() != AttributeProto::GRAPH) {
      return Fail("it has no 'body' graph attribute");
    }
    body_ = &body_attr->g();
    body_producers_ = ProducersOf(*body_);
    if (body_->input_size() != 2 || body_->output_size() != 2) {
      return Fail(absl::StrCat("its body has ", body_->input_size(), " inputs and ",
                               body_->output_size(),
                               " outputs; expected 2 and 2 (iteration, condition -> condition, "
                               "the bag's row)"));
    }
    iter_ = body_->input(0).name();
    body_cond_ = body_->input(1).name();

    // The loop runs every iteration: a true condition in, and out.
    if (!loop_.input(1).empty() && !IsTrue(loop_.input(1))) {
      return Fail(
          absl::StrCat("its condition input '", loop_.input(1), "' is not a constant true"));
    }
    const std::string& cond_out = body_->output(0).name();
    if (cond_out != body_cond_) {
      const NodeProto* c = Body(cond_out);
      const bool ok =
          c != nullptr && c->input_size() == 1 &&
          (c->op_type() == "Identity" ||
           (c->op_type() == "Cast" && IntAttr(*c, "to", -1) == onnx::TensorProto::BOOL)) &&
          (c->input(0) == body_cond_ || IsTrue(c->input(0)));
      if (!ok) {
        return Fail(absl::StrCat("the body's condition output '", cond_out,
                                 "' is not a Cast to bool of a constant true (the loop may stop "
                                 "early)"));
      }
      Use(c);
    }

    // The reduction over the bag's rows.
    const NodeProto* reduce = Body(body_->output(1).name());
    if (reduce == nullptr || reduce->input_size() < 1) {
      return Fail(absl::StrCat("the body's scan output '", body_->output(1).name(),
                               "' is not computed in the body"));
    }
    OnnxEmbeddingBagLoop out;
    if (reduce->op_type() == "ReduceSum") {
      out.mode = "sum";
    } else if (reduce->op_type() == "ReduceMean") {
      out.mode = "mean";
    } else if (reduce->op_type() == "ReduceMax") {
      out.mode = "max";
    } else {
      return Fail(absl::StrCat("the body's scan output comes from ", Label(*reduce),
                               ", not ReduceSum, ReduceMean or ReduceMax"));
    }
    Use(reduce);
    if (IntAttr(*reduce, "keepdims", 1) != 0 || IntAttr(*reduce, "noop_with_empty_axes", 0) != 0) {
      return Fail(absl::StrCat(Label(*reduce),
                               " must have keepdims = 0 (and noop_with_empty_axes unset or 0)"));
    }
    if (Ints(*reduce, "axes", 1) != std::vector<int64_t>{0}) {
      return Fail(absl::StrCat(Label(*reduce), " does not reduce over axes [0] alone"));
    }

    // The rows: Gather(weight, Slice(indices, start, end)), maybe times the sample weights.
    const NodeProto* rows = Body(reduce->input(0));
    const NodeProto* scaled = nullptr;
    if (rows != nullptr && rows->op_type() == "Mul" && rows->input_size() == 2) {
      Use(rows);
      const NodeProto* a = Body(rows->input(0));
      const NodeProto* b = Body(rows->input(1));
      if (a != nullptr && a->op_type() == "Unsqueeze") std::swap(a, b);
      scaled = b;
      rows = a;
      if (scaled == nullptr || scaled->op_type() != "Unsqueeze") {
        return Fail(
            "the body multiplies the rows by something other than Unsqueeze(Slice("
            "per_sample_weights))");
      }
    }
    if (rows == nullptr || rows->op_type() != "Gather" || rows->input_size() != 2 ||
        IntAttr(*rows, "axis", 0) != 0) {
      return Fail(absl::StrCat("the reduction's input ",
                               rows == nullptr ? "is not computed in the body"
                                               : absl::StrCat("comes from ", Label(*rows)),
                               "; expected Gather(weight, ids) on axis 0"));
    }
    Use(rows);
    if (!IsOuter(rows->input(0))) {
      return Fail(absl::StrCat(Label(*rows), " reads a table computed in the body"));
    }
    out.weight = rows->input(0);
    std::string start, end;
    const NodeProto* slice = Body(rows->input(1));
    if (slice == nullptr || slice->op_type() != "Slice") {
      return Fail(absl::StrCat(Label(*rows), "'s ids are not a Slice of the indices"));
    }
    if (absl::Status s = MatchSlice(*slice, &out.indices, &start, &end); !s.ok()) return s;
    if (absl::Status s = MatchBound(start, "start", &starts_src_); !s.ok()) return s;
    if (absl::Status s = MatchBound(end, "end", &ends_src_); !s.ok()) return s;
    if (scaled != nullptr) {
      Use(scaled);
      const NodeProto* ps = Body(scaled->input_size() > 0 ? scaled->input(0) : "");
      if (Ints(*scaled, "axes", 1) != std::vector<int64_t>{1} || ps == nullptr ||
          ps->op_type() != "Slice") {
        return Fail(
            absl::StrCat(Label(*scaled), " is not Unsqueeze(Slice(per_sample_weights), axes [1])"));
      }
      std::string ps_start, ps_end;
      if (absl::Status s = MatchSlice(*ps, &out.per_sample_weights, &ps_start, &ps_end); !s.ok()) {
        return s;
      }
      if (ps_start != start || ps_end != end) {
        return Fail(absl::StrCat(Label(*ps), " slices the sample weights with other bounds than ",
                                 Label(*slice), " slices the indices"));
      }
    }
    for (const NodeProto& node : body_->node()) {
      if (used_.contains(&node) || node.op_type() == "Constant") continue;
      return Fail(absl::StrCat("the body's node ", Label(node),
                               " is not part of the EmbeddingBag pattern"));
    }

    // Outside: ends = offsets[1:], starts = offsets (or offsets[0:]), trip count = len(ends).
    const std::string offsets = Root(starts_src_);
    const NodeProto* ends = Outer(ends_src_);
    if (ends == nullptr || !IsSliceFrom(*ends, 1) || Root(ends->input(0)) != offsets) {
      return Fail(absl::StrCat("the bag ends '", ends_src_,
                               "' are not Slice(offsets, starts [1], ends [INT64_MAX], axes [0]) "
                               "of the bag starts '",
                               starts_src_, "'"));
    }
    const NodeProto* trips = Outer(loop_.input(0));
    const NodeProto* shape = trips == nullptr || trips->op_type() != "Gather" ||
                                     trips->input_size() != 2 || IntAttr(*trips, "axis", 0) != 0 ||
                                     IntConst(trips->input(1)) != std::vector<int64_t>{0}
                                 ? nullptr
                                 : Outer(trips->input(0));
    if (shape == nullptr || shape->op_type() != "Shape" || shape->input_size() != 1 ||
        shape->input(0) != ends_src_ || IntAttr(*shape, "start", 0) != 0 ||
        FindAttr(*shape, "end") != nullptr) {
      return Fail(absl::StrCat("its trip count '", loop_.input(0),
                               "' is not Gather(Shape(bag ends), 0), one iteration per bag"));
    }
    out.offsets = offsets;
    return out;
  }

 private:
  absl::Status Fail(absl::string_view why) const {
    return absl::InvalidArgumentError(absl::StrCat("Loop node '", loop_.name(), "': ", why));
  }

  void Use(const NodeProto* node) { used_.insert(node); }

  const NodeProto* Body(const std::string& name) const {
    auto it = body_producers_.find(name);
    return it == body_producers_.end() ? nullptr : it->second;
  }
  const NodeProto* Outer(const std::string& name) const {
    auto it = outer_producers_.find(name);
    return it == outer_producers_.end() ? nullptr : it->second;
  }
  // Read from the enclosing graph: not computed in the body, not a body input.
  bool IsOuter(const std::string& name) const {
    return !name.empty() && Body(name) == nullptr && name != iter_ && name != body_cond_;
  }

  static int64_t IntAttr(const NodeProto& node, absl::string_view name, int64_t otherwise) {
    const AttributeProto* a = FindAttr(node, name);
    return a == nullptr ? otherwise : a->i();
  }

  // The integer value of a Constant node's output (body, then outer graph) or an initializer.
  std::optional<std::vector<int64_t>> IntConst(const std::string& name) const {
    const NodeProto* c = Body(name);
    if (c == nullptr && name != iter_ && name != body_cond_) c = Outer(name);
    if (c != nullptr) {
      if (c->op_type() != "Constant") return std::nullopt;
      if (const AttributeProto* a = FindAttr(*c, "value"); a != nullptr)
        return IntsOfTensor(a->t());
      if (const AttributeProto* a = FindAttr(*c, "value_int"); a != nullptr) {
        return std::vector<int64_t>{a->i()};
      }
      if (const AttributeProto* a = FindAttr(*c, "value_ints"); a != nullptr) {
        return std::vector<int64_t>(a->ints().begin(), a->ints().end());
      }
      return std::nullopt;
    }
    for (const onnx::TensorProto& init : outer_.initializer()) {
      if (init.name() == name) return IntsOfTensor(init);
    }
    return std::nullopt;
  }

  bool IsTrue(const std::string& name) const {
    std::optional<std::vector<int64_t>> v = IntConst(name);
    return v.has_value() && v->size() == 1 && (*v)[0] != 0;
  }

  // Integers from attribute `attr` or, when absent, from constant input `input`.
  std::optional<std::vector<int64_t>> Ints(const NodeProto& node, absl::string_view attr,
                                           int input) const {
    if (const AttributeProto* a = FindAttr(node, attr); a != nullptr) {
      return std::vector<int64_t>(a->ints().begin(), a->ints().end());
    }
    if (node.input_size() <= input || node.input(input).empty()) return std::nullopt;
    return IntConst(node.input(input));
  }

  // Slice(data, start, end, axes [0][, steps [1]]) with data from the enclosing graph.
  absl::Status MatchSlice(const NodeProto& slice, std::string* data, std::string* start,
                          std::string* end) {
    Use(&slice);
    if (slice.input_size() < 4 || slice.input_size() > 5 ||
        IntConst(slice.input(3)) != std::vector<int64_t>{0} ||
        (slice.input_size() == 5 && !slice.input(4).empty() &&
         IntConst(slice.input(4)) != std::vector<int64_t>{1})) {
      return Fail(
          absl::StrCat(Label(slice), " is not Slice(data, start, end, axes [0]) with step 1"));
    }
    if (!IsOuter(slice.input(0))) {
      return Fail(absl::StrCat(Label(slice), " slices a tensor computed in the body"));
    }
    *data = slice.input(0);
    *start = slice.input(1);
    *end = slice.input(2);
    return absl::OkStatus();
  }

  // `bound` = Unsqueeze(Gather(src, iteration), [0]): *src gets the outer tensor's name.
  absl::Status MatchBound(const std::string& bound, absl::string_view which, std::string* src) {
    const NodeProto* unsqueeze = Body(bound);
    const NodeProto* gather = unsqueeze == nullptr || unsqueeze->op_type() != "Unsqueeze" ||
                                      unsqueeze->input_size() < 1 ||
                                      Ints(*unsqueeze, "axes", 1) != std::vector<int64_t>{0}
                                  ? nullptr
                                  : Body(unsqueeze->input(0));
    if (gather == nullptr || gather->op_type() != "Gather" || gather->input_size() != 2 ||
        gather->input(1) != iter_ || IntAttr(*gather, "axis", 0) != 0 ||
        !IsOuter(gather->input(0))) {
      return Fail(absl::StrCat("the bag's ", which, " '", bound,
                               "' is not Unsqueeze(Gather(offsets, iteration number), [0])"));
    }
    Use(unsqueeze);
    Use(gather);
    *src = gather->input(0);
    return absl::OkStatus();
  }

  // Slice(x, starts [from], ends [>= INT32_MAX], axes [0][, steps [1]]).
  bool IsSliceFrom(const NodeProto& n, int64_t from) const {
    if (n.op_type() != "Slice" || n.input_size() < 3 || n.input_size() > 5) return false;
    std::optional<std::vector<int64_t>> ends = IntConst(n.input(2));
    if (IntConst(n.input(1)) != std::vector<int64_t>{from} || !ends.has_value() ||
        ends->size() != 1 || (*ends)[0] < kToTheEnd) {
      return false;
    }
    if (n.input_size() >= 4 && !n.input(3).empty() &&
        IntConst(n.input(3)) != std::vector<int64_t>{0}) {
      return false;
    }
    return n.input_size() < 5 || n.input(4).empty() ||
           IntConst(n.input(4)) == std::vector<int64_t>{1};
  }

  // x, or y when x = Slice(y, 0, to the end) (the exporter's unfolded offsets[0:]).
  std::string Root(const std::string& name) const {
    const NodeProto* p = Outer(name);
    if (p != nullptr && IsSliceFrom(*p, 0)) return p->input(0);
    return name;
  }

  const GraphProto& outer_;
  const NodeProto& loop_;
  Producers outer_producers_;
  const GraphProto* body_ = nullptr;
  Producers body_producers_;
  std::string iter_, body_cond_, starts_src_, ends_src_;
  absl::flat_hash_set<const NodeProto*> used_;
};

NodeProto* AddNode(GraphProto* g, const std::string& op, std::vector<std::string> in,
                   std::string out) {
  NodeProto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(out);
  for (std::string& s : in) n->add_input(std::move(s));
  n->add_output(std::move(out));
  return n;
}

void AddIntAttr(NodeProto* n, const std::string& name, int64_t v) {
  AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(AttributeProto::INT);
  a->set_i(v);
}

void AddIntsAttr(NodeProto* n, const std::string& name, std::vector<int64_t> v) {
  AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

// A Constant node `out` holding int64 `v` ([v.size()], or a scalar).
void AddConst(GraphProto* g, const std::string& out, std::vector<int64_t> v, bool scalar) {
  NodeProto* n = AddNode(g, "Constant", {}, out);
  AttributeProto* a = n->add_attribute();
  a->set_name("value");
  a->set_type(AttributeProto::TENSOR);
  onnx::TensorProto* t = a->mutable_t();
  t->set_data_type(onnx::TensorProto::INT64);
  if (!scalar) t->add_dims(static_cast<int64_t>(v.size()));
  for (int64_t x : v) t->add_int64_data(x);
}

}  // namespace

absl::Status AppendOnnxEmbeddingBagLoop(const OnnxEmbeddingBagLoop& bag, const std::string& output,
                                        const std::string& prefix, int64_t opset,
                                        onnx::GraphProto* graph) {
  if (opset < 11) {
    return absl::InvalidArgumentError(absl::StrCat("cannot export ", kOnnxEmbeddingBagOp, " '",
                                                   prefix, "' at ONNX opset ", opset,
                                                   ": its Loop needs opset 11 or later"));
  }
  if (bag.mode != "sum" && bag.mode != "mean" && bag.mode != "max") {
    return absl::InvalidArgumentError(absl::StrCat("cannot export ", kOnnxEmbeddingBagOp, " '",
                                                   prefix, "': mode '", bag.mode,
                                                   "' is not sum, mean or max"));
  }
  const std::string p = prefix + "/";
  AddConst(graph, p + "one", {1}, false);
  AddConst(graph, p + "to_end", {std::numeric_limits<int64_t>::max()}, false);
  AddConst(graph, p + "axis0", {0}, false);
  AddConst(graph, p + "zero", {0}, true);
  AddNode(graph, "Slice", {bag.offsets, p + "one", p + "to_end", p + "axis0", p + "one"},
          p + "ends");
  AddNode(graph, "Shape", {p + "ends"}, p + "ends_shape");
  AddIntAttr(AddNode(graph, "Gather", {p + "ends_shape", p + "zero"}, p + "bags"), "axis", 0);
  NodeProto* always = AddNode(graph, "Constant", {}, p + "true");
  AttributeProto* value = always->add_attribute();
  value->set_name("value");
  value->set_type(AttributeProto::TENSOR);
  value->mutable_t()->set_data_type(onnx::TensorProto::BOOL);
  value->mutable_t()->add_int32_data(1);
  NodeProto* loop = AddNode(graph, "Loop", {p + "bags", p + "true"}, output);
  loop->set_name(prefix);

  AttributeProto* body_attr = loop->add_attribute();
  body_attr->set_name("body");
  body_attr->set_type(AttributeProto::GRAPH);
  GraphProto* b = body_attr->mutable_g();
  b->set_name(p + "body");
  for (const char* name : {"i", "cond_in"}) {
    onnx::ValueInfoProto* in = b->add_input();
    in->set_name(p + name);
    in->mutable_type()->mutable_tensor_type()->set_elem_type(
        name[0] == 'i' ? onnx::TensorProto::INT64 : onnx::TensorProto::BOOL);
    in->mutable_type()->mutable_tensor_type()->mutable_shape();
  }
  const bool axes_as_input = opset >= 13;
  auto unsqueeze = [&](const std::string& in, const std::string& out, int64_t axis) {
    if (axes_as_input) {
      AddConst(b, out + "_axes", {axis}, false);
      AddNode(b, "Unsqueeze", {in, out + "_axes"}, out);
    } else {
      AddIntsAttr(AddNode(b, "Unsqueeze", {in}, out), "axes", {axis});
    }
  };
  AddIntAttr(AddNode(b, "Gather", {bag.offsets, p + "i"}, p + "start_s"), "axis", 0);
  AddIntAttr(AddNode(b, "Gather", {p + "ends", p + "i"}, p + "end_s"), "axis", 0);
  unsqueeze(p + "start_s", p + "start", 0);
  unsqueeze(p + "end_s", p + "end", 0);
  AddNode(b, "Slice", {bag.indices, p + "start", p + "end", p + "axis0"}, p + "ids");
  AddIntAttr(AddNode(b, "Gather", {bag.weight, p + "ids"}, p + "rows"), "axis", 0);
  std::string rows = p + "rows";
  if (!bag.per_sample_weights.empty()) {
    AddNode(b, "Slice", {bag.per_sample_weights, p + "start", p + "end", p + "axis0"},
            p + "psw_row");
    unsqueeze(p + "psw_row", p + "psw_col", 1);
    AddNode(b, "Mul", {rows, p + "psw_col"}, p + "scaled");
    rows = p + "scaled";
  }
  const std::string reduce_op =
      bag.mode == "sum" ? "ReduceSum" : (bag.mode == "mean" ? "ReduceMean" : "ReduceMax");
  // ReduceSum takes axes as an input from opset 13, the others from opset 18.
  const bool reduce_axes_input = bag.mode == "sum" ? opset >= 13 : opset >= 18;
  NodeProto* reduce = reduce_axes_input ? AddNode(b, reduce_op, {rows, p + "axis0"}, p + "pooled")
                                        : AddNode(b, reduce_op, {rows}, p + "pooled");
  if (!reduce_axes_input) AddIntsAttr(reduce, "axes", {0});
  AddIntAttr(reduce, "keepdims", 0);
  AddIntAttr(AddNode(b, "Cast", {p + "true"}, p + "cond_out"), "to", onnx::TensorProto::BOOL);
  for (const char* name : {"cond_out", "pooled"}) {
    onnx::ValueInfoProto* out = b->add_output();
    out->set_name(p + name);
    onnx::TypeProto::Tensor* type = out->mutable_type()->mutable_tensor_type();
    type->set_elem_type(name[0] == 'c' ? onnx::TensorProto::BOOL : onnx::TensorProto::FLOAT);
    type->mutable_shape();                                 // the condition is a scalar
    if (name[0] == 'p') type->mutable_shape()->add_dim();  // a row of unknown dim
  }
  return absl::OkStatus();
}

absl::StatusOr<OnnxEmbeddingBagLoop> MatchOnnxEmbeddingBagLoop(const onnx::GraphProto& graph,
                                                               const onnx::NodeProto& loop) {
  return LoopMatcher(graph, loop).Match();
}

}  // namespace rankopt
