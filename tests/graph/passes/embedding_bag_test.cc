// The embedding-bag pass on Forward's embedding_bag.pb (a sequence_mask pooling) and on small
// TF graphs built like tf.sequence_mask writes them, and the _RankoptEmbeddingBag kernel.
#include "graph/passes/embedding_bag.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/analysis/shape_inference.h"
#include "graph/exec/op_kernel.h"
#include "graph/io/model_io.h"
#include "graph/kernels/embedding/embedding_kernels.h"
#include "graph/passes/pass_pipeline.h"
#include "tests/graph/kernels/kernel_test_harness.h"
#include "tests/graph/passes/pass_test_util.h"

namespace rankopt {
namespace {

using namespace pass_test;  // NOLINT: test builders
using ::testing::HasSubstr;

constexpr int64_t kRows = 6;  // table rows
constexpr int64_t kDim = 3;   // table columns
constexpr int64_t kLen = 4;   // L: ids per row

std::string TestData(const std::string& path) {
  return absl::StrCat(RANKOPT_TESTDATA_DIR, "/", path);
}

const std::string kBag(kEmbeddingBagOp);

template <typename T>
Tensor Ints(std::vector<int64_t> dims, const std::vector<T>& values) {
  return *Tensor::FromValues<T>(std::move(dims), values);
}

Node TfOp(std::string name, std::string op, std::vector<TensorRef> inputs, DType t) {
  Node node = Op(std::move(name), std::move(op), std::move(inputs));
  node.attrs.Set("T", t);
  return node;
}

Node TfCast(std::string name, TensorRef x, DType from, DType to) {
  Node node = Op(std::move(name), "Cast", {std::move(x)});
  node.attrs.Set("SrcT", from);
  node.attrs.Set("DstT", to);
  return node;
}

// What varies between the hand-built graphs.
struct BagGraphOptions {
  DType ids_dtype = DType::kInt32;
  DType lengths_dtype = DType::kInt32;
  bool constant_table = true;
  bool maxlen_is_input = false;  // Range(0, a Placeholder, 1): not provably L
  bool iota_constant = false;    // [0, 1, ..., L-1] folded into a Const
  bool mask_first = false;       // Mul(mask, gathered)
  int64_t sum_axis = 1;
  std::optional<std::vector<int32_t>> constant_lengths;  // lens column as a folded [n, 1] Const
};

// tf.reduce_sum(tf.gather(table, ids) * tf.expand_dims(tf.cast(tf.sequence_mask(lengths, L),
// tf.float32), -1), axis=1) as TF 1.x freezes it: the output is "sum".
Graph BagGraph(const BagGraphOptions& o) {
  const DType i32 = DType::kInt32;
  std::vector<Node> nodes;
  if (o.constant_table) {
    nodes.push_back(ConstNode("table", Floats({kRows, kDim}, RandomFloats(kRows * kDim, 21))));
  } else {
    nodes.push_back(Input("table", {kRows, kDim}));
  }
  nodes.push_back(Op("table/read", "Identity", {{"table", 0}}));
  nodes.push_back(Input("ids", {-1, kLen}, false, o.ids_dtype));
  nodes.push_back(ConstNode("axis0", Ints<int32_t>({}, {0})));
  nodes.push_back(Op("gather", "GatherV2", {{"table/read", 0}, {"ids", 0}, {"axis0", 0}}));
  // The mask: Less(Range(0, maxlen, 1), Cast(ExpandDims(lengths, -1))).
  nodes.push_back(ConstNode("minus1", Ints<int32_t>({}, {-1})));
  TensorRef lens_col{"lens_col", 0};
  if (o.constant_lengths.has_value()) {
    const int64_t n = static_cast<int64_t>(o.constant_lengths->size());
    nodes.push_back(ConstNode("lens_col", Ints<int32_t>({n, 1}, *o.constant_lengths)));
  } else {
    nodes.push_back(Input("lengths", {-1}, false, o.lengths_dtype));
    nodes.push_back(
        TfOp("lengths/expand", "ExpandDims", {{"lengths", 0}, {"minus1", 0}}, o.lengths_dtype));
    nodes.push_back(TfCast("lens_col", {"lengths/expand", 0}, o.lengths_dtype, i32));
  }
  if (o.iota_constant) {
    nodes.push_back(ConstNode("iota", Ints<int32_t>({kLen}, {0, 1, 2, 3})));
  } else {
    nodes.push_back(ConstNode("zero", Ints<int32_t>({}, {0})));
    nodes.push_back(ConstNode("one", Ints<int32_t>({}, {1})));
    if (o.maxlen_is_input) {
      nodes.push_back(Input("maxlen", {}, false, i32));
    } else {
      nodes.push_back(ConstNode("maxlen", Ints<int32_t>({}, {kLen})));
    }
    Node range = Op("iota", "Range", {{"zero", 0}, {"maxlen", 0}, {"one", 0}});
    range.attrs.Set("Tidx", i32);
    nodes.push_back(range);
  }
  nodes.push_back(TfOp("less", "Less", {{"iota", 0}, lens_col}, i32));
  nodes.push_back(TfOp("mask/expand", "ExpandDims", {{"less", 0}, {"minus1", 0}}, DType::kBool));
  nodes.push_back(TfCast("mask", {"mask/expand", 0}, DType::kBool, DType::kFloat32));
  std::vector<TensorRef> operands = {{"gather", 0}, {"mask", 0}};
  if (o.mask_first) std::swap(operands[0], operands[1]);
  nodes.push_back(TfOp("mul", "Mul", operands, DType::kFloat32));
  nodes.push_back(ConstNode("sum_axis", Ints<int32_t>({}, {static_cast<int32_t>(o.sum_axis)})));
  Node sum = TfOp("sum", "Sum", {{"mul", 0}, {"sum_axis", 0}}, DType::kFloat32);
  sum.attrs.Set("keep_dims", false);
  nodes.push_back(sum);
  return MakeGraph(ModelFormat::kTfGraphDef, nodes, {"sum"});
}

Tensor IdsTensor(DType dtype, int64_t batch, const std::vector<int64_t>& values) {
  if (dtype == DType::kInt64) return Ints<int64_t>({batch, kLen}, values);
  return Ints<int32_t>({batch, kLen}, std::vector<int32_t>(values.begin(), values.end()));
}

Tensor LengthsTensor(DType dtype, const std::vector<int64_t>& values) {
  const int64_t n = static_cast<int64_t>(values.size());
  if (dtype == DType::kInt64) return Ints<int64_t>({n}, values);
  return Ints<int32_t>({n}, std::vector<int32_t>(values.begin(), values.end()));
}

// Deterministic ids in [0, kRows).
std::vector<int64_t> SomeIds(int64_t batch) {
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < batch * kLen; ++i) ids.push_back((i * 7 + 3) % kRows);
  return ids;
}

PassReport RunPass(const Graph& graph, Graph* out) {
  absl::StatusOr<PassReport> report = EmbeddingBagPass(graph, PassOptions(), out);
  EXPECT_TRUE(report.ok()) << report.status();
  return report.ok() ? *report : PassReport();
}

TEST(EmbeddingBagPassTest, SequenceMaskSumBecomesABagWithEqualResults) {
  // Lengths 0 (zeros), inside (1..4), beyond L (clamped) and negative (an empty bag).
  const std::vector<int64_t> lengths = {0, 1, 2, 4, 9, -3};
  const int64_t batch = static_cast<int64_t>(lengths.size());
  for (DType ids_dtype : {DType::kInt32, DType::kInt64}) {
    for (DType lengths_dtype : {DType::kInt32, DType::kInt64}) {
      for (bool mask_first : {false, true}) {
        BagGraphOptions o;
        o.ids_dtype = ids_dtype;
        o.lengths_dtype = lengths_dtype;
        o.mask_first = mask_first;
        const std::string what =
            absl::StrCat(DTypeName(ids_dtype), " ids, ", DTypeName(lengths_dtype),
                         " lengths, mask first ", mask_first);
        Graph graph = BagGraph(o);
        Graph bagged(graph.format());
        PassReport report = RunPass(graph, &bagged);
        EXPECT_TRUE(report.changed) << what;
        ASSERT_NE(bagged.FindNode("sum"), nullptr);
        const Node& bag = *bagged.FindNode("sum");
        ASSERT_EQ(bag.op, kBag) << what;
        ASSERT_EQ(bag.inputs.size(), 3u);
        EXPECT_EQ(bag.inputs[0].node, "table");
        EXPECT_EQ(bag.inputs[1].node, "ids");
        // int32 -> int32 and int64 -> int32 (narrowing: kept) casts of the lengths.
        EXPECT_EQ(bag.inputs[2].node, lengths_dtype == DType::kInt32 ? "lengths" : "lens_col");
        EXPECT_EQ(CountOp(bagged, "Sum"), 0);

        const std::vector<std::pair<std::string, Tensor>> feeds = {
            {"ids", IdsTensor(ids_dtype, batch, SomeIds(batch))},
            {"lengths", LengthsTensor(lengths_dtype, lengths)}};
        std::vector<Tensor> want = RunGraph(graph, feeds);
        std::vector<Tensor> got = RunGraph(bagged, feeds);
        ASSERT_EQ(want.size(), 1u);
        ASSERT_EQ(got.size(), 1u);
        ExpectNear(got[0], want[0], 1e-6, what);
        for (int64_t d = 0; d < kDim; ++d) {  // row 0 (length 0) and row 5 (length -3) are zeros
          EXPECT_EQ(got[0].values<float>()[d], 0.0f);
          EXPECT_EQ(got[0].values<float>()[5 * kDim + d], 0.0f);
        }
      }
    }
  }
}

TEST(EmbeddingBagPassTest, FoldedMaskPiecesAreRecognised) {
  // A constant iota and a constant [n, 1] lengths column (what constant folding leaves when the
  // lengths are constants; n = 1 broadcasts over the batch).
  for (const std::vector<int32_t>& lens :
       {std::vector<int32_t>{3}, std::vector<int32_t>{2, 0, 7}}) {
    BagGraphOptions o;
    o.iota_constant = true;
    o.constant_lengths = lens;
    Graph graph = BagGraph(o);
    Graph bagged(graph.format());
    EXPECT_TRUE(RunPass(graph, &bagged).changed);
    ASSERT_EQ(bagged.FindNode("sum")->op, kBag);
    const Node* lengths = bagged.FindNode(bagged.FindNode("sum")->inputs[2].node);
    ASSERT_NE(lengths, nullptr);
    EXPECT_EQ(lengths->op, "Const");
    EXPECT_EQ(lengths->attrs.Get<Tensor>("value")->dims(),
              std::vector<int64_t>{static_cast<int64_t>(lens.size())});
    const std::vector<std::pair<std::string, Tensor>> feeds = {
        {"ids", IdsTensor(DType::kInt32, 3, SomeIds(3))}};
    std::vector<Tensor> want = RunGraph(graph, feeds);
    std::vector<Tensor> got = RunGraph(bagged, feeds);
    ASSERT_EQ(got.size(), 1u);
    ExpectNear(got[0], want[0], 1e-6, absl::StrCat(lens.size(), " constant lengths"));
  }
}

TEST(EmbeddingBagPassTest, PatternsThatAreNotBagsAreLeftAlone) {
  struct Case {
    std::string what;
    BagGraphOptions options;
  };
  std::vector<Case> cases(3);
  cases[0].what = "maxlen fed at run time";
  cases[0].options.maxlen_is_input = true;
  cases[1].what = "sum over axis 2";
  cases[1].options.sum_axis = 2;
  cases[2].what = "table not constant";
  cases[2].options.constant_table = false;
  for (const Case& c : cases) {
    Graph graph = BagGraph(c.options);
    Graph out(graph.format());
    PassReport report = RunPass(graph, &out);
    EXPECT_FALSE(report.changed) << c.what;
    EXPECT_EQ(CountOp(out, kBag), 0) << c.what;
    EXPECT_EQ(CountOp(out, "Sum"), 1) << c.what;
  }

  // A table holding an inf: its masked terms are NaN in the graph, not zeros.
  Graph graph = BagGraph({});
  std::vector<Node> nodes = graph.nodes();
  std::vector<float> values = RandomFloats(kRows * kDim, 21);
  values[4] = std::numeric_limits<float>::infinity();
  nodes[0] = ConstNode("table", Floats({kRows, kDim}, values));
  ASSERT_TRUE(graph.SetNodes(nodes).ok());
  Graph out(graph.format());
  EXPECT_FALSE(RunPass(graph, &out).changed);
}

TEST(EmbeddingBagPassTest, AnIdOutsideTheTableIsAnErrorEvenInThePadding) {
  Graph graph = BagGraph({});
  Graph bagged(graph.format());
  ASSERT_TRUE(RunPass(graph, &bagged).changed);
  std::vector<int64_t> ids = SomeIds(2);
  ids[6] = kRows + 3;  // row 1, column 2: past its length 1
  Tensor ids_t = IdsTensor(DType::kInt32, 2, ids);
  Tensor lengths_t = LengthsTensor(DType::kInt32, {4, 1});
  for (const Graph* g : {&graph, &bagged}) {
    absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
        ExecutionPlan::Create(*g, PlanOptions{});
    ASSERT_TRUE(plan.ok()) << plan.status();
    auto view = [](const Tensor& t) {
      return TensorView{t.dtype(), Dims(t.dims().begin(), t.dims().end()),
                        const_cast<char*>(t.bytes().data())};
    };
    std::vector<Tensor> outputs;
    absl::Status run = (*plan)->Run({{"ids", view(ids_t)}, {"lengths", view(lengths_t)}}, &outputs);
    EXPECT_FALSE(run.ok());
    if (g == &bagged) {
      EXPECT_THAT(run.message(),
                  HasSubstr("id 9 at position 6 (row 1, column 2) is outside the table's rows "
                            "[0, 6)"));
    }
  }
}

TEST(EmbeddingBagPassTest, OnnxGraphsAreLeftAlone) {
  Graph graph(ModelFormat::kOnnx);
  Graph out(graph.format());
  PassReport report = RunPass(graph, &out);
  EXPECT_FALSE(report.changed);
}

// Forward's embedding_bag.pb: the masked product feeds both the Sum (a bag) and an FM square
// term, and the lengths are a constant 5 (== L) that broadcasts over the batch.
TEST(EmbeddingBagPassTest, ForwardFixtureMatchesTheUnfusedGraph) {
  absl::StatusOr<Graph> graph = LoadModel(TestData("tf/embedding_bag.pb"));
  ASSERT_TRUE(graph.ok()) << graph.status();
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 7 * 5; ++i) ids.push_back((i * 13 + 5) % 50);
  const std::vector<std::pair<std::string, Tensor>> feeds = {
      {"Placeholder", Ints<int32_t>({7, 5}, std::vector<int32_t>(ids.begin(), ids.end()))}};
  std::vector<Tensor> want = RunGraph(*graph, feeds);
  ASSERT_EQ(want.size(), 1u);

