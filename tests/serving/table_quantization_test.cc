#include "serving/table_quantization.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "graph/exec/tensor_json.h"
#include "graph/io/model_io.h"
#include "graph/kernels/embedding/embedding_kernels.h"
#include "graph/passes/pass_pipeline.h"
#include "graph/passes/request_level.h"

namespace rankopt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

std::string TestData(const std::string& path) {
  return absl::StrCat(RANKOPT_TESTDATA_DIR, "/", path);
}

class TableQuantizationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Graph> graph = LoadModel(TestData("peers/din.onnx"));
    ASSERT_TRUE(graph.ok()) << graph.status();
    graph_ = *std::move(graph);
    absl::StatusOr<std::string> text = ReadFileToString(TestData("peers/din_ref.json"));
    ASSERT_TRUE(text.ok()) << text.status();
    absl::StatusOr<TensorJsonDocument> doc = ParseTensorJson(*text, "din_ref.json");
    ASSERT_TRUE(doc.ok()) << doc.status();
    doc_ = *std::move(doc);
    samples_ = {FeedsOf(doc_.inputs)};
  }

  // Every table of the model as `dtype`.
  std::vector<EmbeddingTable> QuantizeAll(TableDType dtype) {
    std::vector<EmbeddingTable> tables;
    absl::StatusOr<std::vector<const Node*>> nodes = FindEmbeddingTables(graph_, {"all"}, "din");
    EXPECT_TRUE(nodes.ok()) << nodes.status();
    for (const Node* node : *nodes) {
      const Tensor& value = TableValue(*node);
      absl::StatusOr<EmbeddingTable> fp32 = EmbeddingTable::FromFloat32(
          node->name, value.dims()[0], value.dims()[1], value.values<float>());
      EXPECT_TRUE(fp32.ok()) << fp32.status();
      if (dtype == TableDType::kFloat32) {
        tables.push_back(*std::move(fp32));
        continue;
      }
      absl::StatusOr<EmbeddingTable> q = EmbeddingTable::Quantize(*fp32, dtype);
      EXPECT_TRUE(q.ok()) << q.status();
      tables.push_back(*std::move(q));
    }
    return tables;
  }

  static std::vector<const EmbeddingTable*> Pointers(const std::vector<EmbeddingTable>& tables) {
    std::vector<const EmbeddingTable*> out;
    for (const EmbeddingTable& t : tables) out.push_back(&t);
    return out;
  }

  Graph graph_{ModelFormat::kOnnx};
  TensorJsonDocument doc_;
  std::vector<GateSample> samples_;
};

TEST_F(TableQuantizationTest, FindsTheTablesGathersRead) {
  absl::StatusOr<std::vector<const Node*>> all = FindEmbeddingTables(graph_, {"all"}, "din");
  ASSERT_TRUE(all.ok()) << all.status();
  std::vector<std::string> names;
  for (const Node* node : *all) names.push_back(node->name);
  // Shared tables (item and cate serve the candidate and the history) are listed once.
  EXPECT_THAT(names, ElementsAre("user_emb.weight", "item_emb.weight", "cate_emb.weight"));

  absl::StatusOr<std::vector<const Node*>> typo =
      FindEmbeddingTables(graph_, {"item_emb.wieght"}, "din.onnx");
  ASSERT_FALSE(typo.ok());
  EXPECT_THAT(typo.status().message(), HasSubstr("'item_emb.weight'"));
  absl::StatusOr<std::vector<const Node*>> not_a_table =
      FindEmbeddingTables(graph_, {"fc1.bias"}, "din.onnx");
  ASSERT_FALSE(not_a_table.ok());
  EXPECT_THAT(not_a_table.status().message(), HasSubstr("not a 2-D float32 constant"));
}

TEST_F(TableQuantizationTest, Fp32TablesChangeNothing) {
  std::vector<EmbeddingTable> tables = QuantizeAll(TableDType::kFloat32);
  absl::StatusOr<TableGateReport> report =
      EvaluateTableQuantization(graph_, Pointers(tables), samples_, {}, GateBudgets());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->outputs, "prob");
  EXPECT_EQ(report->predictions, 16);
  EXPECT_EQ(report->result.max_abs_diff, 0.0);  // the same weights give the same bits
  EXPECT_TRUE(report->result.passed);
}

