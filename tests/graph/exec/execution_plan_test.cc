#include "graph/exec/execution_plan.h"

#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "graph/exec/executor_stats.h"
#include "gtest/gtest.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Tiny test kernels: the executor is tested apart from the real kernel libraries.

// Elementwise float32 a + b of equal shapes.
class AddKernel : public OpKernel {
 public:
  absl::Status Compute(KernelContext* ctx) const override {
    const TensorView& a = ctx->input(0);
    const TensorView& b = ctx->input(1);
    if (a.dtype != DType::kFloat32 || b.dtype != DType::kFloat32 || a.dims != b.dims) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Add needs equal float32 shapes, got ", DescribeTensor(a), " and ", DescribeTensor(b)));
    }
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kFloat32, a.dims));
    const float* x = a.data_as<float>();
    const float* y = b.data_as<float>();
    float* z = out.data_as<float>();
    for (int64_t i = 0; i < a.NumElements(); ++i) z[i] = x[i] + y[i];
    return absl::OkStatus();
  }
};

class IdentityKernel : public OpKernel {
 public:
  absl::Status Compute(KernelContext* ctx) const override {
    return ctx->ForwardInput(0, 0, ctx->input(0).dims);
  }
};

// x * constant scalar; the factory requires input 1 to be a graph constant, and Compute checks
// that the run binds the constant's own bytes (no copy).
class ScaleKernel : public OpKernel {
 public:
  explicit ScaleKernel(const Tensor* scale) : scale_(scale) {}
  absl::Status Compute(KernelContext* ctx) const override {
    if (ctx->input(1).data != scale_->bytes().data()) {
      return absl::InternalError("the constant was copied");
    }
    const float s = scale_->values<float>()[0];
    const TensorView& x = ctx->input(0);
    RANKOPT_ASSIGN_OR_RETURN(TensorView out, ctx->AllocateOutput(0, DType::kFloat32, x.dims));
    RANKOPT_ASSIGN_OR_RETURN(void* scratch, ctx->AllocateScratch(x.ByteSize()));
    std::memcpy(scratch, x.data, x.ByteSize());
    for (int64_t i = 0; i < x.NumElements(); ++i) {
      out.data_as<float>()[i] = static_cast<float*>(scratch)[i] * s;
    }
    return absl::OkStatus();
  }

 private:
  const Tensor* scale_;
};

// Output 0: x + 1; output 1: x - 1.
class PlusMinusKernel : public OpKernel {
 public:
  absl::Status Compute(KernelContext* ctx) const override {
    const TensorView& x = ctx->input(0);
    RANKOPT_ASSIGN_OR_RETURN(TensorView plus, ctx->AllocateOutput(0, DType::kFloat32, x.dims));
    RANKOPT_ASSIGN_OR_RETURN(TensorView minus, ctx->AllocateOutput(1, DType::kFloat32, x.dims));
    for (int64_t i = 0; i < x.NumElements(); ++i) {
      plus.data_as<float>()[i] = x.data_as<float>()[i] + 1;
      minus.data_as<float>()[i] = x.data_as<float>()[i] - 1;
    }
    return absl::OkStatus();
  }
};

// Sets no output at all (a kernel bug the executor must catch).
class ForgetfulKernel : public OpKernel {
 public:
  absl::Status Compute(KernelContext* ctx) const override { return absl::OkStatus(); }
};

template <typename K>
KernelFactory Simple() {
  return [](const KernelBuildContext&) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
    return std::make_unique<K>();
  };
}

KernelRegistry MakeRegistry() {
  KernelRegistry r;
  for (OpSet set : {OpSet::kOnnx, OpSet::kTensorFlow}) {
    EXPECT_TRUE(r.Register(set, "Add", Simple<AddKernel>()).ok());
    EXPECT_TRUE(r.Register(set, "Identity", Simple<IdentityKernel>()).ok());
    EXPECT_TRUE(r.Register(set, "PlusMinus", Simple<PlusMinusKernel>()).ok());
    EXPECT_TRUE(r.Register(set, "Forgetful", Simple<ForgetfulKernel>()).ok());
    EXPECT_TRUE(
        r.Register(set, "Scale",
                   [](const KernelBuildContext& b) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
                     if (b.constant_inputs.size() != 2 || b.constant_inputs[1] == nullptr) {
                       return absl::InvalidArgumentError("scale must be a constant");
                     }
                     return std::make_unique<ScaleKernel>(b.constant_inputs[1]);
                   })
            .ok());
  }
  return r;
}

