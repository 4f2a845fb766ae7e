// fuse_gemm_epilogue: elementwise chains (Dice with its BatchNorm, swish, PReLU, scale/shift)
// folded into _RankoptFusedMatMul's epilogue, bitwise equal to the unfused nodes, at fp32 and at
// the int8/bf16 precisions; near misses named; the epilogue interpreter against its reference.
#include "graph/passes/fuse_gemm_epilogue.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "graph/io/model_io.h"
#include "graph/kernels/math/gemm_epilogue.h"
#include "graph/passes/fuse_matmul_bias_activation.h"
#include "graph/passes/pass_pipeline.h"
#include "graph/passes/request_level.h"
#include "tests/graph/passes/pass_test_util.h"

namespace rankopt {
namespace {

using namespace pass_test;  // NOLINT: test builders

// Runs fuse_matmul_bias_activation (what O2 emits before this pass) and returns its graph.
Graph Dense(const Graph& graph) {
  Graph out(graph.format());
  absl::StatusOr<PassReport> report = FuseMatMulBiasActivation(graph, {}, &out);
  EXPECT_TRUE(report.ok()) << report.status();
  return out;
}

absl::StatusOr<PassReport> Epilogue(const Graph& graph, Graph* out) {
  PassOptions options;
  return FuseGemmEpilogue(graph, options, out);
}

std::string Notes(const PassReport& report) { return absl::StrJoin(report.notes, "\n"); }

const std::vector<std::string>* ProgramOf(const Graph& graph, const std::string& node) {
  const Node* n = graph.FindNode(node);
  return n == nullptr ? nullptr : n->attrs.Get<std::vector<std::string>>("epilogue");
}

// Keras DeepCTR's Dense -> Dice (BatchNormalization(center=False, scale=False) inside), twice:
//   y = x @ W + c; p = sigmoid(BN(y)); d = alpha * (1 - p) * y + p * y; next layer reads d.
Graph DiceMlp() {
  std::vector<Node> nodes = {Input("x", {-1, 6}, true)};
  std::string in = "x";
  int64_t k = 6;
  for (int layer = 0; layer < 2; ++layer) {
    const int64_t n = layer == 0 ? 5 : 3;
    const std::string p = "l" + std::to_string(layer) + "_";
    std::vector<float> var = RandomFloats(n, 40 + layer);
    for (float& v : var) v = v * v + 0.1f;
    nodes.push_back(ConstNode(p + "w", Floats({n, k}, RandomFloats(n * k, 10 + layer)), true));
    nodes.push_back(ConstNode(p + "c", Floats({n}, RandomFloats(n, 20 + layer)), true));
    nodes.push_back(ConstNode(p + "one", Floats({n}, std::vector<float>(n, 1.0f)), true));
    nodes.push_back(ConstNode(p + "zero", Floats({n}, std::vector<float>(n, 0.0f)), true));
    nodes.push_back(ConstNode(p + "mean", Floats({n}, RandomFloats(n, 30 + layer)), true));
    nodes.push_back(ConstNode(p + "var", Floats({n}, var), true));
    nodes.push_back(ConstNode(p + "alpha", Floats({n}, RandomFloats(n, 50 + layer)), true));
    nodes.push_back(ConstNode(p + "1", Floats({}, {1.0f}), true));
    Node gemm = OnnxOp(p + "gemm", "Gemm", {{in, 0}, {p + "w", 0}, {p + "c", 0}});
    gemm.attrs.Set("transB", int64_t{1});
    nodes.push_back(gemm);
    Node bn =
        OnnxOp(p + "bn", "BatchNormalization",
               {{p + "gemm", 0}, {p + "one", 0}, {p + "zero", 0}, {p + "mean", 0}, {p + "var", 0}});
    bn.attrs.Set("epsilon", 1e-9f);
    nodes.push_back(bn);
    nodes.push_back(OnnxOp(p + "sig", "Sigmoid", {{p + "bn", 0}}));
    nodes.push_back(OnnxOp(p + "sub", "Sub", {{p + "1", 0}, {p + "sig", 0}}));
    nodes.push_back(OnnxOp(p + "mul", "Mul", {{p + "alpha", 0}, {p + "sub", 0}}));
    nodes.push_back(OnnxOp(p + "mul1", "Mul", {{p + "mul", 0}, {p + "gemm", 0}}));
    nodes.push_back(OnnxOp(p + "mul2", "Mul", {{p + "sig", 0}, {p + "gemm", 0}}));
    nodes.push_back(OnnxOp(p + "dice", "Add", {{p + "mul1", 0}, {p + "mul2", 0}}));
    in = p + "dice";
    k = n;
  }
  nodes.push_back(OnnxOp("out", "Sigmoid", {{in, 0}}));
  return MakeGraph(ModelFormat::kOnnx, nodes, {"out"});
}

TEST(FuseGemmEpilogueTest, DiceWithItsBatchNormIsFusedBitwise) {
  const Graph graph = DiceMlp();
  const Graph dense = Dense(graph);
  Graph fused(graph.format());
  absl::StatusOr<PassReport> report = Epilogue(dense, &fused);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->changed) << Notes(*report);
  EXPECT_EQ(CountOp(fused, std::string(kFusedMatMulOp)), 2);
  for (const char* op : {"BatchNormalization", "Sub", "Mul", "Add", "Gemm"}) {
    EXPECT_EQ(CountOp(fused, op), 0) << op;
  }
  EXPECT_EQ(CountOp(fused, "Sigmoid"), 0);  // the output's joins the last layer's epilogue
  // Each layer's node now carries its Dice: BN as mul + add, then the 6 Dice ops (and the last
  // layer the output's sigmoid).
  for (const char* sink : {"l0_dice", "out"}) {
    const std::vector<std::string>* program = ProgramOf(fused, sink);
    ASSERT_NE(program, nullptr) << sink;
    EXPECT_EQ(program->size(), sink[0] == 'o' ? 9u : 8u) << absl::StrJoin(*program, "; ");
    EXPECT_EQ((*program)[0].substr(0, 3), "mul");
    EXPECT_EQ((*program)[2].substr(0, 7), "sigmoid");
  }
  EXPECT_TRUE(absl::StrContains(Notes(*report), "fused into layer 'l0_gemm'")) << Notes(*report);
  for (int seed = 0; seed < 3; ++seed) {
    const int64_t b = seed == 0 ? 1 : 37 * seed;
    const Tensor x = Floats({b, 6}, RandomFloats(b * 6, 100 + seed));
    const std::vector<Tensor> want = RunGraph(graph, {{"x", x}});
    const std::vector<Tensor> got = RunGraph(fused, {{"x", x}});
    ASSERT_EQ(got.size(), 1u);
    ASSERT_EQ(want.size(), 1u);
    EXPECT_EQ(got, want) << "batch " << b;
    EXPECT_EQ(got, RunGraph(dense, {{"x", x}}));
  }
}

// MatMul + Add (rank 3) -> swish -> per-column scale -> scalar shift -> PReLU -> LeakyRelu.
Graph SwishScaleShiftPRelu(bool request_row) {
  std::vector<Node> nodes = {
      Input("x", {-1, 3, 6}, true),
      ConstNode("w", Floats({6, 4}, RandomFloats(24, 1)), true),
      ConstNode("b", Floats({4}, RandomFloats(4, 2)), true),
      ConstNode("scale", Floats({1, 1, 4}, RandomFloats(4, 3)), true),
      ConstNode("shift", Floats({1}, {0.125f}), true),
      ConstNode("slope", Floats({4}, RandomFloats(4, 4)), true),
      OnnxOp("mm", "MatMul", {{"x", 0}, {"w", 0}}),
      OnnxOp("add", "Add", {{"mm", 0}, {"b", 0}}),
      OnnxOp("sig", "Sigmoid", {{"add", 0}}),
      OnnxOp("swish", "Mul", {{"add", 0}, {"sig", 0}}),
      OnnxOp("scaled", "Mul", {{"scale", 0}, {"swish", 0}}),
      OnnxOp("shifted", request_row ? "Sub" : "Add", {{"scaled", 0}, {"shift", 0}})};
  if (request_row) {
    // A [1, 1, 4] row fed per request (what split_first_dense leaves): one value per column.
    nodes.push_back(Input("u", {1, 1, 4}, true));
    nodes.push_back(OnnxOp("plus_u", "Div", {{"shifted", 0}, {"u", 0}}));
    nodes.push_back(OnnxOp("prelu", "PRelu", {{"plus_u", 0}, {"slope", 0}}));
  } else {
    nodes.push_back(OnnxOp("prelu", "PRelu", {{"shifted", 0}, {"slope", 0}}));
  }
  Node leaky = OnnxOp("leaky", "LeakyRelu", {{"prelu", 0}});
  leaky.attrs.Set("alpha", 0.3f);
  nodes.push_back(leaky);
  nodes.push_back(OnnxOp("out", "Tanh", {{"leaky", 0}}));
  return MakeGraph(ModelFormat::kOnnx, nodes, {"out"});
}

TEST(FuseGemmEpilogueTest, SwishScaleShiftPReluLeakyReluAndTanhAreFusedBitwise) {
  for (bool request_row : {false, true}) {
    const Graph graph = SwishScaleShiftPRelu(request_row);
    Graph fused(graph.format());
    absl::StatusOr<PassReport> report = Epilogue(Dense(graph), &fused);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(fused.num_nodes(), request_row ? 9u : 8u) << Notes(*report);  // + LeakyRelu's alpha
    const std::vector<std::string>* program = ProgramOf(fused, "out");
    ASSERT_NE(program, nullptr) << Notes(*report);
    EXPECT_EQ(program->size(), request_row ? 8u : 7u) << absl::StrJoin(*program, "; ");
    EXPECT_EQ(fused.FindNode("out")->output_names, std::vector<std::string>{"out"});
    const Tensor x = Floats({5, 3, 6}, RandomFloats(90, 7));
    std::vector<std::pair<std::string, Tensor>> feeds = {{"x", x}};
    if (request_row) feeds.push_back({"u", Floats({1, 1, 4}, {0.5f, -2.0f, 3.0f, 0.25f})});
    EXPECT_EQ(RunGraph(fused, feeds), RunGraph(graph, feeds)) << request_row;
  }
}

// A residual (a tensor of the layer's own shape) joins the epilogue, read element by element; fed
// with one row it broadcasts as the Add would.
TEST(FuseGemmEpilogueTest, ResidualOfTheLayersShapeIsFusedBitwise) {
  Graph graph = MakeGraph(
      ModelFormat::kOnnx,
      {Input("x", {-1, 6}, true), Input("r", {-1, 4}, true),
       ConstNode("w", Floats({6, 4}, RandomFloats(24, 1)), true),
       ConstNode("b", Floats({4}, RandomFloats(4, 2)), true),
       OnnxOp("mm", "MatMul", {{"x", 0}, {"w", 0}}), OnnxOp("add", "Add", {{"mm", 0}, {"b", 0}}),
       OnnxOp("res", "Add", {{"r", 0}, {"add", 0}}), OnnxOp("out", "Relu", {{"res", 0}})},
      {"out"});
  Graph fused(graph.format());
  absl::StatusOr<PassReport> report = Epilogue(Dense(graph), &fused);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_NE(ProgramOf(fused, "out"), nullptr) << Notes(*report);
  EXPECT_EQ(fused.num_nodes(), 5u);
  const Tensor x = Floats({7, 6}, RandomFloats(42, 3));
  for (int64_t rows : {7, 1}) {
    const std::vector<std::pair<std::string, Tensor>> feeds = {
        {"x", x}, {"r", Floats({rows, 4}, RandomFloats(rows * 4, 4))}};
    EXPECT_EQ(RunGraph(fused, feeds), RunGraph(graph, feeds)) << rows;
  }
}

// A layer computed once per request (its input is request-level) keeps one row; a per-candidate
// residual would broadcast it to the candidates' rows, so that Add stays unfused.
TEST(FuseGemmEpilogueTest, PerCandidateResidualOfAOncePerRequestLayerIsANearMiss) {
  Graph graph = MakeGraph(
      ModelFormat::kOnnx,
      {Input("u", {-1, 6}, true), Input("r", {-1, 4}, true),
       ConstNode("w", Floats({6, 4}, RandomFloats(24, 1)), true),
       ConstNode("b", Floats({4}, RandomFloats(4, 2)), true),
       OnnxOp("mm", "MatMul", {{"u", 0}, {"w", 0}}), OnnxOp("add", "Add", {{"mm", 0}, {"b", 0}}),
       OnnxOp("res", "Add", {{"add", 0}, {"r", 0}})},
      {"res"});
  PassOptions options;
  options.request_inputs = *ParseRequestInputs("u");
  Graph fused(graph.format());
  absl::StatusOr<PassReport> report = FuseGemmEpilogue(Dense(graph), options, &fused);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->changed);
  EXPECT_TRUE(absl::StrContains(Notes(*report),
                                "'r' has a row per candidate but the layer runs "
                                "once per request"))
      << Notes(*report);
  // Without request-level inputs the rows line up and it fuses.
  ASSERT_TRUE(Epilogue(Dense(graph), &fused).ok());
  EXPECT_NE(ProgramOf(fused, "res"), nullptr);
}