TEST_F(TableQuantizationTest, Int8TablesPassTheDefaultGate) {
  std::vector<EmbeddingTable> tables = QuantizeAll(TableDType::kInt8RowWise);
  absl::StatusOr<TableGateReport> report =
      EvaluateTableQuantization(graph_, Pointers(tables), samples_, {}, GateBudgets());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_GT(report->result.max_abs_diff, 0.0);   // int8 does change the predictions ...
  EXPECT_LT(report->result.max_abs_diff, 1e-2);  // ... within the default budget
  EXPECT_TRUE(report->result.passed) << report->result.reason;

  GateBudgets strict;
  strict.max_abs_diff = report->result.max_abs_diff / 2;
  absl::StatusOr<TableGateReport> failed =
      EvaluateTableQuantization(graph_, Pointers(tables), samples_, {}, strict);
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_FALSE(failed->result.passed);
  EXPECT_THAT(failed->result.reason, HasSubstr("max abs diff"));
}

TEST_F(TableQuantizationTest, ForeignTablesAreErrors) {
  std::vector<float> zeros(4 * 16, 0.0f);
  absl::StatusOr<EmbeddingTable> stranger = EmbeddingTable::FromFloat32("no_such", 4, 16, zeros);
  ASSERT_TRUE(stranger.ok());
  absl::StatusOr<TableGateReport> report =
      EvaluateTableQuantization(graph_, {&*stranger}, samples_, {}, GateBudgets());
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.status().message(), HasSubstr("'no_such' is not a table constant"));

  absl::StatusOr<EmbeddingTable> wrong_rows =
      EmbeddingTable::FromFloat32("item_emb.weight", 4, 16, zeros);
  ASSERT_TRUE(wrong_rows.ok());
  report = EvaluateTableQuantization(graph_, {&*wrong_rows}, samples_, {}, GateBudgets());
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.status().message(), HasSubstr("is 4 x 16 but the model's constant is"));
}

TEST_F(TableQuantizationTest, FindsTheTablesEmbeddingLookupsRead) {
  Graph o1(ModelFormat::kOnnx);
  ASSERT_TRUE(OptimizeGraph(graph_, OptLevel::kO1, {}, &o1).ok());
  absl::StatusOr<std::vector<const Node*>> all = FindEmbeddingTables(o1, {"all"}, "din O1");
  ASSERT_TRUE(all.ok()) << all.status();
  std::vector<std::string> names;
  for (const Node* node : *all) names.push_back(node->name);
  EXPECT_THAT(names, ElementsAre("user_emb.weight", "item_emb.weight", "cate_emb.weight"));
  // The gate runs the optimized graph too.
  std::vector<EmbeddingTable> tables = QuantizeAll(TableDType::kInt8RowWise);
  absl::StatusOr<TableGateReport> report =
      EvaluateTableQuantization(o1, Pointers(tables), samples_, {}, GateBudgets());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->result.passed) << report->result.reason;
}

TEST(TableQuantizationModeTest, ParsesTheModes) {
  EXPECT_EQ(*ParseTableQuantizationMode("off"), TableQuantizationMode::kOff);
  EXPECT_EQ(*ParseTableQuantizationMode("AUTO"), TableQuantizationMode::kAuto);
  EXPECT_EQ(*ParseTableQuantizationMode("force"), TableQuantizationMode::kForce);
  absl::StatusOr<TableQuantizationMode> bad = ParseTableQuantizationMode("on");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("expected off"));
}

// The request-level inputs configs/din.yaml and configs/esmm.yaml declare (as
// tests/graph/passes/request_level_test.cc).
constexpr char kDinRequestInputs[] = "user_id,hist_item_ids,hist_cate_ids,hist_len,dense[0:2]";
constexpr char kEsmmRequestInputs[] =
    "user_id,user_age,user_occupation,user_geo,user_segment,hour_of_day,dense[0]";

struct PeerModel {
  const char* model;
  const char* sample;    // the gate's sample: one request of 200 candidates
  const char* held_out;  // another request, to check the outputs on
  const char* request_inputs;
  int tables;
};