  // The pass alone on the imported graph (the mask still computed from Shape and Reshape).
  Graph bagged(graph->format());
  PassReport report = RunPass(*graph, &bagged);
  EXPECT_TRUE(report.changed);
  EXPECT_EQ(CountOp(bagged, kBag), 1);
  ASSERT_EQ(bagged.FindNode("Sum")->op, kBag);
  EXPECT_EQ(bagged.FindNode("Sum")->inputs[2].node, "Reshape");  // lengths [1] = {5}
  std::vector<Tensor> got = RunGraph(bagged, feeds);
  ASSERT_EQ(got.size(), 1u);
  ExpectNear(got[0], want[0], 1e-6, "embedding_bag.pb, pass alone");

  // O1: the mask's Reshape/ExpandDims/Cast are folded into a [1, 1] constant first.
  Graph optimized(graph->format());
  absl::StatusOr<std::vector<PassReport>> reports =
      OptimizeGraph(*graph, OptLevel::kO1, {}, &optimized);
  ASSERT_TRUE(reports.ok()) << reports.status();
  std::printf("[ node counts ] tf/embedding_bag.pb: %zu -> %zu (O0 -> O1)\n", graph->num_nodes(),
              optimized.num_nodes());
  for (const PassReport& r : *reports) {
    std::printf("  %s: nodes %lld -> %lld\n", r.pass.c_str(),
                static_cast<long long>(r.nodes_before), static_cast<long long>(r.nodes_after));
    for (const std::string& note : r.notes) std::printf("    %s\n", note.c_str());
  }
  EXPECT_EQ(CountOp(optimized, kBag), 1);
  EXPECT_EQ(CountOp(optimized, std::string(kEmbeddingLookupOp)), 1);  // for the square term
  EXPECT_EQ(CountOp(optimized, "Sum"), 1);
  absl::StatusOr<ShapeMap> shapes = InferShapes(optimized);
  ASSERT_TRUE(shapes.ok()) << shapes.status();
  EXPECT_EQ(LookupInferred(*shapes, {"Sum", 0}).shape, Shape({Shape::kUnknownDim, 10}));
  EXPECT_EQ(LookupInferred(*shapes, {"sub", 0}).shape, Shape({Shape::kUnknownDim, 10}));
  std::vector<Tensor> o1 = RunGraph(optimized, feeds);
  ASSERT_EQ(o1.size(), 1u);
  ExpectNear(o1[0], want[0], 1e-6, "embedding_bag.pb, O1");
}

