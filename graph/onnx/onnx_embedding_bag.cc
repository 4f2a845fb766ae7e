#include "graph/onnx/onnx_embedding_bag.h"

#include <algorithm>
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

// What the two matchers share: the Loop, its enclosing graph and body with each side's
// producers, the names the body takes as inputs, and the body nodes a match has used.
class LoopMatcherBase {
 protected:
  LoopMatcherBase(const GraphProto& outer, const NodeProto& loop)
      : outer_(outer), loop_(loop), outer_producers_(ProducersOf(outer)) {}

  // Finds the body graph and its producers; an error when the Loop has none.
  absl::Status FindBody() {
    const AttributeProto* body_attr = FindAttr(loop_, "body");
    if (body_attr == nullptr || body_attr->type() != AttributeProto::GRAPH) {
      return Fail("it has no 'body' graph attribute");
    }
    body_ = &body_attr->g();
    body_producers_ = ProducersOf(*body_);
    return absl::OkStatus();
  }

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
  bool IsBodyInput(const std::string& name) const {
    return std::find(body_inputs_.begin(), body_inputs_.end(), name) != body_inputs_.end();
  }
  // Read from the enclosing graph: not computed in the body, not a body input.
  bool IsOuter(const std::string& name) const {
    return !name.empty() && Body(name) == nullptr && !IsBodyInput(name);
  }

  static int64_t IntAttr(const NodeProto& node, absl::string_view name, int64_t otherwise) {
    const AttributeProto* a = FindAttr(node, name);
    return a == nullptr ? otherwise : a->i();
  }

  const GraphProto& outer_;
  const NodeProto& loop_;
  Producers outer_producers_;
  const GraphProto* body_ = nullptr;
  Producers body_producers_;
  std::vector<std::string> body_inputs_;
  absl::flat_hash_set<const NodeProto*> used_;
};

class LoopMatcher : private LoopMatcherBase {
 public:
  LoopMatcher(const GraphProto& outer, const NodeProto& loop) : LoopMatcherBase(outer, loop) {}

