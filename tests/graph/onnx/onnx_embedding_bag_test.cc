// The importer's rewrite of PyTorch's EmbeddingBag Loop (graph/onnx/onnx_embedding_bag.h): Loop
// graphs built here the way torch's exporter writes them (symbolic_opset11.embedding_bag) import
// as one _RankoptEmbeddingBagOffsets node and compute what the Loop computes (by hand below);
// Loops that differ keep a clear error saying which condition failed.
#include "graph/onnx/onnx_embedding_bag.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/file_io.h"
#include "graph/exec/tensor_json.h"
#include "graph/onnx/onnx_io.h"
#include "tests/graph/passes/pass_test_util.h"

namespace rankopt {
namespace {

using ::testing::HasSubstr;

onnx::NodeProto* Add(onnx::GraphProto* g, const std::string& op, std::vector<std::string> in,
                     std::vector<std::string> out) {
  onnx::NodeProto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(out.empty() ? op : out[0]);
  for (const std::string& s : in) n->add_input(s);
  for (const std::string& s : out) n->add_output(s);
  return n;
}

void SetInt(onnx::NodeProto* n, const std::string& name, int64_t v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void SetInts(onnx::NodeProto* n, const std::string& name, std::vector<int64_t> v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

// Constant node `name` holding int64 `v` (a scalar when `scalar`); dtype bool when `as_bool`.
void Const(onnx::GraphProto* g, const std::string& name, std::vector<int64_t> v,
           bool scalar = false, bool as_bool = false) {
  onnx::NodeProto* n = Add(g, "Constant", {}, {name});
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  onnx::TensorProto* t = a->mutable_t();
  t->set_data_type(as_bool ? onnx::TensorProto::BOOL : onnx::TensorProto::INT64);
  if (!scalar) t->add_dims(static_cast<int64_t>(v.size()));
  for (int64_t x : v) {
    if (as_bool) {
      t->add_int32_data(x != 0);
    } else {
      t->add_int64_data(x);
    }
  }
}

void Input(onnx::GraphProto* g, const std::string& name, int32_t elem_type) {
  onnx::ValueInfoProto* v = g->add_input();
  v->set_name(name);
  v->mutable_type()->mutable_tensor_type()->set_elem_type(elem_type);
  v->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_param("n");
}

// What the tests change in torch's structure.
struct Variant {
  std::string reduce = "ReduceSum";
  bool per_sample_weights = false;
  bool unfolded_starts = false;  // starts = Slice(offsets, 0:) as the exporter first writes it
  int64_t ends_from = 1;         // offsets[ends_from:] are the bag ends
  bool constant_trip_count = false;
  bool extra_body_node = false;  // a Relu on the gathered rows
};

// torch.onnx.export(nn.EmbeddingBag(5, 3, mode=...), (indices, offsets), opset 13) with
// include_last_offset=True: inputs "indices", "offsets" (bags + 1), ["psw"]; output "y".
onnx::ModelProto BagModel(const Variant& v) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name("bag");
  Input(g, "indices", onnx::TensorProto::INT64);
  Input(g, "offsets", onnx::TensorProto::INT64);
  if (v.per_sample_weights) Input(g, "psw", onnx::TensorProto::FLOAT);
  onnx::TensorProto* w = g->add_initializer();
  w->set_name("weight");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(5);
  w->add_dims(3);
  for (int i = 0; i < 15; ++i)
    w->add_float_data(static_cast<float>((i / 3 + 1) * (i % 3 == 1 ? -1 : 1)));

  Const(g, "zero", {0});
  Const(g, "one", {1});
  Const(g, "big", {std::numeric_limits<int64_t>::max()});
  Const(g, "ends_from", {v.ends_from});
  Const(g, "zero_scalar", {0}, /*scalar=*/true);
  Const(g, "true", {1}, /*scalar=*/true, /*as_bool=*/true);
  std::string starts = "offsets";
  if (v.unfolded_starts) {
    Add(g, "Slice", {"offsets", "zero", "big", "zero", "one"}, {"starts"});
    starts = "starts";
  }
  Add(g, "Slice", {"offsets", "ends_from", "big", "zero", "one"}, {"ends"});
  if (v.constant_trip_count) {
    Const(g, "trips", {2}, /*scalar=*/true);
  } else {
    Add(g, "Shape", {"ends"}, {"ends_shape"});
    SetInt(Add(g, "Gather", {"ends_shape", "zero_scalar"}, {"trips"}), "axis", 0);
  }
  onnx::NodeProto* loop = Add(g, "Loop", {"trips", "true"}, {"y"});
  loop->set_name("loop");
  onnx::ValueInfoProto* y = g->add_output();
  y->set_name("y");
  y->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  y->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_param("bags");
  y->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(3);

  onnx::AttributeProto* body_attr = loop->add_attribute();
  body_attr->set_name("body");
  body_attr->set_type(onnx::AttributeProto::GRAPH);
  onnx::GraphProto* b = body_attr->mutable_g();
  b->set_name("body");
  b->add_input()->set_name("i");
  b->add_input()->set_name("cond");
  SetInt(Add(b, "Gather", {starts, "i"}, {"start_s"}), "axis", 0);
  SetInt(Add(b, "Gather", {"ends", "i"}, {"end_s"}), "axis", 0);
  Const(b, "axes0", {0});
  Add(b, "Unsqueeze", {"start_s", "axes0"}, {"start"});
  Add(b, "Unsqueeze", {"end_s", "axes0"}, {"end"});
  Add(b, "Slice", {"indices", "start", "end", "axes0"}, {"ids"});
  SetInt(Add(b, "Gather", {"weight", "ids"}, {"rows"}), "axis", 0);
  std::string rows = "rows";
  if (v.per_sample_weights) {
    Add(b, "Slice", {"psw", "start", "end", "axes0"}, {"psw_row"});
    Const(b, "axes1", {1});
    Add(b, "Unsqueeze", {"psw_row", "axes1"}, {"psw_col"});
    Add(b, "Mul", {"psw_col", "rows"}, {"scaled"});
    rows = "scaled";
  }
  if (v.extra_body_node) {
    Add(b, "Relu", {rows}, {"relu"});
    rows = "relu";
  }
  onnx::NodeProto* reduce;
  if (v.reduce == "ReduceSum") {
    reduce = Add(b, v.reduce, {rows, "axes0"}, {"pooled"});
  } else {
    reduce = Add(b, v.reduce, {rows}, {"pooled"});
    SetInts(reduce, "axes", {0});
  }
  SetInt(reduce, "keepdims", 0);
  SetInt(Add(b, "Cast", {"true"}, {"cond_out"}), "to", onnx::TensorProto::BOOL);
  b->add_output()->set_name("cond_out");
  b->add_output()->set_name("pooled");
  return m;
}

Tensor Ints(std::vector<int64_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return *Tensor::FromValues<int64_t>({n}, v);
}

// Imports `v`'s model and runs it on bags {1, 4}, {} and {0, 4, 2} (offsets 0, 2, 2, 5).
std::vector<Tensor> ImportAndRun(const Variant& v, Graph* graph_out = nullptr) {
  absl::StatusOr<Graph> graph = GraphFromOnnxModel(BagModel(v), "bag.onnx");
  EXPECT_TRUE(graph.ok()) << graph.status();
  if (!graph.ok()) return {};
  std::vector<std::pair<std::string, Tensor>> feeds = {{"indices", Ints({1, 4, 0, 4, 2})},
                                                       {"offsets", Ints({0, 2, 2, 5})}};
  if (v.per_sample_weights) {
    feeds.push_back(
        {"psw", *Tensor::FromValues<float>({5}, std::vector<float>{1, 2, 3, 0.5f, -1})});
  }
  std::vector<Tensor> out = pass_test::RunGraph(*graph, feeds);
  if (graph_out != nullptr) *graph_out = *std::move(graph);
  return out;
}

// want[b] = (column 0, column 1) of bag b's row; column 2 equals column 0 (row r of the weight
// is (r + 1, -(r + 1), r + 1)).
void ExpectRows(const std::vector<Tensor>& out, const std::vector<std::vector<float>>& want) {
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].dims(), (std::vector<int64_t>{static_cast<int64_t>(want.size()), 3}));
  for (size_t r = 0; r < want.size(); ++r) {
    const float expected[3] = {want[r][0], want[r][1], want[r][0]};
    for (int c = 0; c < 3; ++c) {
      const float got = out[0].values<float>()[r * 3 + c];
      if (std::isinf(expected[c])) {
        EXPECT_EQ(got, expected[c]) << "bag " << r << " column " << c;
      } else {
        EXPECT_FLOAT_EQ(got, expected[c]) << "bag " << r << " column " << c;
      }
    }
  }
}

TEST(OnnxEmbeddingBagTest, SumLoopBecomesOneNode) {
  Graph graph(ModelFormat::kOnnx);
  std::vector<Tensor> out = ImportAndRun(Variant{}, &graph);
  EXPECT_EQ(pass_test::CountOp(graph, "Loop"), 0);
  EXPECT_EQ(pass_test::CountOp(graph, std::string(kOnnxEmbeddingBagOp)), 1);
  // Bags {1, 4}, {}, {0, 4, 2}: rows 2 + 5, nothing, 1 + 5 + 3; column 1 negated.
  ExpectRows(out, {{7, -7}, {0, 0}, {9, -9}});
}

TEST(OnnxEmbeddingBagTest, MeanLoop) {
  Variant v;
  v.reduce = "ReduceMean";
  v.unfolded_starts = true;
  // An empty bag's ReduceMean is 0 in ONNX Runtime (torch eager gives 0 too).
  ExpectRows(ImportAndRun(v), {{3.5f, -3.5f}, {0, 0}, {3, -3}});
}

TEST(OnnxEmbeddingBagTest, MaxLoop) {
  Variant v;
  v.reduce = "ReduceMax";
  const float inf = std::numeric_limits<float>::infinity();
  // Column 1 holds -(r + 1): its max is the smallest row. An empty bag is -inf (ReduceMax of an
  // empty set; ONNX Runtime's Loop gives the same).
  ExpectRows(ImportAndRun(v), {{5, -2}, {-inf, -inf}, {5, -1}});
}

TEST(OnnxEmbeddingBagTest, PerSampleWeights) {
  Variant v;
  v.per_sample_weights = true;
  // Weights 1, 2 | - | 3, 0.5, -1: 2 * 1 + 5 * 2 = 12; 1 * 3 + 5 * 0.5 + 3 * -1 = 2.5.
  ExpectRows(ImportAndRun(v), {{12, -12}, {0, 0}, {2.5f, -2.5f}});
}

TEST(OnnxEmbeddingBagTest, BadOffsetsAtRunTimeNameTheNode) {
  absl::StatusOr<Graph> graph = GraphFromOnnxModel(BagModel(Variant{}), "bag.onnx");
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(*graph, PlanOptions{});
  ASSERT_TRUE(plan.ok()) << plan.status();
  const Tensor ids = Ints({1, 4, 0}), offsets = Ints({0, 3, 2});
  auto view = [](const Tensor& t) {
    return TensorView{t.dtype(), Dims(t.dims().begin(), t.dims().end()),
                      const_cast<char*>(t.bytes().data())};
  };
  std::vector<Tensor> out;
  absl::Status s = (*plan)->Run({{"indices", view(ids)}, {"offsets", view(offsets)}}, &out);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("loop"));
  EXPECT_THAT(s.message(), HasSubstr("offsets decrease at position 2"));
  const Tensor bad_ids = Ints({1, 9, 0});
  const Tensor good_offsets = Ints({0, 3});
  s = (*plan)->Run({{"indices", view(bad_ids)}, {"offsets", view(good_offsets)}}, &out);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("id 9 at indices position 1"));
}