TEST(FuseGemmEpilogueTest, ReportsNearMisses) {
  // A Mul by a per-row [B, 1] tensor, and a layer output also read outside the chain.
  Graph graph = MakeGraph(
      ModelFormat::kOnnx,
      {Input("x", {-1, 6}, true), Input("z", {-1, 1}, true),
       ConstNode("w", Floats({6, 4}, RandomFloats(24, 1)), true),
       ConstNode("b", Floats({4}, RandomFloats(4, 2)), true),
       ConstNode("w2", Floats({6, 4}, RandomFloats(24, 3)), true),
       ConstNode("b2", Floats({4}, RandomFloats(4, 4)), true),
       OnnxOp("mm", "MatMul", {{"x", 0}, {"w", 0}}), OnnxOp("add", "Add", {{"mm", 0}, {"b", 0}}),
       OnnxOp("gated", "Mul", {{"add", 0}, {"z", 0}}), OnnxOp("e", "Exp", {{"gated", 0}}),
       OnnxOp("mm2", "MatMul", {{"x", 0}, {"w2", 0}}),
       OnnxOp("add2", "Add", {{"mm2", 0}, {"b2", 0}}), OnnxOp("sig2", "Sigmoid", {{"add2", 0}}),
       OnnxOp("swish2", "Mul", {{"add2", 0}, {"sig2", 0}}),
       OnnxOp("sum2", "ReduceSum", {{"add2", 0}})},
      {"e", "swish2", "sum2"});
  Graph fused(graph.format());
  absl::StatusOr<PassReport> report = Epilogue(Dense(graph), &fused);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->changed);
  const std::string notes = Notes(*report);
  EXPECT_TRUE(absl::StrContains(notes, "near miss at node 'gated' (layer 'add')")) << notes;
  EXPECT_TRUE(absl::StrContains(notes, "input 'z' is neither part of the chain")) << notes;
  EXPECT_TRUE(absl::StrContains(notes, "near miss at node 'swish2' (layer 'add2')")) << notes;
  EXPECT_TRUE(absl::StrContains(notes, "also read by ReduceSum 'sum2'")) << notes;
}

