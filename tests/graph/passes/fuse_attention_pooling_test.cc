// FuseAttentionPooling on tiny inline DIN attention blocks: op counts before/after and the
// executor's numbers against the unfused graph; near-misses that must not fuse.
#include "graph/passes/fuse_attention_pooling.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/passes/prune.h"
#include "tests/graph/passes/pass_test_util.h"

namespace rankopt {
namespace {

using namespace pass_test;  // NOLINT: test builders
using ::testing::HasSubstr;

constexpr int64_t kBatch = 3, kLen = 5, kDim = 4, kHidden = 6;

Node Axes(std::string name, int64_t axis) {
  return ConstNode(std::move(name), *Tensor::FromValues<int64_t>({1}, std::vector<int64_t>{axis}),
                   true);
}

// The block as PyTorch exports DIN (fuse_attention_pooling.h), with q [B,d], k [B,L,d] and
// mask [B,L]. `swap_sub`: k - e instead of e - k (a near-miss the kernel does not compute).
Graph AttentionBlock(bool masked, bool swap_sub = false, bool hidden = true) {
  std::vector<Node> nodes = {
      Input("q", {-1, kDim}, true),
      Input("k", {-1, kLen, kDim}, true),
      Input("mask", {-1, kLen}, true),
      Axes("one", 1),
      Axes("minus_one", -1),
      ConstNode("w1", Floats({4 * kDim, kHidden}, RandomFloats(4 * kDim * kHidden, 11)), true),
      ConstNode("b1", Floats({kHidden}, RandomFloats(kHidden, 12)), true),
      ConstNode("w_out", Floats({kHidden, 1}, RandomFloats(kHidden, 13)), true),
      ConstNode("w_only", Floats({4 * kDim, 1}, RandomFloats(4 * kDim, 15)), true),
      ConstNode("b_out", Floats({1}, RandomFloats(1, 14)), true),
      OnnxOp("q1", "Unsqueeze", {{"q", 0}, {"one", 0}}),
      OnnxOp("kshape", "Shape", {{"k", 0}}),
      OnnxOp("e", "Expand", {{"q1", 0}, {"kshape", 0}}),
      swap_sub ? OnnxOp("diff", "Sub", {{"k", 0}, {"e", 0}})
               : OnnxOp("diff", "Sub", {{"e", 0}, {"k", 0}}),
      OnnxOp("prod", "Mul", {{"e", 0}, {"k", 0}})};
  Node cat = OnnxOp("cat", "Concat", {{"e", 0}, {"k", 0}, {"diff", 0}, {"prod", 0}});
  cat.attrs.Set("axis", int64_t{-1});
  nodes.push_back(cat);
  if (hidden) {
    nodes.push_back(OnnxOp("h_mm", "MatMul", {{"cat", 0}, {"w1", 0}}));
    nodes.push_back(OnnxOp("h_add", "Add", {{"h_mm", 0}, {"b1", 0}}));
    nodes.push_back(OnnxOp("h", "Sigmoid", {{"h_add", 0}}));
    nodes.push_back(OnnxOp("s_mm", "MatMul", {{"h", 0}, {"w_out", 0}}));
  } else {
    nodes.push_back(OnnxOp("s_mm", "MatMul", {{"cat", 0}, {"w_only", 0}}));
  }
  nodes.push_back(OnnxOp("s_add", "Add", {{"s_mm", 0}, {"b_out", 0}}));
  nodes.push_back(OnnxOp("score", "Squeeze", {{"s_add", 0}, {"minus_one", 0}}));
  std::string weights = "score";
  if (masked) {
    nodes.push_back(OnnxOp("weighted", "Mul", {{"score", 0}, {"mask", 0}}));
    weights = "weighted";
  }
  nodes.push_back(OnnxOp("w3", "Unsqueeze", {{weights, 0}, {"one", 0}}));
  nodes.push_back(OnnxOp("pool", "MatMul", {{"w3", 0}, {"k", 0}}));
  nodes.push_back(OnnxOp("pooled", "Squeeze", {{"pool", 0}, {"one", 0}}));
  Graph graph = MakeGraph(ModelFormat::kOnnx, nodes, {"pooled"});
  graph.set_onnx_opset(17);
  return graph;
}

std::vector<std::pair<std::string, Tensor>> Feeds(bool masked) {
  std::vector<std::pair<std::string, Tensor>> feeds = {
      {"q", Floats({kBatch, kDim}, RandomFloats(kBatch * kDim, 21))},
      {"k", Floats({kBatch, kLen, kDim}, RandomFloats(kBatch * kLen * kDim, 22))}};
  std::vector<float> mask(kBatch * kLen, 1.0f);
  mask[3] = mask[7] = mask[14] = 0.0f;  // padded positions
  if (masked) feeds.push_back({"mask", Floats({kBatch, kLen}, mask)});
  return feeds;
}

PassOptions KeepPooled() {
  PassOptions options;
  options.outputs = {"pooled"};
  return options;
}

// The fused graph after the final prune drops the replaced nodes.
Graph FuseAndPrune(const Graph& graph, PassReport* report) {
  const PassOptions options = KeepPooled();
  Graph fused(graph.format());
  absl::StatusOr<PassReport> fusion = FuseAttentionPooling(graph, options, &fused);
  EXPECT_TRUE(fusion.ok()) << fusion.status();
  if (fusion.ok()) *report = *fusion;
  Graph pruned(graph.format());
  absl::StatusOr<PassReport> prune = PruneGraph(fused, options, &pruned);
  EXPECT_TRUE(prune.ok()) << prune.status();
  return pruned;
}

TEST(FuseAttentionPoolingTest, MaskedBlockBecomesOneNodeWithEqualResults) {
  for (bool masked : {true, false}) {
    const Graph graph = AttentionBlock(masked);
    EXPECT_EQ(CountOp(graph, "MatMul"), 3);
    EXPECT_EQ(CountOp(graph, "Concat"), 1);
    EXPECT_EQ(CountOp(graph, "Squeeze"), 2);
    PassReport report;
    const Graph fused = FuseAndPrune(graph, &report);
    EXPECT_TRUE(report.changed);
    EXPECT_THAT(report.notes[0], HasSubstr("1 hidden layers"));
    EXPECT_EQ(CountOp(fused, std::string(kAttentionPoolingOp)), 1);
    for (const std::string op :
         {"MatMul", "Concat", "Squeeze", "Unsqueeze", "Expand", "Sigmoid", "Sub", "Add", "Shape"}) {
      EXPECT_EQ(CountOp(fused, op), 0) << op;
    }
    EXPECT_EQ(CountOp(fused, "Mul"), 0);
    ASSERT_NE(fused.FindNode("pooled"), nullptr);
    EXPECT_EQ(fused.FindNode("pooled")->op, kAttentionPoolingOp);

    const std::vector<Tensor> want = RunGraph(graph, Feeds(masked));
    const std::vector<Tensor> got = RunGraph(fused, Feeds(masked));
    ASSERT_EQ(want.size(), 1u);
    ASSERT_EQ(got.size(), 1u);
    ExpectNear(got[0], want[0], 1e-5, masked ? "masked" : "unmasked");
  }
}

TEST(FuseAttentionPoolingTest, ReversedDifferenceIsFusedAsKeyMinusQuery) {
  const Graph graph = AttentionBlock(true, /*swap_sub=*/true);
  PassReport report;
  const Graph fused = FuseAndPrune(graph, &report);
  EXPECT_TRUE(report.changed);
  EXPECT_THAT(report.notes[0], HasSubstr("[q, k, k-q, q*k]"));
  EXPECT_EQ(CountOp(fused, std::string(kAttentionPoolingOp)), 1);
  const std::vector<Tensor> want = RunGraph(graph, Feeds(true));
  const std::vector<Tensor> got = RunGraph(fused, Feeds(true));
  ASSERT_EQ(got.size(), 1u);
  ExpectNear(got[0], want[0], 1e-5, "k-q");
}

TEST(FuseAttentionPoolingTest, ScoringLayerWithoutHiddenLayerIsNotFused) {
  const Graph graph = AttentionBlock(true, false, /*hidden=*/false);
  Graph out(graph.format());
  absl::StatusOr<PassReport> report = FuseAttentionPooling(graph, KeepPooled(), &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->changed);
  EXPECT_THAT(report->notes,
              ::testing::Contains(HasSubstr("near miss at node 'cat' (pooling 'pooled'): the score "
                                            "layer reads Concat")));
  EXPECT_EQ(CountOp(out, std::string(kAttentionPoolingOp)), 0);
  EXPECT_EQ(CountOp(out, "MatMul"), 2);
}

TEST(FuseAttentionPoolingTest, TfGraphsAreLeftAlone) {
  Graph graph = MakeGraph(ModelFormat::kTfGraphDef,
                          {Input("x", {-1, 2}), Op("y", "Relu", {{"x", 0}})}, {"y"});
  Graph out(graph.format());
  absl::StatusOr<PassReport> report = FuseAttentionPooling(graph, {}, &out);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->changed);
  EXPECT_EQ(out.num_nodes(), 2u);
}

// ---- The generalized block: any terms, activation, mask form, softmax ------------------------

struct Spec {
  std::vector<std::string> terms;
  std::string act;   // relu, prelu_scalar, prelu_channel, swish, dice
  std::string mask;  // none, mul, where, where_not, add_where_inf, add_where_big, add_tensor
  bool softmax = false;
  int hidden = 2;
  bool tile_and_reduce_sum = false;  // q broadcast by Tile, pooling by ReduceSum(w * k)
};

std::string SpecName(const Spec& s) {
  return absl::StrCat(absl::StrJoin(s.terms, ","), " ", s.act, " ", s.mask,
                      s.softmax ? " softmax" : "", " hidden ", s.hidden,
                      s.tile_and_reduce_sum ? " tile reduce_sum" : "");
}

Node Attr(Node node, std::string name, AttrValue value) {
  node.attrs.Set(std::move(name), std::move(value));
  return node;
}

Tensor Scalar(float v) { return Floats({}, {v}); }

Graph GeneralBlock(const Spec& spec) {
  constexpr int64_t kH = 6;
  const int64_t terms = static_cast<int64_t>(spec.terms.size());
  std::vector<Node> nodes = {
      Input("q", {-1, kDim}, true),
      Input("k", {-1, kLen, kDim}, true),
      Input("mask", {-1, kLen}, true),
      Input("cond", {-1, kLen}, true, DType::kBool),
      Axes("one", 1),
      Axes("minus_one", -1),
      ConstNode("one_f", Scalar(1.0f), true),
      OnnxOp("q1", "Unsqueeze", {{"q", 0}, {"one", 0}}),
      OnnxOp("kshape", "Shape", {{"k", 0}}),
      ConstNode("repeats", *Tensor::FromValues<int64_t>({3}, std::vector<int64_t>{1, kLen, 1}),
                true),
      spec.tile_and_reduce_sum ? OnnxOp("e", "Tile", {{"q1", 0}, {"repeats", 0}})
                               : OnnxOp("e", "Expand", {{"q1", 0}, {"kshape", 0}}),
  };
  std::vector<TensorRef> cat_inputs;
  for (int64_t i = 0; i < terms; ++i) {
    const std::string& t = spec.terms[i];
    const std::string name = absl::StrCat("term", i);
    if (t == "q") {
      cat_inputs.push_back({"e", 0});
      continue;
    }
    if (t == "k") {
      cat_inputs.push_back({"k", 0});
      continue;
    }
    if (t == "q-k") nodes.push_back(OnnxOp(name, "Sub", {{"e", 0}, {"k", 0}}));
    if (t == "k-q") nodes.push_back(OnnxOp(name, "Sub", {{"k", 0}, {"q1", 0}}));
    if (t == "q*k") nodes.push_back(OnnxOp(name, "Mul", {{"k", 0}, {"e", 0}}));
    if (t == "q+k") nodes.push_back(OnnxOp(name, "Add", {{"e", 0}, {"k", 0}}));
    cat_inputs.push_back({name, 0});
  }
  nodes.push_back(Attr(OnnxOp("cat", "Concat", cat_inputs), "axis", int64_t{-1}));
  std::string x = "cat";
  int64_t in = terms * kDim;
  for (int l = 0; l < spec.hidden; ++l) {
    const std::string p = absl::StrCat("l", l, "_");
    nodes.push_back(ConstNode(p + "w", Floats({in, kH}, RandomFloats(in * kH, 100 + l)), true));
    nodes.push_back(ConstNode(p + "b", Floats({kH}, RandomFloats(kH, 200 + l)), true));
    nodes.push_back(OnnxOp(p + "mm", "MatMul", {{x, 0}, {p + "w", 0}}));
    nodes.push_back(OnnxOp(p + "add", "Add", {{p + "b", 0}, {p + "mm", 0}}));
    const std::string h = p + "add";
    if (spec.act == "relu") {
      nodes.push_back(OnnxOp(p + "act", "Relu", {{h, 0}}));
    } else if (spec.act == "prelu_scalar" || spec.act == "prelu_channel") {
      const bool scalar = spec.act == "prelu_scalar";
      std::vector<float> slope = RandomFloats(scalar ? 1 : kH, 300 + l);
      for (float& v : slope) v = 0.1f + 0.2f * v;
      nodes.push_back(ConstNode(
          p + "slope",
          Floats(scalar ? std::vector<int64_t>{1, 1} : std::vector<int64_t>{kH}, slope), true));
      nodes.push_back(OnnxOp(p + "act", "PRelu", {{h, 0}, {p + "slope", 0}}));
    } else if (spec.act == "swish") {
      nodes.push_back(OnnxOp(p + "sig", "Sigmoid", {{h, 0}}));
      nodes.push_back(OnnxOp(p + "act", "Mul", {{h, 0}, {p + "sig", 0}}));
    } else if (spec.act == "dice") {
      const std::vector<int64_t> perm = {0, 2, 1};
      nodes.push_back(Attr(OnnxOp(p + "t", "Transpose", {{h, 0}}), "perm", perm));
      std::vector<float> var = RandomFloats(kH, 400 + l);
      for (float& v : var) v = 0.5f + 0.4f * v;
      nodes.push_back(ConstNode(p + "gamma", Floats({kH}, RandomFloats(kH, 401 + l)), true));
      nodes.push_back(ConstNode(p + "beta", Floats({kH}, RandomFloats(kH, 402 + l)), true));
      nodes.push_back(ConstNode(p + "mean", Floats({kH}, RandomFloats(kH, 403 + l)), true));
      nodes.push_back(ConstNode(p + "var", Floats({kH}, var), true));
      nodes.push_back(ConstNode(p + "alpha", Floats({kH, 1}, RandomFloats(kH, 404 + l)), true));
      nodes.push_back(Attr(
          OnnxOp(
              p + "bn", "BatchNormalization",
              {{p + "t", 0}, {p + "gamma", 0}, {p + "beta", 0}, {p + "mean", 0}, {p + "var", 0}}),
          "epsilon", 1e-8f));
      nodes.push_back(OnnxOp(p + "p", "Sigmoid", {{p + "bn", 0}}));
      nodes.push_back(OnnxOp(p + "1mp", "Sub", {{"one_f", 0}, {p + "p", 0}}));
      nodes.push_back(OnnxOp(p + "a1mp", "Mul", {{p + "alpha", 0}, {p + "1mp", 0}}));
      nodes.push_back(OnnxOp(p + "neg", "Mul", {{p + "a1mp", 0}, {p + "t", 0}}));
      nodes.push_back(OnnxOp(p + "pos", "Mul", {{p + "p", 0}, {p + "t", 0}}));
      nodes.push_back(OnnxOp(p + "sum", "Add", {{p + "neg", 0}, {p + "pos", 0}}));
      nodes.push_back(Attr(OnnxOp(p + "act", "Transpose", {{p + "sum", 0}}), "perm", perm));
    }
    x = p + "act";
    in = kH;
  }
  nodes.push_back(ConstNode("w_out", Floats({in, 1}, RandomFloats(in, 13)), true));
  nodes.push_back(ConstNode("b_out", Floats({1}, RandomFloats(1, 14)), true));
  nodes.push_back(OnnxOp("s_mm", "MatMul", {{x, 0}, {"w_out", 0}}));
  nodes.push_back(OnnxOp("s_add", "Add", {{"s_mm", 0}, {"b_out", 0}}));
  nodes.push_back(OnnxOp("score", "Squeeze", {{"s_add", 0}, {"minus_one", 0}}));
  nodes.push_back(OnnxOp("score_shape", "Shape", {{"score", 0}}));
  std::string w = "score";
  const float inf = std::numeric_limits<float>::infinity();
  if (spec.mask == "mul") {
    nodes.push_back(OnnxOp("masked", "Mul", {{"mask", 0}, {"score", 0}}));
  } else if (spec.mask == "where") {
    nodes.push_back(Attr(OnnxOp("fill", "ConstantOfShape", {{"score_shape", 0}}), "value",
                         Floats({1}, {spec.softmax ? -4294967295.0f : 0.0f})));
    nodes.push_back(OnnxOp("masked", "Where", {{"cond", 0}, {"score", 0}, {"fill", 0}}));
  } else if (spec.mask == "where_not") {
    nodes.push_back(ConstNode("fill", Scalar(-1e9f), true));
    nodes.push_back(OnnxOp("masked", "Where", {{"cond", 0}, {"fill", 0}, {"score", 0}}));
  } else if (spec.mask == "add_where_inf" || spec.mask == "add_where_big") {
    nodes.push_back(Attr(OnnxOp("zeros", "ConstantOfShape", {{"score_shape", 0}}), "value",
                         Floats({1}, {0.0f})));
    nodes.push_back(ConstNode("minus", Scalar(spec.mask == "add_where_inf" ? -inf : -1e9f), true));
    nodes.push_back(OnnxOp("not_cond", "Not", {{"cond", 0}}));
    nodes.push_back(OnnxOp("additive", "Where", {{"not_cond", 0}, {"minus", 0}, {"zeros", 0}}));
    nodes.push_back(OnnxOp("masked", "Add", {{"score", 0}, {"additive", 0}}));
  } else if (spec.mask == "add_tensor") {
    nodes.push_back(OnnxOp("masked", "Add", {{"score", 0}, {"mask", 0}}));
  } else if (spec.mask == "from_score") {  // a mask computed from the scores: not fusable
    nodes.push_back(OnnxOp("gate", "Sigmoid", {{"score", 0}}));
    nodes.push_back(OnnxOp("masked", "Mul", {{"score", 0}, {"gate", 0}}));
  }
  if (spec.mask != "none") w = "masked";
  if (spec.softmax) {
    nodes.push_back(Attr(OnnxOp("soft", "Softmax", {{w, 0}}), "axis", int64_t{-1}));
    w = "soft";
  }
  if (spec.tile_and_reduce_sum) {
    nodes.push_back(OnnxOp("w3", "Unsqueeze", {{w, 0}, {"minus_one", 0}}));
    nodes.push_back(OnnxOp("pool", "Mul", {{"k", 0}, {"w3", 0}}));
    nodes.push_back(
        Attr(OnnxOp("pooled", "ReduceSum", {{"pool", 0}, {"one", 0}}), "keepdims", int64_t{0}));
  } else {
    nodes.push_back(OnnxOp("w3", "Unsqueeze", {{w, 0}, {"one", 0}}));
    nodes.push_back(OnnxOp("pool", "MatMul", {{"w3", 0}, {"k", 0}}));
    nodes.push_back(OnnxOp("pooled", "Squeeze", {{"pool", 0}, {"one", 0}}));
  }
  Graph graph = MakeGraph(ModelFormat::kOnnx, nodes, {"pooled"});
  graph.set_onnx_opset(17);
  return graph;
}

// q, k, a float mask (1/0 for mul; 0/-1e4 for add_tensor) and a bool cond, those of them that
// some node of `graph` reads; position 0 of every row is valid, so no softmax row is all -inf.
std::vector<std::pair<std::string, Tensor>> GeneralFeeds(const Spec& spec, const Graph& graph) {
  std::vector<float> mask(kBatch * kLen);
  std::unique_ptr<bool[]> cond(new bool[kBatch * kLen]);
  for (int64_t i = 0; i < kBatch * kLen; ++i) {
    const bool valid = i % kLen == 0 || (i * 7) % 3 != 0;
    cond[i] = spec.mask == "where_not" ? !valid : valid;
    mask[i] = spec.mask == "add_tensor" ? (valid ? 0.0f : -1e4f) : (valid ? 1.0f : 0.0f);
  }
  std::vector<std::pair<std::string, Tensor>> feeds = {
      {"q", Floats({kBatch, kDim}, RandomFloats(kBatch * kDim, 21))},
      {"k", Floats({kBatch, kLen, kDim}, RandomFloats(kBatch * kLen * kDim, 22))},
      {"mask", Floats({kBatch, kLen}, mask)},
      {"cond",
       *Tensor::FromValues<bool>({kBatch, kLen}, absl::MakeConstSpan(cond.get(), kBatch * kLen))}};
  std::vector<std::pair<std::string, Tensor>> kept;
  for (auto& feed : feeds) {
    bool read = false;
    for (const Node& node : graph.nodes()) {
      for (const TensorRef& in : node.inputs) read |= in.node == feed.first;
    }
    if (read) kept.push_back(std::move(feed));
  }
  return kept;
}

TEST(FuseAttentionPoolingGeneralTest, EveryFormFusesAndMatchesTheGraph) {
  const std::vector<std::vector<std::string>> term_sets = {
      {"q", "k", "q-k", "q*k"}, {"q", "k", "q*k"}, {"q", "k"}, {"q*k", "k-q", "k", "q"}};
  const std::vector<std::string> acts = {"relu", "prelu_scalar", "prelu_channel", "swish", "dice"};
  const std::vector<std::pair<std::string, bool>> masks = {
      {"none", false},         {"mul", false},       {"where", false},
      {"where", true},         {"where_not", true},  {"add_where_inf", true},
      {"add_where_big", true}, {"add_tensor", true}, {"mul", true}};
  int cases = 0;
  for (const auto& terms : term_sets) {
    for (const std::string& act : acts) {
      for (const auto& [mask, softmax] : masks) {
        // Every activation with every term set, every mask with a rotating subset.
        if ((cases++ % 3) != 0 && mask != "where") continue;
        const Spec spec{terms, act, mask, softmax, act == "relu" ? 1 : 2, cases % 2 == 0};
        SCOPED_TRACE(SpecName(spec));
        const Graph graph = GeneralBlock(spec);
        PassReport report;
        const Graph fused = FuseAndPrune(graph, &report);
        ASSERT_TRUE(report.changed) << absl::StrJoin(report.notes, "\n");
        EXPECT_EQ(CountOp(fused, std::string(kAttentionPoolingOp)), 1);
        for (const std::string op :
             {"MatMul", "Concat", "Softmax", "PRelu", "Transpose", "ReduceSum", "Tile"}) {
          EXPECT_EQ(CountOp(fused, op), 0) << op;
        }
        const std::vector<Tensor> want = RunGraph(graph, GeneralFeeds(spec, graph));
        const std::vector<Tensor> got = RunGraph(fused, GeneralFeeds(spec, fused));
        ASSERT_EQ(got.size(), 1u);
        ASSERT_EQ(want.size(), 1u);
        ExpectNear(got[0], want[0], 1e-5, SpecName(spec));
      }
    }
  }
}

// Blocks that look like target attention but are not computable by the kernel: not fused, and
// the report says at which node and why.
TEST(FuseAttentionPoolingGeneralTest, NearMissesNameTheNodeAndTheCondition) {
  struct Case {
    Spec spec;
    std::string node;
    std::string why;
  };
  const Case cases[] = {
      {{{"q", "k", "q+k"}, "relu", "mul", false, 1},
       "cat",
       "first-layer input Concat has term 2 ('term2', Add) that is neither q, k, q-k, k-q nor "
       "q*k"},
      {{{"k"}, "relu", "mul", false, 1}, "cat", "the first-layer Concat has no query term"},
      {{{"q", "k"}, "relu", "from_score", false, 1},
       "gate",
       "the mask is computed from the attention scores"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(SpecName(c.spec));
    const Graph graph = GeneralBlock(c.spec);
    Graph out(graph.format());
    absl::StatusOr<PassReport> report = FuseAttentionPooling(graph, KeepPooled(), &out);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_FALSE(report->changed);
    EXPECT_EQ(CountOp(out, std::string(kAttentionPoolingOp)), 0);
    EXPECT_THAT(report->notes,
                ::testing::Contains(HasSubstr("not applicable: 1 target attention")));
    EXPECT_THAT(report->notes,
                ::testing::Contains(HasSubstr(
                    absl::StrCat("near miss at node '", c.node, "' (pooling 'pooled'): ", c.why))));
  }
}

}  // namespace
}  // namespace rankopt