// ---- the kernel, outside any graph ----

Node BagNode(const std::string& mode) {
  Node node = Op("bag", kBag, {{"table", 0}, {"ids", 0}, {"lengths", 0}});
  node.attrs.Set("mode", mode);
  return node;
}

absl::StatusOr<std::vector<Tensor>> RunBag(const std::string& mode, const Tensor& table,
                                           const Tensor& ids, const Tensor& lengths) {
  return RunKernel(KernelRegistry::Default(), BagNode(mode), ModelFormat::kTfGraphDef,
                   {table, ids, lengths}, {true, false, false});
}

std::vector<float> Values(const Tensor& t) {
  return std::vector<float>(t.values<float>().begin(), t.values<float>().end());
}

TEST(EmbeddingBagKernelTest, SumAndMeanOverClampedLengths) {
  const Tensor table = Floats({4, 2}, {0, 1, 10, 11, 20, 21, 30, 31});
  // Row 0: ids 1, 2, 3 (length 3); row 1: id 3 (length 1, padding 0s); row 2: empty;
  // row 3: length 7 clamps to 3.
  const Tensor ids = Ints<int64_t>({4, 3}, {1, 2, 3, 3, 0, 0, 2, 2, 2, 0, 1, 2});
  const Tensor lengths = Ints<int32_t>({4}, {3, 1, 0, 7});
  absl::StatusOr<std::vector<Tensor>> sum = RunBag("sum", table, ids, lengths);
  ASSERT_TRUE(sum.ok()) << sum.status();
  ASSERT_EQ(sum->size(), 1u);
  EXPECT_EQ((*sum)[0].dims(), (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(Values((*sum)[0]), (std::vector<float>{60, 63, 30, 31, 0, 0, 30, 33}));
  absl::StatusOr<std::vector<Tensor>> mean = RunBag("mean", table, ids, lengths);
  ASSERT_TRUE(mean.ok()) << mean.status();
  EXPECT_EQ(Values((*mean)[0]), (std::vector<float>{20, 21, 30, 31, 0, 0, 10, 11}));
}

TEST(EmbeddingBagKernelTest, LengthsBroadcastAndTakeEveryShape) {
  const Tensor table = Floats({4, 2}, {0, 1, 10, 11, 20, 21, 30, 31});
  const Tensor ids = Ints<int32_t>({2, 2}, {1, 2, 3, 0});
  // One length for every row, as a scalar and as [1, 1].
  for (const Tensor& one : {Ints<int64_t>({}, {1}), Ints<int64_t>({1, 1}, {1})}) {
    absl::StatusOr<std::vector<Tensor>> out = RunBag("sum", table, ids, one);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(Values((*out)[0]), (std::vector<float>{10, 11, 30, 31}));
  }
  // One row of ids, three lengths: three bags over that row.
  const Tensor row = Ints<int32_t>({1, 2}, {1, 2});
  absl::StatusOr<std::vector<Tensor>> out =
      RunBag("sum", table, row, Ints<int32_t>({3, 1}, {0, 1, 2}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Values((*out)[0]), (std::vector<float>{0, 0, 10, 11, 30, 32}));
  // Zero rows.
  out = RunBag("mean", table, Ints<int32_t>({0, 2}, {}), Ints<int32_t>({0}, {}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].dims(), (std::vector<int64_t>{0, 2}));
}

TEST(EmbeddingBagKernelTest, BadInputsAreErrorsNamingTheProblem) {
  const Tensor table = Floats({4, 2}, {0, 1, 10, 11, 20, 21, 30, 31});
  const Tensor ids = Ints<int32_t>({2, 2}, {1, 2, 3, 0});
  absl::StatusOr<std::vector<Tensor>> out =
      RunBag("sum", table, ids, Ints<int32_t>({3}, {1, 1, 1}));
  EXPECT_THAT(out.status().message(), HasSubstr("have 2 rows but lengths"));
  out = RunBag("sum", table, ids, Ints<int32_t>({2, 2}, {1, 1, 1, 1}));
  EXPECT_THAT(out.status().message(), HasSubstr("expected int32 or int64 of shape [batch]"));
  out = RunBag("sum", table, Ints<int32_t>({4}, {1, 2, 3, 0}), Ints<int32_t>({2}, {1, 1}));
  EXPECT_THAT(out.status().message(), HasSubstr("expected [batch, length] int32 or int64"));
  out = RunBag("sum", table, Ints<int32_t>({2, 2}, {1, 2, -1, 0}), Ints<int32_t>({2}, {1, 0}));
  EXPECT_THAT(
      out.status().message(),
      HasSubstr("id -1 at position 2 (row 1, column 0) is outside the table's rows [0, 4)"));
  out = RunBag("max", table, ids, Ints<int32_t>({2}, {1, 1}));
  EXPECT_THAT(out.status().message(), HasSubstr("attr 'mode' is 'max'"));
  out = RunKernel(KernelRegistry::Default(), BagNode("sum"), ModelFormat::kTfGraphDef,
                  {table, ids, Ints<int32_t>({2}, {1, 1})}, {false, false, false});
  EXPECT_THAT(out.status().message(), HasSubstr("must be a constant [rows, dim] float32 table"));
}

}  // namespace
}  // namespace rankopt