// Export writes the op back as the standard Loop (ONNX checker clean), which imports again to
// the same op and results.
TEST(OnnxEmbeddingBagTest, ExportsBackToALoop) {
  for (const char* reduce : {"ReduceSum", "ReduceMax"}) {
    Variant v;
    v.reduce = reduce;
    v.per_sample_weights = v.reduce == "ReduceSum";
    Graph graph(ModelFormat::kOnnx);
    const std::vector<Tensor> before = ImportAndRun(v, &graph);
    absl::StatusOr<onnx::ModelProto> exported = OnnxModelFromGraph(graph);
    ASSERT_TRUE(exported.ok()) << exported.status();
    int loops = 0;
    for (const onnx::NodeProto& n : exported->graph().node()) loops += n.op_type() == "Loop";
    EXPECT_EQ(loops, 1) << reduce;
    absl::Status checked = CheckOnnxModel(*exported);
    EXPECT_TRUE(checked.ok()) << checked;
    absl::StatusOr<Graph> again = GraphFromOnnxModel(*exported, "exported.onnx");
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(pass_test::CountOp(*again, std::string(kOnnxEmbeddingBagOp)), 1);
    std::vector<std::pair<std::string, Tensor>> feeds = {{"indices", Ints({1, 4, 0, 4, 2})},
                                                         {"offsets", Ints({0, 2, 2, 5})}};
    if (v.per_sample_weights) {
      feeds.push_back(
          {"psw", *Tensor::FromValues<float>({5}, std::vector<float>{1, 2, 3, 0.5f, -1})});
    }
    const std::vector<Tensor> after = pass_test::RunGraph(*again, feeds);
    ASSERT_EQ(after.size(), 1u);
    ASSERT_EQ(before.size(), 1u);
    EXPECT_EQ(after[0], before[0]) << reduce;
  }
}