const PeerModel kPeerModels[] = {
    {"peers/din.onnx", "exec/din_ref_200.json", "peers/din_ref.json", kDinRequestInputs, 3},
    {"peers/esmm.onnx", "exec/esmm_ref_200.json", "peers/esmm_ref.json", kEsmmRequestInputs, 12},
};

TensorJsonDocument LoadDoc(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(TestData(path));
  EXPECT_TRUE(text.ok()) << text.status();
  absl::StatusOr<TensorJsonDocument> doc = ParseTensorJson(*text, path);
  EXPECT_TRUE(doc.ok()) << doc.status();
  return doc.ok() ? *std::move(doc) : TensorJsonDocument();
}

Graph Optimized(const PeerModel& m, OptLevel level) {
  absl::StatusOr<Graph> graph = LoadModel(TestData(m.model));
  EXPECT_TRUE(graph.ok()) << graph.status();
  OptimizeOptions options;
  if (level == OptLevel::kO2) options.request_inputs = *ParseRequestInputs(m.request_inputs);
  Graph out(ModelFormat::kOnnx);
  absl::StatusOr<std::vector<PassReport>> passes = OptimizeGraph(*graph, level, options, &out);
  EXPECT_TRUE(passes.ok()) << passes.status();
  return out;
}

std::vector<Tensor> RunGraph(const Graph& graph, const std::vector<NamedTensorView>& feeds) {
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(graph, PlanOptions());
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (!plan.ok()) return {};
  std::vector<Tensor> outputs;
  absl::Status run = (*plan)->Run(feeds, &outputs);
  EXPECT_TRUE(run.ok()) << run;
  return outputs;
}

// max |a - b| over every output.
double MaxAbsDiff(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t o = 0; o < std::min(a.size(), b.size()); ++o) {
    EXPECT_EQ(a[o].dims(), b[o].dims());
    absl::Span<const float> x = a[o].values<float>(), y = b[o].values<float>();
    for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
      worst = std::max(worst, std::abs(static_cast<double>(x[i]) - y[i]));
    }
  }
  return worst;
}

int CountQuantizedLookups(const Graph& graph) {
  int n = 0;
  for (const Node& node : graph.nodes()) {
    n += (node.op == kEmbeddingLookupOp || node.op == kEmbeddingBagOp) &&
         node.attrs.Find(kEmbeddingTableDTypeAttr) != nullptr;
  }
  return n;
}

class PeerModelQuantizationTest
    : public ::testing::TestWithParam<std::tuple<int /*model*/, OptLevel>> {};