TEST(FuseGemmEpilogueTest, Rank3BatchNormIsANearMiss) {
  std::vector<Node> nodes = {Input("x", {-1, 3, 6}, true),
                             ConstNode("w", Floats({6, 3}, RandomFloats(18, 1)), true),
                             ConstNode("b", Floats({3}, RandomFloats(3, 2)), true)};
  for (const char* p : {"s", "o", "m"}) {
    nodes.push_back(ConstNode(p, Floats({3}, RandomFloats(3, 3)), true));
  }
  nodes.push_back(ConstNode("v", Floats({3}, {1.0f, 2.0f, 3.0f}), true));
  nodes.push_back(OnnxOp("mm", "MatMul", {{"x", 0}, {"w", 0}}));
  nodes.push_back(OnnxOp("add", "Add", {{"mm", 0}, {"b", 0}}));
  nodes.push_back(
      OnnxOp("bn", "BatchNormalization", {{"add", 0}, {"s", 0}, {"o", 0}, {"m", 0}, {"v", 0}}));
  Graph graph = MakeGraph(ModelFormat::kOnnx, nodes, {"bn"});
  Graph fused(graph.format());
  absl::StatusOr<PassReport> report = Epilogue(Dense(graph), &fused);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->changed);
  EXPECT_TRUE(absl::StrContains(Notes(*report), "near miss at node 'bn'")) << Notes(*report);
  EXPECT_TRUE(absl::StrContains(Notes(*report), "rank 3")) << Notes(*report);
}