// Imports NAME.onnx of tests/data/onnx_ebag, checks it became one bag node, runs NAME.json's
// inputs and compares with its reference (ONNX Runtime running the export). Returns how many
// reference elements were -inf (written as the lowest float32 by make_ebag_fixtures.py).
// With `model`, that model stands for NAME.onnx.
int ExpectMatchesOnnxRuntime(const std::string& name, const onnx::ModelProto* model = nullptr) {
  SCOPED_TRACE(name);
  const std::string dir = std::string(RANKOPT_TESTDATA_DIR) + "/onnx_ebag/";
  absl::StatusOr<Graph> graph = model != nullptr ? GraphFromOnnxModel(*model, name)
                                                 : ImportOnnxFile(dir + name + ".onnx");
  EXPECT_TRUE(graph.ok()) << graph.status();
  if (!graph.ok()) return -1;
  EXPECT_EQ(pass_test::CountOp(*graph, std::string(kOnnxEmbeddingBagOp)), 1);
  EXPECT_EQ(pass_test::CountOp(*graph, "Loop"), 0);
  EXPECT_EQ(pass_test::CountOp(*graph, "ConcatFromSequence"), 0);
  absl::StatusOr<std::string> json = ReadFileToString(dir + name + ".json");
  EXPECT_TRUE(json.ok()) << json.status();
  if (!json.ok()) return -1;
  absl::StatusOr<TensorJsonDocument> doc = ParseTensorJson(*json, name);
  EXPECT_TRUE(doc.ok()) << doc.status();
  if (!doc.ok()) return -1;
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(*graph, PlanOptions{});
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (!plan.ok()) return -1;
  std::vector<Tensor> out;
  absl::Status run = (*plan)->Run(FeedsOf(doc->inputs), &out);
  EXPECT_TRUE(run.ok()) << run;
  if (!run.ok() || out.size() != 1u || doc->reference_outputs.size() != 1u) {
    ADD_FAILURE() << "expected one output and one reference";
    return -1;
  }
  const Tensor& want = doc->reference_outputs[0].tensor;
  EXPECT_EQ(out[0].dims(), want.dims());
  if (out[0].dims() != want.dims()) return -1;
  int minus_inf = 0;
  for (int64_t i = 0; i < want.num_elements(); ++i) {
    const float w = want.values<float>()[i], got = out[0].values<float>()[i];
    if (w == std::numeric_limits<float>::lowest()) {  // ONNX Runtime's -inf (see the script)
      EXPECT_EQ(got, -std::numeric_limits<float>::infinity()) << "element " << i;
      ++minus_inf;
      continue;
    }
    EXPECT_NEAR(got, w, 1e-6 * std::max(1.0f, std::abs(w))) << "element " << i;
  }
  return minus_inf;
}