TEST_P(PeerModelQuantizationTest, AutoKeepsTablesWithinTheGate) {
  const PeerModel& m = kPeerModels[std::get<0>(GetParam())];
  const OptLevel level = std::get<1>(GetParam());
  const Graph fp32 = Optimized(m, level);
  const TensorJsonDocument sample = LoadDoc(m.sample);
  const TensorJsonDocument held_out = LoadDoc(m.held_out);

  TableQuantizationOptions options;
  options.mode = TableQuantizationMode::kAuto;
  options.samples = {FeedsOf(sample.inputs)};
  Graph int8(ModelFormat::kOnnx);
  absl::StatusOr<GraphQuantizationReport> report = QuantizeGraphTables(fp32, options, &int8);
  ASSERT_TRUE(report.ok()) << report.status();
  std::printf("%s %s:\n%s", m.model, std::string(OptLevelName(level)).c_str(),
              FormatGraphQuantizationReport(*report).c_str());
  ASSERT_EQ(report->tables.size(), static_cast<size_t>(m.tables));
  EXPECT_EQ(report->kept, m.tables);  // these small models quantize well
  ASSERT_TRUE(report->combined.has_value());
  EXPECT_TRUE(report->combined->passed);
  EXPECT_LE(report->combined->max_abs_diff, options.budgets.max_abs_diff);
  EXPECT_GT(report->combined->max_abs_diff, 0.0);
  EXPECT_LT(report->bytes_stored, report->bytes_fp32 / 2);
  for (const GraphTableQuantization& t : report->tables) {
    EXPECT_EQ(t.stored, TableDType::kInt8RowWise) << t.table << ": " << t.reason;
    EXPECT_EQ(t.bytes_fp32, static_cast<size_t>(t.rows * t.dim * 4));
    EXPECT_EQ(t.bytes_stored, static_cast<size_t>(t.rows * (t.dim + 8)));
    ASSERT_TRUE(t.figures.has_value());
    EXPECT_LT(t.figures->nmse, 1e-3);
    ASSERT_TRUE(t.gate.has_value());
    EXPECT_TRUE(t.gate->passed);
    EXPECT_THAT(t.lookups, ::testing::Not(IsEmpty()));
    const Node* table = int8.FindNode(t.table);
    ASSERT_NE(table, nullptr);
    EXPECT_EQ(TableValue(*table).dtype(), DType::kUInt8);
    EXPECT_EQ(TableValue(*table).dims(), (std::vector<int64_t>{t.rows, t.dim + 8}));
  }
  EXPECT_GT(CountQuantizedLookups(int8), 0);

  // The served int8 graph: the gate's figure on its sample, and within the gate on another
  // request.
  const double on_sample =
      MaxAbsDiff(RunGraph(fp32, FeedsOf(sample.inputs)), RunGraph(int8, FeedsOf(sample.inputs)));
  EXPECT_EQ(on_sample, report->combined->max_abs_diff);
  const double on_held_out = MaxAbsDiff(RunGraph(fp32, FeedsOf(held_out.inputs)),
                                        RunGraph(int8, FeedsOf(held_out.inputs)));
  EXPECT_LE(on_held_out, options.budgets.max_abs_diff);
  std::printf("  max abs diff int8 vs fp32: %.3g on %s (the sample), %.3g on %s\n", on_sample,
              m.sample, on_held_out, m.held_out);
}

TEST_P(PeerModelQuantizationTest, ForceQuantizesEveryTableAndFp16Too) {
  const PeerModel& m = kPeerModels[std::get<0>(GetParam())];
  const Graph fp32 = Optimized(m, std::get<1>(GetParam()));
  const TensorJsonDocument held_out = LoadDoc(m.held_out);
  for (TableDType dtype : {TableDType::kInt8RowWise, TableDType::kFloat16}) {
    TableQuantizationOptions options;
    options.mode = TableQuantizationMode::kForce;
    options.dtype = dtype;
    Graph quantized(ModelFormat::kOnnx);
    absl::StatusOr<GraphQuantizationReport> report = QuantizeGraphTables(fp32, options, &quantized);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(report->kept, m.tables);
    EXPECT_FALSE(report->combined.has_value());
    for (const GraphTableQuantization& t : report->tables) {
      EXPECT_EQ(t.stored, dtype) << t.table;
      EXPECT_FALSE(t.gate.has_value());
      EXPECT_THAT(t.reason, HasSubstr("forced"));
    }
    const double diff = MaxAbsDiff(RunGraph(fp32, FeedsOf(held_out.inputs)),
                                   RunGraph(quantized, FeedsOf(held_out.inputs)));
    EXPECT_LE(diff, 1e-2);
    std::printf("%s force %s: max abs diff vs fp32 %.3g on %s\n", m.model,
                std::string(TableDTypeName(dtype)).c_str(), diff, m.held_out);
  }
}

TEST_P(PeerModelQuantizationTest, ZeroBudgetKeepsNone) {
  const PeerModel& m = kPeerModels[std::get<0>(GetParam())];
  const Graph fp32 = Optimized(m, std::get<1>(GetParam()));
  const TensorJsonDocument sample = LoadDoc(m.sample);
  TableQuantizationOptions options;
  options.mode = TableQuantizationMode::kAuto;
  options.samples = {FeedsOf(sample.inputs)};
  options.budgets.max_abs_diff = 0;
  Graph out(ModelFormat::kOnnx);
  absl::StatusOr<GraphQuantizationReport> report = QuantizeGraphTables(fp32, options, &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->kept, 0);
  EXPECT_FALSE(report->combined.has_value());
  EXPECT_EQ(report->bytes_stored, report->bytes_fp32);
  for (const GraphTableQuantization& t : report->tables) {
    EXPECT_EQ(t.stored, TableDType::kFloat32);
    EXPECT_THAT(t.reason, HasSubstr("the gate fails with it alone: max abs diff"));
  }
  EXPECT_EQ(CountQuantizedLookups(out), 0);
  const std::vector<NamedTensorView> feeds = FeedsOf(sample.inputs);
  EXPECT_EQ(MaxAbsDiff(RunGraph(fp32, feeds), RunGraph(out, feeds)), 0.0);
}