const KernelRegistry& TestRegistry() {
  static const KernelRegistry* const registry = new KernelRegistry(MakeRegistry());
  return *registry;
}

Node Placeholder(const std::string& name, Shape shape, DType dtype = DType::kFloat32,
                 bool onnx = false) {
  Node n;
  n.name = name;
  n.op = std::string(kPlaceholderOp);
  n.attrs.Set("dtype", dtype);
  n.attrs.Set("shape", std::move(shape));
  if (onnx) n.output_names = {name};
  return n;
}

Node Const(const std::string& name, Tensor value, bool onnx = false) {
  Node n;
  n.name = name;
  n.op = std::string(kConstOp);
  n.attrs.Set("value", std::move(value));
  if (onnx) n.output_names = {name};
  return n;
}

Node Op(const std::string& name, const std::string& op, std::vector<TensorRef> inputs,
        std::vector<std::string> output_names = {}) {
  Node n;
  n.name = name;
  n.op = op;
  n.inputs = std::move(inputs);
  n.output_names = std::move(output_names);
  return n;
}

Tensor Floats(std::vector<int64_t> dims, std::vector<float> values) {
  return *Tensor::FromValues<float>(std::move(dims), values);
}

TensorView ViewOf(const Tensor& t) {
  TensorView v;
  v.dtype = t.dtype();
  v.dims.assign(t.dims().begin(), t.dims().end());
  v.data = const_cast<char*>(t.bytes().data());
  return v;
}

std::vector<float> Values(const Tensor& t) {
  return std::vector<float>(t.values<float>().begin(), t.values<float>().end());
}

PlanOptions Options(std::vector<std::string> outputs = {}) {
  PlanOptions options;
  options.outputs = std::move(outputs);
  options.registry = &TestRegistry();
  return options;
}

// ONNX: y = (x + c) with x [?,2] fed and c [2,2] an initializer.
Graph OnnxAddGraph() {
  Graph g(ModelFormat::kOnnx);
  EXPECT_TRUE(g.AddNode(Placeholder("x", Shape({-1, 2}), DType::kFloat32, true)).ok());
  EXPECT_TRUE(g.AddNode(Const("c", Floats({2, 2}, {10, 20, 30, 40}), true)).ok());
  EXPECT_TRUE(g.AddNode(Op("add_node", "Add", {{"x", 0}, {"c", 0}}, {"y"})).ok());
  g.mutable_outputs()->push_back({"y", {"add_node", 0}});
  return g;
}

// TF: z = Add(Identity(x), x), with a PlusMinus split feeding two adds.
Graph TfGraph() {
  Graph g(ModelFormat::kTfGraphDef);
  EXPECT_TRUE(g.AddNode(Placeholder("x", Shape({-1, 3}))).ok());
  EXPECT_TRUE(g.AddNode(Op("id", "Identity", {{"x", 0}})).ok());
  EXPECT_TRUE(g.AddNode(Op("z", "Add", {{"id", 0}, {"x", 0}})).ok());
  EXPECT_TRUE(g.AddNode(Op("pm", "PlusMinus", {{"z", 0}})).ok());
  EXPECT_TRUE(g.AddNode(Op("w", "Add", {{"pm", 0}, {"pm", 1}})).ok());
  return g;
}