// Real exports: nn.EmbeddingBag through torch 1.13's exporter (sum / mean / max at opset 13,
// mean and weighted sum with include_last_offset at 17; every input has an empty bag), against
// ONNX Runtime running the Loop (tests/data/onnx_ebag/make_ebag_fixtures.py).
TEST(OnnxEmbeddingBagTest, TorchExportsMatchOnnxRuntime) {
  for (const char* name : {"ebag_sum_op13", "ebag_mean_op13", "ebag_max_op13", "ebag_mean_op17",
                           "ebag_sum_weighted_last_op17"}) {
    // Only max has -inf: its empty bag (4 values).
    EXPECT_EQ(ExpectMatchesOnnxRuntime(name), std::string(name) == "ebag_max_op13" ? 4 : 0)
        << name;
  }
}

// The same bags through torch 2.11's dynamo exporter (onnxscript's Loop over a sequence, an If
// per bag; mean's last bag its own branch; include_last_offset with per-sample weights), against
// onnxruntime 1.30 (make_ebag_fixtures.py --dynamo). Export writes the TorchScript form back.
TEST(OnnxEmbeddingBagTest, DynamoExportsMatchOnnxRuntime) {
  for (const char* name : {"ebag_dyn_sum", "ebag_dyn_mean", "ebag_dyn_sum_weighted_last"}) {
    EXPECT_EQ(ExpectMatchesOnnxRuntime(name), 0) << name;
    absl::StatusOr<Graph> graph = ImportOnnxFile(std::string(RANKOPT_TESTDATA_DIR) +
                                                 "/onnx_ebag/" + name + ".onnx");
    ASSERT_TRUE(graph.ok()) << graph.status();
    absl::StatusOr<onnx::ModelProto> exported = OnnxModelFromGraph(*graph);
    ASSERT_TRUE(exported.ok()) << exported.status();
    absl::StatusOr<Graph> again = GraphFromOnnxModel(*exported, "exported.onnx");
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(pass_test::CountOp(*again, std::string(kOnnxEmbeddingBagOp)), 1) << name;
  }
}