INSTANTIATE_TEST_SUITE_P(
    DinAndEsmm, PeerModelQuantizationTest,
    ::testing::Combine(::testing::Values(0, 1), ::testing::Values(OptLevel::kO1, OptLevel::kO2)),
    [](const ::testing::TestParamInfo<PeerModelQuantizationTest::ParamType>& info) {
      return absl::StrCat(std::get<0>(info.param) == 0 ? "Din" : "Esmm",
                          OptLevelName(std::get<1>(info.param)));
    });

TEST(GraphTableQuantizationTest, PlainGathersKeepTheirTablesFp32) {
  absl::StatusOr<Graph> o0 = LoadModel(TestData("peers/din.onnx"));
  ASSERT_TRUE(o0.ok()) << o0.status();
  TableQuantizationOptions options;
  options.mode = TableQuantizationMode::kForce;
  Graph out(ModelFormat::kOnnx);
  absl::StatusOr<GraphQuantizationReport> report = QuantizeGraphTables(*o0, options, &out);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->tables.size(), 3u);
  EXPECT_EQ(report->kept, 0);
  for (const GraphTableQuantization& t : report->tables) {
    EXPECT_EQ(t.stored, TableDType::kFloat32);
    EXPECT_THAT(t.reason, StartsWith("stays fp32: read by Gather '"));
    EXPECT_THAT(t.reason, HasSubstr("-O 1 turns it into an embedding lookup"));
  }
}

TEST(GraphTableQuantizationTest, OffCopiesAndAutoNeedsASample) {
  absl::StatusOr<Graph> o0 = LoadModel(TestData("peers/din.onnx"));
  ASSERT_TRUE(o0.ok()) << o0.status();
  Graph out(ModelFormat::kOnnx);
  absl::StatusOr<GraphQuantizationReport> off = QuantizeGraphTables(*o0, {}, &out);
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_THAT(off->tables, IsEmpty());
  EXPECT_EQ(out.num_nodes(), o0->num_nodes());
  TableQuantizationOptions options;
  options.mode = TableQuantizationMode::kAuto;
  absl::StatusOr<GraphQuantizationReport> no_sample = QuantizeGraphTables(*o0, options, &out);
  ASSERT_FALSE(no_sample.ok());
  EXPECT_THAT(no_sample.status().message(),
              HasSubstr("the accuracy gate needs a sample of requests"));
  options.mode = TableQuantizationMode::kForce;
  options.dtype = TableDType::kFloat32;
  EXPECT_FALSE(QuantizeGraphTables(*o0, options, &out).ok());
}