// The int8 and bf16 GEMMs run the same epilogue after their own bias/activation: a fused node at
// either precision equals the unfused layer at that precision followed by the chain's nodes.
TEST(FuseGemmEpilogueTest, LowPrecisionLayersRunTheEpilogue) {
  const Graph graph = DiceMlp();
  const Graph dense = Dense(graph);
  Graph fused(graph.format());
  ASSERT_TRUE(Epilogue(dense, &fused).ok());
  const Tensor x = Floats({9, 6}, RandomFloats(54, 5));
  for (const char* precision : {"int8", "bf16"}) {
    Graph a = dense, b = fused;
    for (Graph* g : {&a, &b}) {
      std::vector<Node> nodes = g->nodes();
      for (Node& n : nodes) {
        if (n.op == kFusedMatMulOp) n.attrs.Set("precision", std::string(precision));
      }
      ASSERT_TRUE(g->SetNodes(nodes).ok());
    }
    const std::vector<Tensor> want = RunGraph(a, {{"x", x}});
    EXPECT_EQ(RunGraph(b, {{"x", x}}), want) << precision;
    EXPECT_NE(want, RunGraph(fused, {{"x", x}})) << precision << " ran at fp32";
  }
  // The pass leaves a layer that already has a precision alone.
  Graph lowp = dense;
  std::vector<Node> nodes = lowp.nodes();
  for (Node& n : nodes) {
    if (n.op == kFusedMatMulOp) n.attrs.Set("precision", std::string("int8"));
  }
  ASSERT_TRUE(lowp.SetNodes(nodes).ok());
  Graph out(lowp.format());
  absl::StatusOr<PassReport> report = Epilogue(lowp, &out);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->changed);
}