// The exporter writes the Loop's two carried values (counter, sequence) in either order from
// run to run: the swapped order of the same export imports and matches too.
TEST(OnnxEmbeddingBagTest, DynamoLoopCarriedValuesInEitherOrder) {
  absl::StatusOr<std::string> bytes =
      ReadFileToString(std::string(RANKOPT_TESTDATA_DIR) + "/onnx_ebag/ebag_dyn_sum.onnx");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  onnx::ModelProto model;
  ASSERT_TRUE(model.ParseFromString(*bytes));
  int swapped = 0;
  for (onnx::NodeProto& node : *model.mutable_graph()->mutable_node()) {
    if (node.op_type() != "Loop") continue;
    ASSERT_EQ(node.input_size(), 4);
    node.mutable_input()->SwapElements(2, 3);
    node.mutable_output()->SwapElements(0, 1);
    onnx::GraphProto* body = node.mutable_attribute(0)->mutable_g();
    body->mutable_input()->SwapElements(2, 3);
    body->mutable_output()->SwapElements(1, 2);
    ++swapped;
  }
  ASSERT_EQ(swapped, 1);
  EXPECT_EQ(ExpectMatchesOnnxRuntime("ebag_dyn_sum", &model), 0);
}

// Its max bag pools an empty bag to zeros (torch's answer), not -inf: imported with attr
// empty_is_zero and matching ONNX Runtime; export refuses it (the TorchScript Loop cannot say it).
TEST(OnnxEmbeddingBagTest, DynamoMaxEmptyBagIsZerosAndIsNotExported) {
  EXPECT_EQ(ExpectMatchesOnnxRuntime("ebag_dyn_max"), 0);
  absl::StatusOr<Graph> graph =
      ImportOnnxFile(std::string(RANKOPT_TESTDATA_DIR) + "/onnx_ebag/ebag_dyn_max.onnx");
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::StatusOr<onnx::ModelProto> exported = OnnxModelFromGraph(*graph);
  ASSERT_FALSE(exported.ok());
  EXPECT_THAT(exported.status().message(), HasSubstr("empty bags are zeros"));
}