// An ONNX graph: out = lookup(a, ids) + lookup(b, ids), and c read by a lookup and by an
// Identity that is a graph output. Row 0 of every table is [0, 1, k/255]: int8 stores 0 and 1
// (almost) exactly and k/255 as round(k)/255, so a's error is 0.4/255 and b's 0.3/255, the same
// sign: each passes a budget of 2e-3 alone, together (0.7/255 = 2.7e-3) they do not. Row 1
// ([0, 1, 0.2] = 51/255) quantizes (almost) exactly.
Graph TwoTableGraph() {
  Graph g(ModelFormat::kOnnx);
  auto add = [&](Node node) {
    if (node.output_names.empty()) node.output_names = {node.name};
    absl::Status s = g.AddNode(std::move(node));
    EXPECT_TRUE(s.ok()) << s;
  };
  Node ids;
  ids.name = "ids";
  ids.op = std::string(kPlaceholderOp);
  ids.attrs.Set("dtype", DType::kInt64);
  ids.attrs.Set("shape", Shape({Shape::kUnknownDim}));
  add(ids);
  for (auto [name, k] : {std::pair<const char*, float>{"a", 1.4f}, {"b", 1.3f}, {"c", 1.2f}}) {
    Node table;
    table.name = name;
    table.op = std::string(kConstOp);
    const std::vector<float> values = {0.0f, 1.0f, k / 255.0f, 0.0f, 1.0f, 0.2f};
    table.attrs.Set("value", *Tensor::FromValues<float>({2, 3}, values));
    add(table);
    Node lookup;
    lookup.name = absl::StrCat("lookup_", name);
    lookup.op = std::string(kEmbeddingLookupOp);
    lookup.inputs = {TensorRef{name, 0}, TensorRef{"ids", 0}};
    lookup.attrs.Set("wrap_negative_ids", false);
    add(lookup);
  }
  Node sum;
  sum.name = "sum";
  sum.op = "Add";
  sum.inputs = {TensorRef{"lookup_a", 0}, TensorRef{"lookup_b", 0}};
  add(sum);
  Node sum_c;
  sum_c.name = "sum_c";
  sum_c.op = "Add";
  sum_c.inputs = {TensorRef{"sum", 0}, TensorRef{"lookup_c", 0}};
  add(sum_c);
  Node peek;
  peek.name = "peek";
  peek.op = "Identity";
  peek.inputs = {TensorRef{"c", 0}};
  add(peek);
  g.mutable_outputs()->push_back({"sum_c", TensorRef{"sum_c", 0}});
  g.mutable_outputs()->push_back({"peek", TensorRef{"peek", 0}});
  return g;
}

TEST(GraphTableQuantizationTest, DropsTheWorstUntilTheTablesPassTogether) {
  const Graph g = TwoTableGraph();
  const Tensor ids = *Tensor::FromValues<int64_t>({2}, std::vector<int64_t>{0, 1});
  TableQuantizationOptions options;
  options.mode = TableQuantizationMode::kAuto;
  options.samples = {
      {{"ids", TensorView{DType::kInt64, {2}, const_cast<char*>(ids.bytes().data())}}}};
  options.budgets.max_abs_diff = 2e-3;
  Graph out(ModelFormat::kOnnx);
  absl::StatusOr<GraphQuantizationReport> report = QuantizeGraphTables(g, options, &out);
  ASSERT_TRUE(report.ok()) << report.status();
  std::printf("%s", FormatGraphQuantizationReport(*report).c_str());
  ASSERT_EQ(report->tables.size(), 3u);
  const GraphTableQuantization& a = report->tables[0];
  const GraphTableQuantization& b = report->tables[1];
  const GraphTableQuantization& c = report->tables[2];
  ASSERT_TRUE(a.gate.has_value());
  ASSERT_TRUE(b.gate.has_value());
  EXPECT_TRUE(a.gate->passed);
  EXPECT_TRUE(b.gate->passed);
  EXPECT_GT(a.gate->max_abs_diff, b.gate->max_abs_diff);
  EXPECT_EQ(a.stored, TableDType::kFloat32);
  EXPECT_THAT(a.reason, HasSubstr("passes alone, but 2 tables together fail the gate"));
  EXPECT_EQ(b.stored, TableDType::kInt8RowWise);
  EXPECT_THAT(b.lookups, ElementsAre("lookup_b"));
  ASSERT_TRUE(report->combined.has_value());
  EXPECT_EQ(report->combined->max_abs_diff, b.gate->max_abs_diff);
  // c feeds the Identity too: it stays fp32 whatever the gate.
  EXPECT_EQ(c.stored, TableDType::kFloat32);
  EXPECT_FALSE(c.gate.has_value());
  EXPECT_THAT(c.reason, HasSubstr("also read by Identity 'peek' (input 0)"));
  EXPECT_EQ(report->kept, 1);
  EXPECT_EQ(out.FindNode("lookup_a")->attrs.Find(kEmbeddingTableDTypeAttr), nullptr);
  EXPECT_EQ(*out.FindNode("lookup_b")->attrs.Get<std::string>(kEmbeddingTableDTypeAttr), "int8");
  EXPECT_EQ(*out.FindNode("lookup_b")->attrs.Get<int64_t>(kEmbeddingTableDimAttr), 3);

  // A roomier budget keeps a and b.
  options.budgets.max_abs_diff = 5e-3;
  report = QuantizeGraphTables(g, options, &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->kept, 2);
  EXPECT_GT(report->combined->max_abs_diff, 2e-3);
}

}  // namespace
}  // namespace rankopt