TEST(FuseGemmEpilogueTest, BadProgramsAndOperandsAreErrors) {
  auto graph_with = [](std::vector<std::string> program, std::vector<float> operand) {
    Node fused = OnnxOp("f", std::string(kFusedMatMulOp), {{"x", 0}, {"w", 0}, {}, {}, {"c", 0}});
    fused.attrs.Set("epilogue", std::move(program));
    return MakeGraph(
        ModelFormat::kOnnx,
        {Input("x", {-1, 3}, true), ConstNode("w", Floats({3, 4}, RandomFloats(12, 1)), true),
         ConstNode("c", Floats({static_cast<int64_t>(operand.size())}, operand), true), fused},
        {"f"});
  };
  const struct {
    std::vector<std::string> program;
    const char* error;
  } bad[] = {
      {{"exp r1 r0"}, "unknown op"},
      {{"add r2 r0 c0"}, "must define r1"},
      {{"add r1 r0 c1"}, "operand 'c1' is not a register"},
      {{"add r1 r1 c0"}, "operand 'r1' is not a register"},
      {{"sigmoid r1 c0"}, "a unary op reads a register"},
      {{"mul r1 r0"}, "expected 'mul r1 A B'"},
  };
  for (const auto& t : bad) {
    absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
        ExecutionPlan::Create(graph_with(t.program, {1, 2, 3, 4}), PlanOptions{});
    ASSERT_FALSE(plan.ok()) << t.error;
    EXPECT_TRUE(absl::StrContains(plan.status().message(), t.error)) << plan.status();
  }
  // An operand of 3 values for 4 columns.
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(graph_with({"add r1 r0 c0"}, {1, 2, 3}), PlanOptions{});
  ASSERT_TRUE(plan.ok()) << plan.status();
  const Tensor x = Floats({2, 3}, RandomFloats(6, 2));
  TensorView v;
  v.dtype = x.dtype();
  v.dims.assign(x.dims().begin(), x.dims().end());
  v.data = const_cast<char*>(x.bytes().data());
  std::vector<Tensor> out;
  const absl::Status s = (*plan)->Run({{"x", v}}, &out);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.message(), "expected 1 or 4 values")) << s;
}