TEST(ExecutionPlanTest, RunsOnnxGraphWithBoundConstant) {
  Graph g = OnnxAddGraph();
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan = ExecutionPlan::Create(g, Options());
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ((*plan)->inputs().size(), 1u);
  EXPECT_EQ((*plan)->inputs()[0].name, "x");
  EXPECT_EQ((*plan)->inputs()[0].dtype, DType::kFloat32);
  EXPECT_THAT((*plan)->outputs(), ElementsAre("y"));

  Tensor x = Floats({2, 2}, {1, 2, 3, 4});
  std::vector<Tensor> out;
  ASSERT_TRUE((*plan)->Run({{"x", ViewOf(x)}}, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_THAT(out[0].dims(), ElementsAre(2, 2));
  EXPECT_THAT(Values(out[0]), ElementsAre(11, 22, 33, 44));
}

TEST(ExecutionPlanTest, PlanOutlivesTheGraph) {
  std::unique_ptr<const ExecutionPlan> plan;
  {
    Graph g = OnnxAddGraph();
    absl::StatusOr<std::unique_ptr<const ExecutionPlan>> p = ExecutionPlan::Create(g, Options());
    ASSERT_TRUE(p.ok()) << p.status();
    plan = *std::move(p);
  }
  Tensor x = Floats({2, 2}, {0, 0, 0, 1});
  std::vector<Tensor> out;
  ASSERT_TRUE(plan->Run({{"x", ViewOf(x)}}, &out).ok());
  EXPECT_THAT(Values(out[0]), ElementsAre(10, 20, 30, 41));
}

TEST(ExecutionPlanTest, RunsTfGraphWithForwardingAndTwoOutputPorts) {
  Graph g = TfGraph();
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(g, Options({"w", "pm:1", "id"}));
  ASSERT_TRUE(plan.ok()) << plan.status();
  Tensor x = Floats({1, 3}, {1, 2, 3});
  std::vector<Tensor> out;
  ASSERT_TRUE((*plan)->Run({{"x", ViewOf(x)}}, &out).ok());
  ASSERT_EQ(out.size(), 3u);
  // z = 2x; w = (z + 1) + (z - 1) = 4x.
  EXPECT_THAT(Values(out[0]), ElementsAre(4, 8, 12));
  EXPECT_THAT(Values(out[1]), ElementsAre(1, 3, 5));
  EXPECT_THAT(Values(out[2]), ElementsAre(1, 2, 3));
}

// TF NodeDefs don't declare their output count: a kernel may write ports nothing reads
// (SparseFillEmptyRows' reverse_index_map, say); they are computed and dropped.
TEST(ExecutionPlanTest, TfKernelsMayWritePortsNothingReads) {
  Graph g = TfGraph();
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(g, Options({"pm"}));  // only port 0 of PlusMinus is read
  ASSERT_TRUE(plan.ok()) << plan.status();
  Tensor x = Floats({1, 3}, {1, 2, 3});
  std::vector<Tensor> out;
  absl::Status run = (*plan)->Run({{"x", ViewOf(x)}}, &out);
  ASSERT_TRUE(run.ok()) << run;
  EXPECT_THAT(Values(out[0]), ElementsAre(3, 5, 7));  // z + 1 with z = 2x
}

TEST(ExecutionPlanTest, DefaultOutputsOfTfGraphAreTheSinks) {
  Graph g = TfGraph();
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan = ExecutionPlan::Create(g, Options());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT((*plan)->outputs(), ElementsAre("w"));
}

TEST(ExecutionPlanTest, OutputsMayBeInputsAndConstants) {
  Graph g = OnnxAddGraph();
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(g, Options({"c", "x"}));
  ASSERT_TRUE(plan.ok()) << plan.status();
  Tensor x = Floats({1, 2}, {5, 6});
  std::vector<Tensor> out;
  ASSERT_TRUE((*plan)->Run({{"x", ViewOf(x)}}, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_THAT(Values(out[0]), ElementsAre(10, 20, 30, 40));
  EXPECT_THAT(Values(out[1]), ElementsAre(5, 6));
}

TEST(ExecutionPlanTest, OnlyNeededNodesArePlanned) {
  // "broken" has no kernel, but nothing the output needs reads it.
  Graph g = OnnxAddGraph();
  ASSERT_TRUE(g.AddNode(Op("broken", "NoSuchOp", {{"x", 0}}, {"b"})).ok());
  EXPECT_TRUE(ExecutionPlan::Create(g, Options({"y"})).ok());
}

TEST(ExecutionPlanTest, ConstantInputsReachTheFactoryAndAreNotCopied) {
  Graph g(ModelFormat::kTfGraphDef);
  ASSERT_TRUE(g.AddNode(Placeholder("x", Shape({-1}))).ok());
  ASSERT_TRUE(g.AddNode(Const("s", Floats({}, {3}))).ok());
  ASSERT_TRUE(g.AddNode(Op("scaled", "Scale", {{"x", 0}, {"s", 0}})).ok());
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan = ExecutionPlan::Create(g, Options());
  ASSERT_TRUE(plan.ok()) << plan.status();
  Tensor x = Floats({3}, {1, 2, 3});
  std::vector<Tensor> out;
  absl::Status s = (*plan)->Run({{"x", ViewOf(x)}}, &out);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(Values(out[0]), ElementsAre(3, 6, 9));

  // Fed instead of constant: the factory's error names the node.
  Graph fed(ModelFormat::kTfGraphDef);
  ASSERT_TRUE(fed.AddNode(Placeholder("x", Shape({-1}))).ok());
  ASSERT_TRUE(fed.AddNode(Op("scaled", "Scale", {{"x", 0}, {"x", 0}})).ok());
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> bad = ExecutionPlan::Create(fed, Options());
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("node 'scaled' (Scale): scale must be a constant"));
}

TEST(ExecutionPlanTest, FeedErrorsNameTheInputAndWhatWasExpected) {
  Graph g = OnnxAddGraph();
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan = ExecutionPlan::Create(g, Options());
  ASSERT_TRUE(plan.ok()) << plan.status();
  const ExecutionPlan& p = **plan;
  Tensor good = Floats({2, 2}, {1, 2, 3, 4});
  std::vector<Tensor> out;

  absl::Status missing = p.Run({}, &out);
  EXPECT_EQ(missing.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.message(), HasSubstr("missing input 'x' ([?,2] float32)"));

  absl::Status unknown = p.Run({{"x", ViewOf(good)}, {"z", ViewOf(good)}}, &out);
  EXPECT_THAT(unknown.message(), HasSubstr("unknown input 'z'"));
  EXPECT_THAT(unknown.message(), HasSubstr("'x' [?,2] float32"));

  absl::Status twice = p.Run({{"x", ViewOf(good)}, {"x", ViewOf(good)}}, &out);
  EXPECT_THAT(twice.message(), HasSubstr("'x' is fed more than once"));

  Tensor ints = *Tensor::FromValues<int64_t>({2, 2}, std::vector<int64_t>{1, 2, 3, 4});
  absl::Status dtype = p.Run({{"x", ViewOf(ints)}}, &out);
  EXPECT_THAT(dtype.message(), HasSubstr("input 'x': expected float32, got int64"));

  Tensor rank1 = Floats({4}, {1, 2, 3, 4});
  absl::Status rank = p.Run({{"x", ViewOf(rank1)}}, &out);
  EXPECT_THAT(rank.message(), HasSubstr("expected shape [?,2]"));
  EXPECT_THAT(rank.message(), HasSubstr("got [4]"));

  Tensor wide = Floats({1, 4}, {1, 2, 3, 4});
  absl::Status dim = p.Run({{"x", ViewOf(wide)}}, &out);
  EXPECT_THAT(dim.message(), HasSubstr("got [1,4]"));

  TensorView negative = ViewOf(good);
  negative.dims = {-2, -2};
  EXPECT_FALSE(p.Run({{"x", negative}}, &out).ok());

  TensorView no_data = ViewOf(good);
  no_data.data = nullptr;
  EXPECT_THAT(p.Run({{"x", no_data}}, &out).message(), HasSubstr("has no data"));

  // After all that, a good run on the same thread still works.
  ASSERT_TRUE(p.Run({{"x", ViewOf(good)}}, &out).ok());
  EXPECT_THAT(Values(out[0]), ElementsAre(11, 22, 33, 44));
}

TEST(ExecutionPlanTest, KernelErrorsNameTheNode) {
  Graph g = OnnxAddGraph();
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan = ExecutionPlan::Create(g, Options());
  ASSERT_TRUE(plan.ok());
  Tensor x = Floats({1, 2}, {1, 2});  // c is [2,2]: the test Add rejects the shapes
  std::vector<Tensor> out;
  absl::Status s = (*plan)->Run({{"x", ViewOf(x)}}, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("node 'add_node' (Add): Add needs equal float32 shapes"));
}

TEST(ExecutionPlanTest, UnknownOpIsAnErrorAtCreateWithCloseNames) {
  Graph g(ModelFormat::kOnnx);
  ASSERT_TRUE(g.AddNode(Placeholder("x", Shape({2}), DType::kFloat32, true)).ok());
  ASSERT_TRUE(g.AddNode(Op("n1", "Ad", {{"x", 0}, {"x", 0}}, {"a"})).ok());
  ASSERT_TRUE(g.AddNode(Op("n2", "Frobnicate", {{"n1", 0}}, {"b"})).ok());
  g.mutable_outputs()->push_back({"b", {"n2", 0}});
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan = ExecutionPlan::Create(g, Options());
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(plan.status().message(), HasSubstr("op 'Ad' (node 'n1') has no rankopt ONNX kernel"));
  EXPECT_THAT(plan.status().message(), HasSubstr("the closest: Add"));
  EXPECT_THAT(plan.status().message(), HasSubstr("Frobnicate (node 'n2')"));
}

TEST(ExecutionPlanTest, ControlFlowIsRejectedNamingTheNode) {
  Graph g(ModelFormat::kTfGraphDef);
  ASSERT_TRUE(g.AddNode(Placeholder("x", Shape({2}))).ok());
  ASSERT_TRUE(g.AddNode(Placeholder("p", Shape({}), DType::kBool)).ok());
  ASSERT_TRUE(g.AddNode(Op("sw", "Switch", {{"x", 0}, {"p", 0}})).ok());
  ASSERT_TRUE(g.AddNode(Op("y", "Identity", {{"sw", 1}})).ok());
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(g, Options({"y"}));
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(), HasSubstr("node 'sw' (Switch)"));
  EXPECT_THAT(plan.status().message(), HasSubstr("constant-fold the cond first"));
}

TEST(ExecutionPlanTest, BadOutputNamesAndPortsAreErrors) {
  Graph g = OnnxAddGraph();
  EXPECT_FALSE(ExecutionPlan::Create(g, Options({"nope"})).ok());
  // An ONNX node has exactly its named outputs.
  EXPECT_FALSE(ExecutionPlan::Create(g, Options({"add_node:1"})).ok());
  // A Placeholder has one output.
  Graph tf(ModelFormat::kTfGraphDef);
  ASSERT_TRUE(tf.AddNode(Placeholder("x", Shape({2}))).ok());
  ASSERT_TRUE(tf.AddNode(Op("y", "Identity", {{"x", 1}})).ok());
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan = ExecutionPlan::Create(tf, Options());
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(), HasSubstr("node 'x' (Placeholder)"));
}

TEST(ExecutionPlanTest, CycleIsAnError) {
  Graph g(ModelFormat::kTfGraphDef);
  ASSERT_TRUE(g.AddNode(Op("a", "Identity", {{"b", 0}})).ok());
  ASSERT_TRUE(g.AddNode(Op("b", "Identity", {{"a", 0}})).ok());
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(g, Options({"b"}));
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(), HasSubstr("cycle"));
}