void ExpectNotMatched(const Variant& v, const std::string& why) {
  absl::StatusOr<Graph> graph = GraphFromOnnxModel(BagModel(v), "bag.onnx");
  ASSERT_FALSE(graph.ok());
  EXPECT_EQ(graph.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(graph.status().message(), HasSubstr("bag.onnx: ONNX Loop is not supported"));
  EXPECT_THAT(graph.status().message(), HasSubstr("Loop node 'loop'"));
  EXPECT_THAT(graph.status().message(), HasSubstr(why));
}

// Found by onnx_fuzz (tests/data/fuzz/onnx_fuzz/): an EmbeddingBag Loop whose condition constant
// is a bool of raw byte 0x11, read as C++ bool by the matcher (undefined behaviour under UBSan).
// Any nonzero byte is true: the condition passes, and the matcher goes on to the next thing the
// fuzzer changed (the bag's end), which it names. Run under scripts/sanitize.sh asan (UBSan).
TEST(OnnxEmbeddingBagTest, FuzzedBoolConditionByteIsTrue) {
  absl::StatusOr<std::string> bytes = ReadFileToString(
      std::string(RANKOPT_TESTDATA_DIR) + "/fuzz/onnx_fuzz/loop_condition_bool_byte.onnx");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<Graph> graph = ImportOnnxBytes(*bytes, "fuzzed");
  ASSERT_FALSE(graph.ok());
  EXPECT_EQ(graph.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(graph.status().message()),
              HasSubstr("the bag's end '/bag/Unsqueeze_2_output_0' is not Unsqueeze(Gather(offsets"));
}

// onnx_fuzz's mutation of ebag_dyn_max.onnx: a node of the bag's If without outputs. The dynamo
// matcher read its output 0 (UBSan: protobuf's null rep); it now names the mismatch.
TEST(OnnxEmbeddingBagTest, FuzzedDynamoNodeWithoutOutputs) {
  absl::StatusOr<std::string> bytes = ReadFileToString(
      std::string(RANKOPT_TESTDATA_DIR) + "/fuzz/onnx_fuzz/dynamo_bag_node_without_outputs.onnx");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<Graph> graph = ImportOnnxBytes(*bytes, "fuzzed");
  ASSERT_FALSE(graph.ok());
  EXPECT_EQ(graph.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(graph.status().message()),
              HasSubstr("its else branch is not the exporter's max"));
}

TEST(OnnxEmbeddingBagTest, OtherLoopsSayWhyTheyDoNotMatch) {
  Variant v;
  v.reduce = "ReduceL2";
  ExpectNotMatched(v, "'pooled' (ReduceL2), not ReduceSum, ReduceMean or ReduceMax");
  v = Variant{};
  v.ends_from = 2;
  ExpectNotMatched(v, "the bag ends 'ends' are not Slice(offsets, starts [1]");
  v = Variant{};
  v.constant_trip_count = true;
  ExpectNotMatched(v, "its trip count 'trips' is not Gather(Shape(bag ends), 0)");
  v = Variant{};
  v.extra_body_node = true;
  ExpectNotMatched(v, "comes from 'relu' (Relu); expected Gather(weight, ids)");
}

}  // namespace
}  // namespace rankopt