// Run (blocked, vectorized) equals RunRef (element by element), never writing past y or its
// scratch, for every op and shapes across block boundaries.
TEST(GemmEpilogueTest, RunMatchesReference) {
  const std::vector<std::string> program = {"mul r1 r0 c0",  "add r2 r1 c1",   "sigmoid r3 r2",
                                            "sub r4 c1 r3",  "div r5 r4 c0",   "tanh r6 r5",
                                            "relu r7 r1",    "neg r8 r7",      "prelu r9 r2 c0",
                                            "add r10 r9 r8", "mul r11 r10 r6", "add r12 c2 r11"};
  absl::StatusOr<GemmEpilogue> e = GemmEpilogue::Parse(program, 3);
  ASSERT_TRUE(e.ok()) << e.status();
  for (int64_t n : {1, 5, 16, 300, 3000}) {
    for (int64_t m : {0, 1, 3, 50}) {
      std::vector<float> y = RandomFloats(m * n + 1, 7), ref = y;
      for (float& v : y) v *= 4.0f;
      ref = y;
      const float sentinel = 12345.0f;
      y.back() = ref.back() = sentinel;
      const std::vector<float> col = RandomFloats(n, 8);
      const float scalar = 0.75f;
      const std::vector<float> whole = RandomFloats(m * n, 9);  // a residual [m, n]
      const float* operands[3] = {col.data(), &scalar, whole.data()};
      const int64_t sizes[3] = {n, 1, m * n};
      std::vector<float> scratch(e->ScratchFloats(n, 3) + 1, 0.0f);
      scratch.back() = sentinel;
      e->Run(y.data(), m, n, operands, sizes, 3, scratch.data());
      e->RunRef(ref.data(), m, n, operands, sizes);
      EXPECT_EQ(0, std::memcmp(y.data(), ref.data(), y.size() * sizeof(float)))
          << "m " << m << " n " << n;
      EXPECT_EQ(y.back(), sentinel);
      EXPECT_EQ(scratch.back(), sentinel);
    }
  }
}

// The zoo's Keras-style Dice MLP: at O2 every Dice (with its BatchNorm) sits in a GEMM epilogue,
// and the scores equal O2 with this pass disabled, bit for bit.
TEST(FuseGemmEpilogueTest, ZooDiceMlpAtO2) {
  absl::StatusOr<Graph> model =
      LoadModel(std::string(RANKOPT_TESTDATA_DIR) + "/zoo/dice_mlp_op17.onnx");
  ASSERT_TRUE(model.ok()) << model.status();
  Graph on(model->format()), off(model->format());
  OptimizeOptions options;
  absl::StatusOr<std::vector<PassReport>> reports =
      OptimizeGraph(*model, OptLevel::kO2, options, &on);
  ASSERT_TRUE(reports.ok()) << reports.status();
  options.disabled_passes = {"fuse_gemm_epilogue"};
  ASSERT_TRUE(OptimizeGraph(*model, OptLevel::kO2, options, &off).ok());
  EXPECT_EQ(CountOp(on, "BatchNormalization"), 0);
  EXPECT_GE(CountOp(off, "BatchNormalization"), 3);
  EXPECT_EQ(CountOp(on, "Sub"), 0);
  int with_epilogue = 0;
  for (const Node& n : on.nodes()) with_epilogue += n.attrs.Find("epilogue") != nullptr;
  EXPECT_EQ(with_epilogue, 3);
  // Feeds: every id 1 (each table has rows), dense values in [-1, 1).
  std::vector<std::pair<std::string, Tensor>> feeds;
  const int64_t b = 7;
  for (const Node& n : model->nodes()) {
    if (n.op != "Placeholder") continue;
    const DType* dtype = n.attrs.Get<DType>("dtype");
    const Shape* shape = n.attrs.Get<Shape>("shape");
    ASSERT_TRUE(dtype != nullptr && shape != nullptr) << n.name;
    std::vector<int64_t> dims = shape->dims();
    dims[0] = b;
    int64_t count = 1;
    for (int64_t d : dims) count *= d;
    const std::string name = n.output_names.empty() ? n.name : n.output_names[0];
    if (*dtype == DType::kInt64) {
      feeds.push_back({name, *Tensor::FromValues<int64_t>(dims, std::vector<int64_t>(count, 1))});
    } else {
      feeds.push_back({name, Floats(dims, RandomFloats(count, 9))});
    }
  }
  const std::vector<Tensor> got = RunGraph(on, feeds);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got, RunGraph(off, feeds));
}

}  // namespace
}  // namespace rankopt