namespace rankopt {
namespace {

// The zoo's DeepFM at O2: its field lookups are _RankoptMultiLookup nodes, whose tables quantize
// like a single lookup's, each field carrying its storage; the scores equal the per-field lookups
// quantized the same way, bit for bit.
TEST(GraphTableQuantizationTest, MultiLookupTablesQuantizeLikeSingleLookups) {
  absl::StatusOr<Graph> model = LoadModel(TestData("zoo/deepfm_op17.onnx"));
  ASSERT_TRUE(model.ok()) << model.status();
  Graph fused(ModelFormat::kOnnx), plain(ModelFormat::kOnnx);
  OptimizeOptions optimize;
  ASSERT_TRUE(OptimizeGraph(*model, OptLevel::kO2, optimize, &fused).ok());
  optimize.disabled_passes = {"fuse_multi_lookup"};
  ASSERT_TRUE(OptimizeGraph(*model, OptLevel::kO2, optimize, &plain).ok());
  TableQuantizationOptions options;
  options.mode = TableQuantizationMode::kForce;
  Graph fused8(ModelFormat::kOnnx), plain8(ModelFormat::kOnnx);
  absl::StatusOr<GraphQuantizationReport> report = QuantizeGraphTables(fused, options, &fused8);
  ASSERT_TRUE(report.ok()) << report.status();
  absl::StatusOr<GraphQuantizationReport> plain_report =
      QuantizeGraphTables(plain, options, &plain8);
  ASSERT_TRUE(plain_report.ok()) << plain_report.status();
  EXPECT_EQ(report->kept, plain_report->kept);
  EXPECT_GE(report->kept, 20);  // 20 fields, embeddings and first-order weights
  int multi = 0;
  for (const Node& node : fused8.nodes()) {
    if (node.op != kMultiLookupOp) continue;
    ++multi;
    const auto* dtypes = node.attrs.Get<std::vector<std::string>>("table_dtypes");
    ASSERT_NE(dtypes, nullptr) << node.name;
    for (const std::string& d : *dtypes) EXPECT_EQ(d, "int8") << node.name;
  }
  EXPECT_GE(multi, 2);
  // Feeds: ids 0..2 (every table has them), floats in [-1, 1).
  std::vector<Tensor> keep;
  std::vector<NamedTensorView> feeds;
  for (const Node& n : model->nodes()) {
    if (n.op != "Placeholder") continue;
    std::vector<int64_t> dims = n.attrs.Get<Shape>("shape")->dims();
    dims[0] = 5;
    int64_t count = 1;
    for (int64_t d : dims) count *= d;
    if (*n.attrs.Get<DType>("dtype") == DType::kInt64) {
      std::vector<int64_t> ids(static_cast<size_t>(count));
      for (int64_t i = 0; i < count; ++i) ids[i] = i % 3;
      keep.push_back(*Tensor::FromValues<int64_t>(dims, ids));
    } else {
      std::vector<float> values(static_cast<size_t>(count));
      for (int64_t i = 0; i < count; ++i) values[i] = static_cast<float>(i % 11) / 11.0f - 0.5f;
      keep.push_back(*Tensor::FromValues<float>(dims, values));
    }
  }
  size_t k = 0;
  for (const Node& n : model->nodes()) {
    if (n.op != "Placeholder") continue;
    const Tensor& t = keep[k++];
    TensorView v;
    v.dtype = t.dtype();
    v.dims.assign(t.dims().begin(), t.dims().end());
    v.data = const_cast<char*>(t.bytes().data());
    feeds.push_back({n.output_names.empty() ? n.name : n.output_names[0], v});
  }
  const std::vector<Tensor> got = RunGraph(fused8, feeds);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got, RunGraph(plain8, feeds));
  EXPECT_NE(got, RunGraph(fused, feeds));  // int8, not fp32
}

}  // namespace
}  // namespace rankopt