TEST(ExecutionPlanTest, KernelThatSetsNoOutputIsCaught) {
  Graph g(ModelFormat::kTfGraphDef);
  ASSERT_TRUE(g.AddNode(Placeholder("x", Shape({2}))).ok());
  ASSERT_TRUE(g.AddNode(Op("lazy", "Forgetful", {{"x", 0}})).ok());
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan = ExecutionPlan::Create(g, Options());
  ASSERT_TRUE(plan.ok());
  Tensor x = Floats({2}, {1, 2});
  std::vector<Tensor> out;
  absl::Status s = (*plan)->Run({{"x", ViewOf(x)}}, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("node 'lazy' (Forgetful): the kernel did not produce"));
}

// x -> a1 = x + x -> a2 = a1 + a1 -> ... (n adds of [rows, 256] floats).
Graph AddChain(int n) {
  Graph g(ModelFormat::kTfGraphDef);
  EXPECT_TRUE(g.AddNode(Placeholder("x", Shape({-1, 256}))).ok());
  std::string prev = "x";
  for (int i = 1; i <= n; ++i) {
    std::string name = absl::StrCat("a", i);
    EXPECT_TRUE(g.AddNode(Op(name, "Add", {{prev, 0}, {prev, 0}})).ok());
    prev = name;
  }
  return g;
}