  absl::StatusOr<OnnxEmbeddingBagLoop> Match() {
    if (loop_.input_size() != 2 || loop_.output_size() != 1) {
      return Fail(absl::StrCat("it has ", loop_.input_size(), " inputs and ", loop_.output_size(),
                               " outputs; expected 2 inputs (trip count, condition) and 1 output "
                               "(the scan of one row per bag), no loop-carried values"));
    }
    if (absl::Status s = FindBody(); !s.ok()) return s;
    if (body_->input_size() != 2 || body_->output_size() != 2) {
      return Fail(absl::StrCat("its body has ", body_->input_size(), " inputs and ",
                               body_->output_size(),
                               " outputs; expected 2 and 2 (iteration, condition -> condition, "
                               "the bag's row)"));
    }
    iter_ = body_->input(0).name();
    body_cond_ = body_->input(1).name();
    body_inputs_ = {iter_, body_cond_};

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
  // The integer value of a Constant node's output (body, then outer graph) or an initializer.
  std::optional<std::vector<int64_t>> IntConst(const std::string& name) const {
    const NodeProto* c = Body(name);
    if (c == nullptr && !IsBodyInput(name)) c = Outer(name);
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

  std::string iter_, body_cond_, starts_src_, ends_src_;
};

// A node's first output name, or "" when it has none (an untrusted model's node may not).
const std::string& Out0(const NodeProto* node) {
  static const std::string* const kNone = new std::string();
  return node->output_size() > 0 ? node->output(0) : *kNone;
}

// The dynamo form (onnx_embedding_bag.h). Constants may be Constant nodes of the branch, the
// body or the enclosing graph, or initializers of any of them (torch 2.x writes initializers).
class DynamoLoopMatcher : private LoopMatcherBase {
 public:
  DynamoLoopMatcher(const GraphProto& outer, const NodeProto& loop)
      : LoopMatcherBase(outer, loop) {}

  absl::StatusOr<OnnxEmbeddingBagLoop> Match() {
    if (loop_.input_size() != 4 || loop_.output_size() != 2 || !loop_.input(0).empty()) {
      return Fail(absl::StrCat(
          "it has ", loop_.input_size(), " inputs and ", loop_.output_size(),
          " outputs; expected no trip count, a condition, a counter and a sequence in, the "
          "counter and the sequence out"));
    }
    if (absl::Status s = FindBody(); !s.ok()) return s;
    if (body_->input_size() != 4 || body_->output_size() != 3) {
      return Fail(absl::StrCat("its body has ", body_->input_size(), " inputs and ",
                               body_->output_size(),
                               " outputs; expected 4 (iteration, condition, counter, sequence) "
                               "and 3 (condition, counter, sequence)"));
    }
    // The two loop-carried values come in either order (the exporter's order varies between
    // runs): the sequence is the one that starts as SequenceEmpty().
    const NodeProto* empty = Outer(loop_.input(2));
    const int seq = empty != nullptr && empty->op_type() == "SequenceEmpty" ? 0 : 1;
    const int ctr = 1 - seq;
    const std::string& counter = body_->input(2 + ctr).name();
    const std::string& sequence = body_->input(2 + seq).name();
    body_inputs_ = {body_->input(0).name(), body_->input(1).name(), counter, sequence};

    // Outside: counter from 0, an empty sequence, condition Less(0, bags).
    if (Const(loop_.input(2 + ctr)) != std::vector<int64_t>{0}) {
      return Fail(
          absl::StrCat("its counter starts at '", loop_.input(2 + ctr), "', not a constant 0"));
    }
    empty = Outer(loop_.input(2 + seq));
    if (empty == nullptr || empty->op_type() != "SequenceEmpty") {
      return Fail(
          absl::StrCat("its sequence starts at '", loop_.input(2 + seq), "', not SequenceEmpty()"));
    }
    const NodeProto* first = Outer(loop_.input(1));
    if (first == nullptr || first->op_type() != "Less" || first->input_size() != 2 ||
        Const(first->input(0)) != std::vector<int64_t>{0}) {
      return Fail(absl::StrCat("its condition '", loop_.input(1), "' is not Less(0, bags)"));
    }
    const std::string bags = first->input(1);

    // The body's outputs: Less(counter + 1, bags), counter + 1, SequenceInsert(sequence, row).
    const NodeProto* next = Body(body_->output(1 + ctr).name());
    if (next == nullptr || !IsAddConst(*next, counter, 1)) {
      return Fail("the body's counter output is not counter + 1");
    }
    const NodeProto* more = Body(body_->output(0).name());
    if (more == nullptr || more->op_type() != "Less" || more->input_size() != 2 ||
        more->input(0) != Out0(next) || more->input(1) != bags) {
      return Fail(
          absl::StrCat("the body's condition output is not Less(counter + 1, '", bags, "')"));
    }
    Use(more);
    const NodeProto* insert = Body(body_->output(1 + seq).name());
    if (insert == nullptr || insert->op_type() != "SequenceInsert" || insert->input_size() != 2 ||
        insert->input(0) != sequence) {
      return Fail("the body's sequence output is not SequenceInsert(sequence, row) at the end");
    }
    Use(insert);

    // row = If(Equal(start, end), zeros [1, dim], Reduce(Slice(rows, start, end), [0])).
    const NodeProto* branch = Body(insert->input(1));
    if (branch == nullptr || branch->op_type() != "If" || branch->output_size() != 1) {
      return Fail("the inserted row does not come from an If");
    }
    Use(branch);
    const NodeProto* equal = Body(branch->input_size() == 1 ? branch->input(0) : "");
    if (equal == nullptr || equal->op_type() != "Equal" || equal->input_size() != 2) {
      return Fail(absl::StrCat(Label(*branch), "'s condition is not Equal(start, end)"));
    }
    Use(equal);
    std::string offsets;
    const std::string position = MatchOffsetSlice(equal->input(0), 0, &offsets);
    std::string offsets_end;
    const std::string position_end = MatchOffsetSlice(equal->input(1), 1, &offsets_end);
    if (position.empty() || position != position_end || offsets != offsets_end) {
      return Fail(
          absl::StrCat(Label(*equal),
                       " does not compare Slice(offsets, i, i + 1) with Slice(offsets, i + 1, "
                       "i + 2) for the same offsets and i = Reshape(counter, [-1])"));
    }
    const NodeProto* reshape = Body(position);
    if (position != counter &&
        (reshape == nullptr || reshape->op_type() != "Reshape" || reshape->input_size() != 2 ||
         reshape->input(0) != counter || Const(reshape->input(1)) != std::vector<int64_t>{-1})) {
      return Fail(absl::StrCat("the bag's position '", position,
                               "' is not the counter or Reshape(counter, [-1])"));
    }
    if (position != counter) Use(reshape);

    const GraphProto* then_branch = nullptr;
    const GraphProto* else_branch = nullptr;
    for (const AttributeProto& a : branch->attribute()) {
      if (a.type() != AttributeProto::GRAPH) continue;
      if (a.name() == "then_branch") then_branch = &a.g();
      if (a.name() == "else_branch") else_branch = &a.g();
    }
    if (then_branch == nullptr || else_branch == nullptr || then_branch->output_size() != 1 ||
        else_branch->output_size() != 1) {
      return Fail(absl::StrCat(Label(*branch), " lacks one-output then and else branches"));
    }
    if (!IsZeros(*then_branch, then_branch->output(0).name())) {
      return Fail(
          absl::StrCat(Label(*branch), "'s then branch (an empty bag) is not a constant of zeros"));
    }
    OnnxEmbeddingBagLoop out;
    std::string rows;
    if (absl::Status s = MatchPool(*else_branch, equal->input(0), equal->input(1), counter, bags,
                                   &rows, &out.mode);
        !s.ok()) {
      return s;
    }
    for (const NodeProto& node : body_->node()) {
      if (used_.contains(&node) || node.op_type() == "Constant") continue;
      return Fail(absl::StrCat("the body's node ", Label(node),
                               " is not part of the EmbeddingBag pattern"));
    }

    // Outside, the loop runs once per entry of offsets but the last: offsets = Concat(starts,
    // Shape(1-D ids)) with bags = Size(starts), or (include_last_offset) the offsets as given,
    // maybe through an Identity, with bags = Size(offsets) - 1 (mean's last bag then assumes
    // they end at len(ids), as torch asks of include_last_offset).
    const NodeProto* concat = Outer(offsets);
    const NodeProto* size = Outer(bags);
    const NodeProto* tail = concat == nullptr || concat->op_type() != "Concat" ||
                                    concat->input_size() != 2 || IntAttr(*concat, "axis", -1) != 0
                                ? nullptr
                                : Outer(concat->input(1));
    const bool appended = tail != nullptr && size != nullptr && size->op_type() == "Size" &&
                          size->input_size() == 1 && size->input(0) == concat->input(0) &&
                          tail->op_type() == "Shape" && tail->input_size() == 1 &&
                          IsOneDimensional(tail->input(0));
    bool given = false;
    if (!appended && size != nullptr && size->op_type() == "Sub" && size->input_size() == 2 &&
        Const(size->input(1)) == std::vector<int64_t>{1}) {
      const NodeProto* count = Outer(size->input(0));
      given = count != nullptr && count->op_type() == "Size" && count->input_size() == 1 &&
              count->input(0) == ThroughIdentity(offsets);
    }
    if (!appended && !given) {
      return Fail(absl::StrCat("the offsets '", offsets,
                               "' are neither Concat(starts, Shape(ids)) with bags '", bags,
                               "' = Size(starts) nor offsets with bags = Size(offsets) - 1"));
    }
    if (!max_last_end_.empty()) {
      const NodeProto* len = Outer(max_last_end_);
      if (len == nullptr || len->op_type() != "Shape" || len->input_size() != 1 ||
          !IsOneDimensional(len->input(0))) {
        return Fail(
            absl::StrCat("max's last bag ends at '", max_last_end_, "', not Shape(1-D ids)"));
      }
      out.empty_is_zero = true;
    }
    out.offsets = offsets;

    // rows = Gather(weight, ids)[ * Unsqueeze(per_sample_weights, [1])], all ones dropped.
    const NodeProto* pooled = Outer(rows);
    const NodeProto* gather = pooled;
    if (pooled != nullptr && pooled->op_type() == "Mul" && pooled->input_size() == 2) {
      const NodeProto* a = Outer(pooled->input(0));
      const NodeProto* b = Outer(pooled->input(1));
      if (a != nullptr && a->op_type() == "Unsqueeze") std::swap(a, b);
      if (b == nullptr || b->op_type() != "Unsqueeze" || b->input_size() < 1 ||
          Ints(*b, "axes", 1) != std::vector<int64_t>{1}) {
        return Fail(absl::StrCat("the pooled rows '", rows,
                                 "' are multiplied by something other than "
                                 "Unsqueeze(per_sample_weights, [1])"));
      }
      gather = a;
      if (!IsOnes(b->input(0))) out.per_sample_weights = b->input(0);
    }
    if (gather == nullptr || gather->op_type() != "Gather" || gather->input_size() != 2 ||
        IntAttr(*gather, "axis", 0) != 0 || (appended && gather->input(1) != tail->input(0))) {
      return Fail(absl::StrCat("the pooled rows '", rows,
                               "' are not Gather(weight, ids) on axis 0 of the ids whose length "
                               "ends the offsets"));
    }
    out.weight = gather->input(0);
    out.indices = gather->input(1);

    // The counter goes unread; the sequence only into ConcatFromSequence(axis 0).
    int readers = 0;
    for (const NodeProto& node : outer_.node()) {
      for (const std::string& in : node.input()) {
        if (in == loop_.output(ctr) && !in.empty()) {
          return Fail(absl::StrCat(Label(node), " reads the loop's final counter"));
        }
        if (in != loop_.output(seq)) continue;
        ++readers;
        if (node.op_type() != "ConcatFromSequence" || IntAttr(node, "axis", -1) != 0 ||
            IntAttr(node, "new_axis", 0) != 0) {
          return Fail(absl::StrCat(Label(node),
                                   " reads the loop's sequence; expected only "
                                   "ConcatFromSequence(axis 0)"));
        }
      }
    }
    for (const onnx::ValueInfoProto& o : outer_.output()) {
      if (o.name() == loop_.output(0) || o.name() == loop_.output(1)) {
        return Fail("a loop output is a graph output");
      }
    }
    if (readers != 1) {
      return Fail(
          absl::StrCat("its sequence has ", readers, " readers; expected one ConcatFromSequence"));
    }
    out.sequence = loop_.output(seq);
    return out;
  }

 private:
  // A constant's tensor: a Constant node or an initializer of `branch` (may be null), the body
  // (only once inside it) or the enclosing graph, innermost first; null when not a constant.
  std::optional<Tensor> ConstTensor(const std::string& name, const GraphProto* branch) const {
    std::vector<const GraphProto*> scopes;
    if (branch != nullptr) scopes.push_back(branch);
    if (body_ != nullptr) scopes.push_back(body_);
    scopes.push_back(&outer_);
    for (const GraphProto* g : scopes) {
      for (const NodeProto& node : g->node()) {
        if (std::find(node.output().begin(), node.output().end(), name) == node.output().end()) {
          continue;
        }
        const AttributeProto* a = node.op_type() == "Constant" ? FindAttr(node, "value") : nullptr;
        if (a == nullptr || a->type() != AttributeProto::TENSOR) return std::nullopt;
        absl::StatusOr<Tensor> t = TensorFromOnnx(a->t(), "constant");
        return t.ok() ? std::optional<Tensor>(*std::move(t)) : std::nullopt;
      }
      for (const onnx::TensorProto& init : g->initializer()) {
        if (init.name() != name) continue;
        if (init.data_location() == onnx::TensorProto::EXTERNAL) return std::nullopt;
        absl::StatusOr<Tensor> t = TensorFromOnnx(init, "constant");
        return t.ok() ? std::optional<Tensor>(*std::move(t)) : std::nullopt;
      }
      if (g == body_ && IsBodyInput(name)) return std::nullopt;
    }
    return std::nullopt;
  }
  // Integer constants, seen through CastLike(x, like) (the exporter casts its literals).
  std::optional<std::vector<int64_t>> Const(const std::string& name) const {
    const NodeProto* cast = body_ == nullptr ? nullptr : Body(name);
    if (cast != nullptr && cast->op_type() == "CastLike" && cast->input_size() == 2) {
      used_cast_.push_back(cast);
      return Const(cast->input(0));
    }
    std::optional<Tensor> t = ConstTensor(name, nullptr);
    if (!t.has_value()) return std::nullopt;
    std::vector<int64_t> v;
    switch (t->dtype()) {
      case DType::kInt64:
        for (int64_t x : t->values<int64_t>()) v.push_back(x);
        return v;
      case DType::kInt32:
        for (int32_t x : t->values<int32_t>()) v.push_back(x);
        return v;
      default:
        return std::nullopt;
    }
  }
  // Integers from attribute `attr` or, when absent, from constant input `input`.
  std::optional<std::vector<int64_t>> Ints(const NodeProto& node, absl::string_view attr,
                                           int input) const {
    if (const AttributeProto* a = FindAttr(node, attr); a != nullptr) {
      return std::vector<int64_t>(a->ints().begin(), a->ints().end());
    }
    if (node.input_size() <= input || node.input(input).empty()) return std::nullopt;
    return Const(node.input(input));
  }
  // Add(x, k) or Add(k, x) in the body with constant k == `k`; marks it and its casts used.
  bool IsAddConst(const NodeProto& add, const std::string& x, int64_t k) {
    if (add.op_type() != "Add" || add.input_size() != 2) return false;
    for (int side = 0; side < 2; ++side) {
      used_cast_.clear();
      if (add.input(side) == x && Const(add.input(1 - side)) == std::vector<int64_t>{k}) {
        Use(&add);
        for (const NodeProto* c : used_cast_) Use(c);
        return true;
      }
    }
    return false;
  }
  // `bound` = Slice(offsets, p + at, p + at + 1) (p itself when at is 0), no axes or axes [0]
  // and steps [1]; returns p and sets *offsets, or returns "" on a mismatch.
  std::string MatchOffsetSlice(const std::string& bound, int64_t at, std::string* offsets) {
    const NodeProto* slice = Body(bound);
    if (slice == nullptr || slice->op_type() != "Slice" || slice->input_size() < 3 ||
        !IsOuter(slice->input(0)) || !DefaultAxesAndSteps(*slice)) {
      return "";
    }
    const NodeProto* start = Body(slice->input(1));
    const NodeProto* end = Body(slice->input(2));
    if (end == nullptr || end->op_type() != "Add" || end->input_size() != 2) return "";
    std::string p;
    if (at == 0) {
      p = slice->input(1);
    } else if (start != nullptr && start->op_type() == "Add" && start->input_size() == 2) {
      for (int side = 0; side < 2 && p.empty(); ++side) {
        if (IsAddConst(*start, start->input(side), at)) p = start->input(side);
      }
    }
    if (p.empty() || !IsAddConst(*end, p, at + 1)) return "";
    Use(slice);
    *offsets = slice->input(0);
    return p;
  }
  // Slice with no axes/steps inputs, or axes [0] and steps [1].
  bool DefaultAxesAndSteps(const NodeProto& slice) const {
    if (slice.input_size() >= 4 && !slice.input(3).empty() &&
        Const(slice.input(3)) != std::vector<int64_t>{0}) {
      return false;
    }
    return slice.input_size() < 5 || slice.input(4).empty() ||
           Const(slice.input(4)) == std::vector<int64_t>{1};
  }
  // The else branch: Reduce{Sum,Mean}(Slice(rows, start, end), axes [0], keepdims 1); for mean
  // the exporter's last bag (counter == bags - 1) takes ReduceSum / (len(ids) - start) instead,
  // in a nested If, which is that bag's mean when the offsets end at len(ids) (checked outside).
  absl::Status MatchPool(const GraphProto& g, const std::string& start, const std::string& end,
                         const std::string& counter, const std::string& bags, std::string* rows,
                         std::string* mode) {
    if (ContainsOp(g, "ReduceMax")) return MatchMaxPool(g, start, end, counter, bags, rows, mode);
    const NodeProto* slice = nullptr;
    std::vector<const NodeProto*> rest;
    for (const NodeProto& node : g.node()) {
      if (node.op_type() == "Constant") continue;
      if (node.op_type() == "Slice" && slice == nullptr) {
        slice = &node;
      } else {
        rest.push_back(&node);
      }
    }
    if (slice == nullptr || slice->input_size() < 3 || slice->input(1) != start ||
        slice->input(2) != end || !DefaultAxesAndSteps(*slice) || !IsOuter(slice->input(0))) {
      return Fail("its else branch does not Slice(rows, start, end) rows computed before the loop");
    }
    *rows = slice->input(0);
    const std::string& pooled = Out0(slice);
    if (rest.size() == 1) {
      const NodeProto& reduce = *rest[0];
      if (reduce.output_size() != 1 || reduce.output(0) != g.output(0).name()) {
        return Fail("its else branch's output is not the pooled rows");
      }
      if (reduce.op_type() == "ReduceSum") {
        *mode = "sum";
      } else if (reduce.op_type() == "ReduceMean") {
        *mode = "mean";
      } else {
        return Fail(absl::StrCat("its else branch pools with ", Label(reduce),
                                 ", not ReduceSum or ReduceMean"));
      }
      return CheckReduceRows(reduce, pooled, g);
    }
    // Mean's form: If(Equal(counter, Sub(bags, 1)), then: sum / (len(ids) - start) (a nested If
    // keeps the sum when that is not positive), else: ReduceMean).
    const NodeProto* last = nullptr;
    for (const NodeProto* n : rest) {
      if (n->op_type() == "If") last = n;
    }
    const NodeProto* is_last = nullptr;
    const NodeProto* minus_one = nullptr;
    for (const NodeProto* n : rest) {
      if (n->op_type() == "Equal") is_last = n;
      if (n->op_type() == "Sub") minus_one = n;
    }
    const bool last_bag = LastBagCondition(last, is_last, minus_one, counter, bags);
    const GraphProto* then_g = nullptr;
    const GraphProto* else_g = nullptr;
    if (last_bag) {
      for (const AttributeProto& a : last->attribute()) {
        if (a.type() == AttributeProto::GRAPH && a.name() == "then_branch") then_g = &a.g();
        if (a.type() == AttributeProto::GRAPH && a.name() == "else_branch") else_g = &a.g();
      }
    }
    const bool shape = rest.size() == 3 && last != nullptr && then_g != nullptr &&
                       else_g != nullptr && last->output_size() == 1 &&
                       Out0(last) == g.output(0).name() && else_g->node_size() == 1 &&
                       else_g->node(0).op_type() == "ReduceMean" && else_g->output_size() == 1 &&
                       Out0(&else_g->node(0)) == else_g->output(0).name() &&
                       OnlyOps(*then_g, {"ReduceSum", "Shape", "Sub", "CastLike", "Greater", "If",
                                         "Cast", "Div", "Identity"}) &&
                       ContainsOp(*then_g, "ReduceSum") && ContainsOp(*then_g, "Div");
    if (!shape) {
      return Fail(
          "its else branch is neither Reduce{Sum,Mean}(Slice(rows, start, end)) nor the "
          "exporter's mean of the last bag");
    }
    for (const NodeProto& n : then_g->node()) {
      if (n.op_type() != "ReduceSum") continue;
      if (absl::Status st = CheckReduceRows(n, pooled, *then_g); !st.ok()) return st;
    }
    *mode = "mean";
    return CheckReduceRows(else_g->node(0), pooled, *else_g);
  }
  // Max's form: ReduceMax(If(counter == bags - 1, Slice(rows, start, len(ids)),
  // Slice(rows, start, end)), axes [0]): the last bag's end is len(ids), which is its end when the
  // offsets end at len(ids) (checked outside). Its empty bag is zeros (the outer If), so the bag
  // node gets attr empty_is_zero.
  absl::Status MatchMaxPool(const GraphProto& g, const std::string& start, const std::string& end,
                            const std::string& counter, const std::string& bags, std::string* rows,
                            std::string* mode) {
    const NodeProto* reduce = nullptr;
    const NodeProto* choose = nullptr;
    const NodeProto* is_last = nullptr;
    const NodeProto* minus_one = nullptr;
    int others = 0;
    for (const NodeProto& n : g.node()) {
      const std::string& op = n.op_type();
      if (op == "Constant") continue;
      const NodeProto** slot = op == "ReduceMax" ? &reduce
                               : op == "If"      ? &choose
                               : op == "Equal"   ? &is_last
                               : op == "Sub"     ? &minus_one
                                                 : nullptr;
      if (slot == nullptr || *slot != nullptr) ++others;
      if (slot != nullptr) *slot = &n;
    }
    const GraphProto* then_g = nullptr;
    const GraphProto* else_g = nullptr;
    if (choose != nullptr) {
      for (const AttributeProto& a : choose->attribute()) {
        if (a.type() == AttributeProto::GRAPH && a.name() == "then_branch") then_g = &a.g();
        if (a.type() == AttributeProto::GRAPH && a.name() == "else_branch") else_g = &a.g();
      }
    }
    auto single_slice = [&](const GraphProto* b) -> const NodeProto* {
      if (b == nullptr || b->node_size() != 1 || b->output_size() != 1) return nullptr;
      const NodeProto& n = b->node(0);
      return n.op_type() == "Slice" && n.input_size() >= 3 && Out0(&n) == b->output(0).name() &&
                     n.input(1) == start && IsOuter(n.input(0)) && DefaultAxesAndSteps(n)
                 ? &n
                 : nullptr;
    };
    const NodeProto* last_slice = single_slice(then_g);
    const NodeProto* other_slice = single_slice(else_g);
    const bool ok = others == 0 && reduce != nullptr && choose != nullptr &&
                    LastBagCondition(choose, is_last, minus_one, counter, bags) &&
                    last_slice != nullptr && other_slice != nullptr &&
                    other_slice->input(2) == end && last_slice->input(0) == other_slice->input(0) &&
                    IsOuter(last_slice->input(2)) && Out0(reduce) == g.output(0).name() &&
                    choose->output_size() == 1;
    if (!ok) {
      return Fail(
          "its else branch is not the exporter's max: ReduceMax(If(last bag, "
          "Slice(rows, start, len(ids)), Slice(rows, start, end)))");
    }
    max_last_end_ = last_slice->input(2);
    *rows = other_slice->input(0);
    *mode = "max";
    return CheckReduceRows(*reduce, Out0(choose), g);
  }
  // if_node's condition is Equal(counter, Sub(bags, 1)): the last bag.
  bool LastBagCondition(const NodeProto* if_node, const NodeProto* is_last,
                        const NodeProto* minus_one, const std::string& counter,
                        const std::string& bags) const {
    return if_node != nullptr && is_last != nullptr && minus_one != nullptr &&
           if_node->input_size() == 1 && if_node->input(0) == Out0(is_last) &&
           is_last->input_size() == 2 && is_last->input(0) == counter &&
           is_last->input(1) == Out0(minus_one) && minus_one->input_size() == 2 &&
           minus_one->input(0) == bags && Const(minus_one->input(1)) == std::vector<int64_t>{1};
  }
  // `reduce` reads `rows` over axes [0], keeping the dim.
  absl::Status CheckReduceRows(const NodeProto& reduce, const std::string& rows,
                               const GraphProto& g) const {
    std::optional<std::vector<int64_t>> axes;
    if (const AttributeProto* a = FindAttr(reduce, "axes"); a != nullptr) {
      axes = std::vector<int64_t>(a->ints().begin(), a->ints().end());
    } else if (reduce.input_size() == 2) {
      std::optional<Tensor> t = ConstTensor(reduce.input(1), &g);
      if (t.has_value() && t->dtype() == DType::kInt64) {
        axes = std::vector<int64_t>(t->values<int64_t>().begin(), t->values<int64_t>().end());
      }
    }
    if (reduce.input_size() < 1 || reduce.input(0) != rows || axes != std::vector<int64_t>{0} ||
        IntAttr(reduce, "keepdims", 1) != 1 || IntAttr(reduce, "noop_with_empty_axes", 0) != 0) {
      return Fail(absl::StrCat(Label(reduce),
                               " does not reduce the bag's rows over axes [0] "
                               "keeping the dim"));
    }
    return absl::OkStatus();
  }
  // Whether `g` or a graph nested in it has a node of `op`.
  static bool ContainsOp(const GraphProto& g, absl::string_view op) {
    for (const NodeProto& n : g.node()) {
      if (n.op_type() == op) return true;
      for (const AttributeProto& a : n.attribute()) {
        if (a.type() == AttributeProto::GRAPH && ContainsOp(a.g(), op)) return true;
      }
    }
    return false;
  }
  // Whether every node of `g` and the graphs nested in it is a Constant or one of `ops`.
  static bool OnlyOps(const GraphProto& g, std::initializer_list<absl::string_view> ops) {
    for (const NodeProto& n : g.node()) {
      if (n.op_type() != "Constant" &&
          std::find(ops.begin(), ops.end(), n.op_type()) == ops.end()) {
        return false;
      }
      for (const AttributeProto& a : n.attribute()) {
        if (a.type() == AttributeProto::GRAPH && !OnlyOps(a.g(), ops)) return false;
      }
    }
    return true;
  }
  // A float constant of zeros, shape [1, dim], in the then branch or around it.
  bool IsZeros(const GraphProto& g, const std::string& name) const {
    for (const NodeProto& node : g.node()) {
      if (node.op_type() != "Constant") return false;
    }
    std::optional<Tensor> t = ConstTensor(name, &g);
    if (!t.has_value() || t->dtype() != DType::kFloat32 || t->dims().size() != 2 ||
        t->dims()[0] != 1) {
      return false;
    }
    for (float x : t->values<float>()) {
      if (x != 0.0f) return false;
    }
    return true;
  }
  // All ones: a float constant of ones, or Expand of one.
  bool IsOnes(const std::string& name) const {
    std::string source = name;
    const NodeProto* expand = Outer(name);
    if (expand != nullptr && expand->op_type() == "Expand" && expand->input_size() == 2) {
      source = expand->input(0);
    }
    std::optional<Tensor> t = ConstTensor(source, nullptr);
    if (!t.has_value() || t->dtype() != DType::kFloat32) return false;
    for (float x : t->values<float>()) {
      if (x != 1.0f) return false;
    }
    return true;
  }
  // x, or y when x = Identity(y).
  std::string ThroughIdentity(const std::string& name) const {
    const NodeProto* p = Outer(name);
    return p != nullptr && p->op_type() == "Identity" && p->input_size() == 1 ? p->input(0) : name;
  }
  // Rank 1 by construction: Reshape(x, [-1]).
  bool IsOneDimensional(const std::string& name) const {
    const NodeProto* r = Outer(name);
    return r != nullptr && r->op_type() == "Reshape" && r->input_size() == 2 &&
           Const(r->input(1)) == std::vector<int64_t>{-1};
  }

  mutable std::vector<const NodeProto*> used_cast_;
  std::string max_last_end_;  // max's form: where its last bag ends
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
  if (loop.input_size() == 4) return DynamoLoopMatcher(graph, loop).Match();
  return LoopMatcher(graph, loop).Match();
}

}  // namespace rankopt