TEST(ExecutionPlanTest, MemoryCapIsResourceExhaustedNamingTheNode) {
  Graph g = AddChain(3);
  PlanOptions options = Options({"a3"});
  options.memory_cap_bytes = 256 * 4 * 10;  // 10 rows of one tensor
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan = ExecutionPlan::Create(g, options);
  ASSERT_TRUE(plan.ok());
  std::vector<Tensor> out;
  Tensor small = Floats({4, 256}, std::vector<float>(4 * 256, 1.0f));
  ASSERT_TRUE((*plan)->Run({{"x", ViewOf(small)}}, &out).ok());
  EXPECT_EQ(out[0].values<float>()[0], 8.0f);
  Tensor big = Floats({16, 256}, std::vector<float>(16 * 256, 1.0f));
  absl::Status s = (*plan)->Run({{"x", ViewOf(big)}}, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("node 'a1' (Add)"));
  EXPECT_THAT(s.message(), HasSubstr("memory cap"));
}

TEST(ExecutionPlanTest, DeadValuesAreReused) {
  // 20 adds of 64 KiB each; only two are ever alive at once (plus the requested output).
  Graph g = AddChain(20);
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(g, Options({"a20"}));
  ASSERT_TRUE(plan.ok());
  Tensor x = Floats({64, 256}, std::vector<float>(64 * 256, 1.0f));
  std::vector<Tensor> out;
  ASSERT_TRUE((*plan)->Run({{"x", ViewOf(x)}}, &out).ok());
  EXPECT_EQ(out[0].values<float>()[100], 1048576.0f);
  EXPECT_LE(CurrentThreadArenaStats().last_run_bytes, 3u * 64 * 256 * 4);
}

TEST(ExecutionPlanTest, NoArenaGrowthAfterWarmUp) {
  Graph g = AddChain(8);
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(g, Options({"a8", "a4"}));
  ASSERT_TRUE(plan.ok());
  // Large enough to need several chunks on the first run.
  Tensor big = Floats({512, 256}, std::vector<float>(512 * 256, 1.0f));
  Tensor small = Floats({3, 256}, std::vector<float>(3 * 256, 1.0f));
  std::vector<Tensor> out;
  ASSERT_TRUE((*plan)->Run({{"x", ViewOf(big)}}, &out).ok());
  ASSERT_TRUE((*plan)->Run({{"x", ViewOf(big)}}, &out).ok());
  const ThreadArenaStats warm = CurrentThreadArenaStats();
  EXPECT_GT(warm.system_allocations, 0);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE((*plan)->Run({{"x", ViewOf(i % 2 ? small : big)}}, &out).ok());
  }
  EXPECT_EQ(CurrentThreadArenaStats().system_allocations, warm.system_allocations);
  EXPECT_EQ(CurrentThreadArenaStats().capacity_bytes, warm.capacity_bytes);
}

TEST(ExecutionPlanTest, ConcurrentRunsGiveIdenticalResults) {
  Graph g = TfGraph();
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(g, Options({"w", "pm:1"}));
  ASSERT_TRUE(plan.ok());
  constexpr int kThreads = 8;
  std::vector<Tensor> inputs;
  for (int t = 0; t < kThreads; ++t) {
    std::vector<float> v(300);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(t) + 0.25f * i;
    inputs.push_back(Floats({100, 3}, v));
  }
  std::vector<std::vector<Tensor>> expected(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE((*plan)->Run({{"x", ViewOf(inputs[t])}}, &expected[t]).ok());
  }
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Tensor> out;
      for (int r = 0; r < 200; ++r) {
        const int which = (t + r) % kThreads;
        if (!(*plan)->Run({{"x", ViewOf(inputs[which])}}, &out).ok() || out != expected[which]) {
          ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace rankopt
