#include "graph/onnx/onnx_io.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rankopt {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

const std::string kData = RANKOPT_TESTDATA_DIR;
const std::string kShared = RANKOPT_SHARED_DIR;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string TempPath(const std::string& name) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return (fs::path(::testing::TempDir()) /
          (std::string(info->test_suite_name()) + "_" + info->name() + "_" + name))
      .string();
}

std::string WriteTemp(const std::string& name, const std::string& bytes) {
  std::string path = TempPath(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string WriteModel(const std::string& name, const onnx::ModelProto& model) {
  return WriteTemp(name, model.SerializeAsString());
}

bool SourcePassesChecker(const std::string& path) {
  onnx::ModelProto model;
  if (!model.ParseFromString(ReadFile(path))) return false;
  return CheckOnnxModel(model).ok();
}

// Asserts that importing `path` and exporting it again gives the file's exact bytes, and that the
// export passes the checker whenever the source does.
void ExpectByteIdenticalRoundTrip(const std::string& path) {
  SCOPED_TRACE(path);
  absl::StatusOr<Graph> graph = ImportOnnxFile(path);
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::StatusOr<onnx::ModelProto> model = OnnxModelFromGraph(*graph);
  ASSERT_TRUE(model.ok()) << model.status();
  if (SourcePassesChecker(path)) {
    EXPECT_TRUE(CheckOnnxModel(*model).ok()) << CheckOnnxModel(*model);
  }
  const std::string out = TempPath(fs::path(path).filename().string());
  ASSERT_TRUE(ExportOnnxFile(*graph, out).ok());
  EXPECT_TRUE(ReadFile(out) == ReadFile(path)) << "export differs from " << path;
}

// The default-domain opset a model file imports, or -1.
int DefaultOpset(const std::string& path) {
  onnx::ModelProto model;
  if (!model.ParseFromString(ReadFile(path))) return -1;
  for (const auto& opset : model.opset_import()) {
    if (opset.domain().empty() || opset.domain() == "ai.onnx") return opset.version();
  }
  return -1;
}

// Round trips every .onnx under `dir` (recursively); returns how many it checked.
int RoundTripDirectory(const std::string& dir) {
  int count = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.path().extension() != ".onnx") continue;
    const std::string path = entry.path().string();
    const int opset = DefaultOpset(path);
    if (opset < kMinOnnxOpset || opset > kMaxOnnxOpset) {
      // rankopt rejects these by design; the error must say so.
      absl::StatusOr<Graph> graph = ImportOnnxFile(path);
      EXPECT_FALSE(graph.ok()) << path;
      EXPECT_THAT(std::string(graph.status().message()),
                  HasSubstr("is not supported; rankopt reads opsets 1 to 21"))
          << path;
      continue;
    }
    ExpectByteIdenticalRoundTrip(path);
    ++count;
  }
  return count;
}

TEST(OnnxRoundTripTest, FixturesAreByteIdentical) {
  EXPECT_EQ(RoundTripDirectory(kData + "/onnx"), 4);
  EXPECT_EQ(RoundTripDirectory(kData + "/peers"), 2);
}

TEST(OnnxRoundTripTest, SharedModelsAreByteIdentical) {
  const std::string models = kShared + "/models/onnx";
  const std::string mini = kShared + "/peers/mini";
  if (!fs::is_directory(models) && !fs::is_directory(mini)) {
    GTEST_SKIP() << kShared << " is absent";
  }
  int count = 0;
  if (fs::is_directory(models)) count += RoundTripDirectory(models);
  if (fs::is_directory(mini)) count += RoundTripDirectory(mini);
  EXPECT_GT(count, 0);
}

int CountOp(const Graph& graph, absl::string_view op) {
  int n = 0;
  for (const Node& node : graph.nodes()) n += node.op == op;
  return n;
}

TEST(OnnxImportTest, EsmmStructure) {
  absl::StatusOr<Graph> graph = ImportOnnxFile(kData + "/peers/esmm.onnx");
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(graph->format(), ModelFormat::kOnnx);
  EXPECT_EQ(CountOp(*graph, kPlaceholderOp), 13);
  EXPECT_EQ(CountOp(*graph, kConstOp), 28);
  EXPECT_EQ(graph->num_nodes(), 13u + 28u + 30u);
  ASSERT_EQ(graph->outputs().size(), 2u);
  EXPECT_EQ(graph->outputs()[0].name, "pctr");
  EXPECT_EQ(graph->outputs()[0].ref, (TensorRef{"/Sigmoid", 0}));
  EXPECT_EQ(graph->outputs()[1].name, "pctcvr");
  EXPECT_EQ(graph->outputs()[1].ref, (TensorRef{"/Mul", 0}));

  const Node* user_id = graph->FindNode("user_id");
  ASSERT_NE(user_id, nullptr);
  EXPECT_EQ(user_id->op, kPlaceholderOp);
  EXPECT_EQ(user_id->source_index, 0);
  ASSERT_NE(user_id->attrs.Get<DType>("dtype"), nullptr);
  EXPECT_EQ(*user_id->attrs.Get<DType>("dtype"), DType::kInt64);
  ASSERT_NE(user_id->attrs.Get<Shape>("shape"), nullptr);
  EXPECT_EQ(*user_id->attrs.Get<Shape>("shape"), Shape({Shape::kUnknownDim}));  // "batch"
  const Node* dense = graph->FindNode("dense");
  ASSERT_NE(dense, nullptr);
  EXPECT_EQ(*dense->attrs.Get<Shape>("shape"), Shape({Shape::kUnknownDim, 3}));

  const Node* gemm = graph->FindNode("/ctr/ctr.0/Gemm");
  ASSERT_NE(gemm, nullptr);
  EXPECT_EQ(gemm->op, "Gemm");
  EXPECT_EQ(gemm->domain, "");
  ASSERT_EQ(gemm->inputs.size(), 3u);
  EXPECT_EQ(gemm->inputs[0], (TensorRef{"/Concat", 0}));
  EXPECT_EQ(gemm->inputs[1], (TensorRef{"ctr.0.weight", 0}));
  EXPECT_EQ(gemm->inputs[2], (TensorRef{"ctr.0.bias", 0}));
  EXPECT_EQ(gemm->output_names, std::vector<std::string>{"/ctr/ctr.0/Gemm_output_0"});
  ASSERT_NE(gemm->attrs.Get<int64_t>("transB"), nullptr);
  EXPECT_EQ(*gemm->attrs.Get<int64_t>("transB"), 1);
  ASSERT_NE(gemm->attrs.Get<float>("alpha"), nullptr);
  EXPECT_EQ(*gemm->attrs.Get<float>("alpha"), 1.0f);
  const Node* concat = graph->FindNode("/Concat");
  ASSERT_NE(concat, nullptr);
  EXPECT_EQ(concat->inputs.size(), 13u);
  EXPECT_EQ(concat->inputs[12], (TensorRef{"dense", 0}));
}

TEST(OnnxImportTest, EsmmInitializerValues) {
  absl::StatusOr<Graph> graph = ImportOnnxFile(kData + "/peers/esmm.onnx");
  ASSERT_TRUE(graph.ok()) << graph.status();
  const Node* bias = graph->FindNode("ctr.0.bias");
  ASSERT_NE(bias, nullptr);
  EXPECT_EQ(bias->op, kConstOp);
  EXPECT_EQ(bias->source_index, 13);
  const Tensor* value = bias->attrs.Get<Tensor>("value");
  ASSERT_NE(value, nullptr);
  ASSERT_EQ(value->dtype(), DType::kFloat32);
  EXPECT_EQ(value->dims(), std::vector<int64_t>{256});
  // numpy_helper.to_array(ctr.0.bias)[:4].view(np.uint32) from Debian python3-onnx.
  const uint32_t expected_bits[] = {3159392175u, 1026200084u, 1011458247u, 1033704413u};
  for (int i = 0; i < 4; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &value->values<float>()[i], sizeof(bits));
    EXPECT_EQ(bits, expected_bits[i]) << "element " << i;
  }
  EXPECT_NEAR(value->values<float>()[0], -0.01272575f, 1e-8);
  const Node* table = graph->FindNode("emb.user_id.weight");
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->attrs.Get<Tensor>("value")->dims(), (std::vector<int64_t>{1000, 16}));
}

TEST(OnnxImportTest, DinConstantNodeAttributesAreTensors) {
  absl::StatusOr<Graph> graph = ImportOnnxFile(kData + "/peers/din.onnx");
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(CountOp(*graph, kPlaceholderOp), 7);
  EXPECT_EQ(CountOp(*graph, kConstOp), 17);
  EXPECT_EQ(graph->num_nodes(), 7u + 17u + 42u);
  const Node* constant = graph->FindNode("/Constant");
  ASSERT_NE(constant, nullptr);
  EXPECT_EQ(constant->op, "Constant");
  EXPECT_NE(constant->attrs.Get<Tensor>("value"), nullptr);
}

// --- Small hand-built models -------------------------------------------------------------

onnx::ModelProto BaseModel(int opset = 17) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("rankopt-test");
  auto* op = model.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  model.mutable_graph()->set_name("g");
  return model;
}

void AddInput(onnx::GraphProto* g, const std::string& name, int elem_type,
              std::vector<int64_t> dims) {
  auto* input = g->add_input();
  input->set_name(name);
  auto* t = input->mutable_type()->mutable_tensor_type();
  t->set_elem_type(elem_type);
  t->mutable_shape();  // a scalar has an empty shape
  for (int64_t d : dims) {
    if (d < 0)
      t->mutable_shape()->add_dim()->set_dim_param("batch");
    else
      t->mutable_shape()->add_dim()->set_dim_value(d);
  }
}

void AddOutput(onnx::GraphProto* g, const std::string& name, int elem_type,
               std::vector<int64_t> dims) {
  auto* output = g->add_output();
  output->set_name(name);
  auto* t = output->mutable_type()->mutable_tensor_type();
  t->set_elem_type(elem_type);
  t->mutable_shape();  // the checker wants a shape on graph outputs
  for (int64_t d : dims) {
    if (d < 0)
      t->mutable_shape()->add_dim()->set_dim_param("batch");
    else
      t->mutable_shape()->add_dim()->set_dim_value(d);
  }
}

onnx::NodeProto* AddNode(onnx::GraphProto* g, const std::string& op, const std::string& name,
                         std::vector<std::string> inputs, std::vector<std::string> outputs) {
  auto* node = g->add_node();
  node->set_op_type(op);
  node->set_name(name);
  for (auto& in : inputs) node->add_input(in);
  for (auto& out : outputs) node->add_output(out);
  return node;
}

// x -> Relu -> y.
onnx::ModelProto ReluModel() {
  onnx::ModelProto model = BaseModel();
  auto* g = model.mutable_graph();
  AddInput(g, "x", onnx::TensorProto::FLOAT, {-1, 4});
  AddNode(g, "Relu", "relu", {"x"}, {"y"});
  AddOutput(g, "y", onnx::TensorProto::FLOAT, {-1, 4});
  return model;
}

absl::Status ImportError(const std::string& name, const onnx::ModelProto& model) {
  return ImportOnnxFile(WriteModel(name, model)).status();
}

// Fields newer than Debian's ONNX schema must survive import and export, also when the graph
// was edited in between.
TEST(OnnxRoundTripTest, UnknownFieldsSurviveAnEditedRoundTrip) {
  onnx::ModelProto model = ReluModel();
  AddNode(model.mutable_graph(), "Relu", "relu2", {"y"}, {"z"});
  model.mutable_graph()->mutable_output(0)->set_name("z");
  model.GetReflection()->MutableUnknownFields(&model)->AddVarint(999, 7);
  onnx::NodeProto* relu = model.mutable_graph()->mutable_node(0);
  relu->GetReflection()->MutableUnknownFields(relu)->AddLengthDelimited(998, "node extra");
  absl::StatusOr<Graph> graph = ImportOnnxFile(WriteModel("unknown_fields.onnx", model));
  ASSERT_TRUE(graph.ok()) << graph.status();
  graph->FindMutableNode("relu2")->attrs.Set("note", std::string("edited"));
  const std::string out = WriteTemp("unknown_fields_out.onnx", "");
  ASSERT_TRUE(ExportOnnxFile(*graph, out).ok());

  onnx::ModelProto exported;
  ASSERT_TRUE(exported.ParseFromString(ReadFile(out)));
  const auto& model_unknown = exported.GetReflection()->GetUnknownFields(exported);
  ASSERT_EQ(model_unknown.field_count(), 1);
  EXPECT_EQ(model_unknown.field(0).number(), 999);
  EXPECT_EQ(model_unknown.field(0).varint(), 7u);
  const onnx::NodeProto& exported_relu = exported.graph().node(0);
  const auto& node_unknown = exported_relu.GetReflection()->GetUnknownFields(exported_relu);
  ASSERT_EQ(node_unknown.field_count(), 1);
  EXPECT_EQ(node_unknown.field(0).length_delimited(), "node extra");
  ASSERT_EQ(exported.graph().node(1).attribute_size(), 1);
  EXPECT_EQ(exported.graph().node(1).attribute(0).s(), "edited");
}

TEST(OnnxImportErrorsTest, NotAModel) {
  const std::string empty = WriteTemp("empty.onnx", "");
  absl::Status status = ImportOnnxFile(empty).status();
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(empty + ": not an ONNX model (protobuf parse failed"));

  // A length-delimited field that claims more bytes than the file has.
  const std::string garbage = WriteTemp("garbage.onnx", std::string("\x3a\xff\xff\x03xyz", 7));
  EXPECT_EQ(std::string(ImportOnnxFile(garbage).status().message()),
            garbage + ": not an ONNX model (protobuf parse failed)");

  const std::string model = ReadFile(kData + "/peers/esmm.onnx");
  const std::string truncated = WriteTemp("truncated.onnx", model.substr(0, model.size() / 2));
  EXPECT_EQ(std::string(ImportOnnxFile(truncated).status().message()),
            truncated + ": not an ONNX model (protobuf parse failed)");

  // Text that happens to parse as protobuf fields still is no model (ir_version 0).
  const std::string text = WriteTemp("text.onnx", "hello world");
  status = ImportOnnxFile(text).status();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr(text + ": not an ONNX model"));

  status = ImportOnnxFile(TempPath("does_not_exist.onnx")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
}

// Bytes in memory import like the file they came from; `where` names them in errors.
TEST(OnnxImportTest, ImportsBytesLikeTheFile) {
  const std::string path = kData + "/peers/din.onnx";
  absl::StatusOr<Graph> from_file = ImportOnnxFile(path);
  absl::StatusOr<Graph> from_bytes = ImportOnnxBytes(ReadFile(path), "blob://din");
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  ASSERT_TRUE(from_bytes.ok()) << from_bytes.status();
  EXPECT_EQ(from_bytes->num_nodes(), from_file->num_nodes());
  absl::StatusOr<onnx::ModelProto> a = OnnxModelFromGraph(*from_file);
  absl::StatusOr<onnx::ModelProto> b = OnnxModelFromGraph(*from_bytes);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->SerializeAsString(), b->SerializeAsString());

  EXPECT_EQ(std::string(ImportOnnxBytes("", "blob://x").status().message()),
            "blob://x: not an ONNX model (protobuf parse failed: the file is empty)");
  const std::string garbage("\x3a\xff\xff\x03xyz", 7);
  EXPECT_EQ(std::string(ImportOnnxBytes(garbage, "blob://y").status().message()),
            "blob://y: not an ONNX model (protobuf parse failed)");
}

TEST(OnnxImportErrorsTest, IrVersionZeroAndMissingGraph) {
  onnx::ModelProto model = ReluModel();
  model.set_ir_version(0);
  EXPECT_THAT(std::string(ImportError("ir0.onnx", model).message()),
              HasSubstr("not an ONNX model (ir_version is 0"));
  model = ReluModel();
  model.clear_graph();
  EXPECT_THAT(std::string(ImportError("nograph.onnx", model).message()),
              HasSubstr("the ONNX model has no graph"));
}

TEST(OnnxImportErrorsTest, UnsupportedOpset) {
  onnx::ModelProto model = ReluModel();
  model.mutable_opset_import(0)->set_version(99);
  const std::string path = WriteModel("opset99.onnx", model);
  absl::Status status = ImportOnnxFile(path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(std::string(status.message()),
            path +
                ": opset 99 of domain 'ai.onnx' is not supported; rankopt reads opsets 1 to "
                "21");
  model.mutable_opset_import(0)->set_version(0);
  EXPECT_THAT(std::string(ImportError("opset0.onnx", model).message()),
              HasSubstr("opset 0 of domain 'ai.onnx' is not supported"));
  model.clear_opset_import();
  EXPECT_THAT(std::string(ImportError("noopset.onnx", model).message()),
              HasSubstr("imports no opset"));
}

TEST(OnnxImportErrorsTest, DanglingInput) {
  onnx::ModelProto model = ReluModel();
  model.mutable_graph()->mutable_node(0)->set_input(0, "nope");
  EXPECT_THAT(std::string(ImportError("dangling.onnx", model).message()),
              HasSubstr("node 'relu' (Relu) input 0 reads tensor 'nope', which no graph input, "
                        "initializer or node produces"));
}

TEST(OnnxImportErrorsTest, TwoProducers) {
  onnx::ModelProto model = ReluModel();
  AddNode(model.mutable_graph(), "Sigmoid", "sig", {"x"}, {"y"});
  std::string message(ImportError("twice.onnx", model).message());
  EXPECT_THAT(message, HasSubstr("tensor 'y' is produced twice"));
  EXPECT_THAT(message, HasSubstr("'relu'"));
  EXPECT_THAT(message, HasSubstr("'sig'"));

  model = ReluModel();
  auto* init = model.mutable_graph()->add_initializer();
  init->set_name("x");  // same name as the graph input: fine (the Const wins)
  init->set_data_type(onnx::TensorProto::FLOAT);
  init->add_dims(1);
  init->add_dims(4);
  for (int i = 0; i < 4; ++i) init->add_float_data(i);
  EXPECT_TRUE(ImportError("init_input.onnx", model).ok());
  *model.mutable_graph()->add_initializer() = *init;  // two initializers named x
  EXPECT_THAT(std::string(ImportError("init_twice.onnx", model).message()),
              HasSubstr("tensor 'x' is produced twice"));
}

TEST(OnnxImportErrorsTest, Cycle) {
  onnx::ModelProto model = BaseModel();
  auto* g = model.mutable_graph();
  AddInput(g, "x", onnx::TensorProto::FLOAT, {4});
  AddNode(g, "Add", "a", {"x", "b_out"}, {"a_out"});
  AddNode(g, "Relu", "b", {"a_out"}, {"b_out"});
  AddOutput(g, "b_out", onnx::TensorProto::FLOAT, {4});
  absl::Status status = ImportError("cycle.onnx", model);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("cycle"));
}

TEST(OnnxImportErrorsTest, BadTensors) {
  onnx::ModelProto model = ReluModel();
  auto* init = model.mutable_graph()->add_initializer();
  init->set_name("w");
  init->set_data_type(onnx::TensorProto::FLOAT);
  init->add_dims(3);
  init->add_float_data(1);  // 1 value for 3 elements
  EXPECT_THAT(std::string(ImportError("short.onnx", model).message()),
              HasSubstr("initializer 'w' has 1 values in float_data but its shape [3] needs 3"));

  init->clear_float_data();
  init->set_raw_data(std::string(8, '\0'));  // 8 bytes for 12
  EXPECT_THAT(std::string(ImportError("shortraw.onnx", model).message()),
              HasSubstr("initializer 'w'"));

  init->clear_raw_data();
  init->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* entry = init->add_external_data();
  entry->set_key("location");
  entry->set_value("weights.bin");
  absl::Status status = ImportError("external.onnx", model);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()),
              AllOf(HasSubstr("initializer 'w'"), HasSubstr("external data file"),
                    HasSubstr("weights.bin")));

  init->clear_external_data();
  init->set_data_location(onnx::TensorProto::DEFAULT);
  init->clear_dims();
  init->add_dims(-2);
  EXPECT_THAT(std::string(ImportError("negdim.onnx", model).message()),
              HasSubstr("initializer 'w': bad dims"));

  init->clear_dims();
  init->add_dims(int64_t{1} << 62);
  init->add_dims(16);  // overflows int64
  EXPECT_FALSE(ImportError("overflow.onnx", model).ok());

  init->clear_dims();
  init->set_data_type(onnx::TensorProto::COMPLEX64);
  EXPECT_THAT(std::string(ImportError("complex.onnx", model).message()),
              HasSubstr("COMPLEX64 is not supported"));
}

// Typed data fields decode per ONNX's rules; an unchanged model exports byte-identically.
TEST(OnnxImportTest, TypedTensorFields) {
  onnx::ModelProto model = ReluModel();
  auto* g = model.mutable_graph();
  auto add = [&](const std::string& name, int type, int64_t n) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    t->add_dims(n);
    return t;
  };
  auto* f = add("f", onnx::TensorProto::FLOAT, 2);
  f->add_float_data(1.5f);
  f->add_float_data(-2.0f);
  auto* i8 = add("i8", onnx::TensorProto::INT8, 3);
  for (int v : {-128, 5, 127}) i8->add_int32_data(v);
  auto* u16 = add("u16", onnx::TensorProto::UINT16, 1);
  u16->add_int32_data(65535);
  auto* b = add("b", onnx::TensorProto::BOOL, 2);
  b->add_int32_data(1);
  b->add_int32_data(0);
  auto* h = add("h", onnx::TensorProto::FLOAT16, 1);
  h->add_int32_data(0x3c00);  // 1.0 in fp16
  auto* i64 = add("i64", onnx::TensorProto::INT64, 2);
  i64->add_int64_data(-7);
  i64->add_int64_data(int64_t{1} << 40);
  auto* u32 = add("u32", onnx::TensorProto::UINT32, 1);
  u32->add_uint64_data(4000000000u);
  auto* d = add("d", onnx::TensorProto::DOUBLE, 1);
  d->add_double_data(0.25);
  auto* s = add("s", onnx::TensorProto::STRING, 2);
  s->add_string_data("ab");
  s->add_string_data("");
  auto* empty = add("empty", onnx::TensorProto::FLOAT, 0);
  (void)empty;

  const std::string path = WriteModel("typed.onnx", model);
  absl::StatusOr<Graph> graph = ImportOnnxFile(path);
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto value = [&](const std::string& name) {
    return *graph->FindNode(name)->attrs.Get<Tensor>("value");
  };
  EXPECT_THAT(value("f").values<float>(), ::testing::ElementsAre(1.5f, -2.0f));
  EXPECT_THAT(value("i8").values<int8_t>(), ::testing::ElementsAre(-128, 5, 127));
  EXPECT_THAT(value("u16").values<uint16_t>(), ::testing::ElementsAre(65535));
  EXPECT_EQ(value("b").dtype(), DType::kBool);
  EXPECT_EQ(value("b").bytes(), std::string("\x01\x00", 2));
  EXPECT_EQ(value("h").dtype(), DType::kFloat16);
  EXPECT_EQ(value("h").bytes(), std::string("\x00\x3c", 2));
  EXPECT_THAT(value("i64").values<int64_t>(), ::testing::ElementsAre(-7, int64_t{1} << 40));
  EXPECT_THAT(value("u32").values<uint32_t>(), ::testing::ElementsAre(4000000000u));
  EXPECT_THAT(value("d").values<double>(), ::testing::ElementsAre(0.25));
  EXPECT_THAT(value("s").strings(), ::testing::ElementsAre("ab", ""));
  EXPECT_EQ(value("empty").num_elements(), 0);
  ExpectByteIdenticalRoundTrip(path);
}

TEST(OnnxImportTest, NodeNamesAreUnique) {
  onnx::ModelProto model = BaseModel();
  auto* g = model.mutable_graph();
  AddInput(g, "x", onnx::TensorProto::FLOAT, {4});
  AddNode(g, "Relu", "", {"x"}, {"r0"});
  AddNode(g, "Relu", "dup", {"r0"}, {"r1"});
  AddNode(g, "Relu", "dup", {"r1"}, {"r2"});
  AddNode(g, "Relu", "x", {"r2"}, {"r3"});       // collides with the input's node
  AddNode(g, "Relu", "Relu_4", {"r3"}, {"r4"});  // takes the name node 5 would get
  AddNode(g, "Relu", "", {"r4"}, {"r5"});
  AddOutput(g, "r5", onnx::TensorProto::FLOAT, {4});
  const std::string path = WriteModel("names.onnx", model);
  absl::StatusOr<Graph> graph = ImportOnnxFile(path);
  ASSERT_TRUE(graph.ok()) << graph.status();
  std::vector<std::string> names;
  for (const Node& node : graph->nodes()) names.push_back(node.name);
  EXPECT_THAT(names,
              ::testing::ElementsAre("x", "Relu_0", "dup", "Relu_2", "Relu_3", "Relu_4", "Relu_5"));
  EXPECT_EQ(graph->FindNode("Relu_2")->output_names, std::vector<std::string>{"r2"});
  EXPECT_EQ(graph->FindNode("Relu_4")->inputs[0], (TensorRef{"Relu_3", 0}));
  ExpectByteIdenticalRoundTrip(path);
}

// Before IR version 4 initializers are also graph inputs: they import as Consts only, and the
// export lists them as inputs again (dropped with the Const).
TEST(OnnxImportTest, InitializersListedAsInputs) {
  onnx::ModelProto model = BaseModel(7);
  model.set_ir_version(3);
  auto* g = model.mutable_graph();
  AddInput(g, "x", onnx::TensorProto::FLOAT, {2});
  AddInput(g, "w", onnx::TensorProto::FLOAT, {2});
  auto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(2);
  w->add_float_data(3.0f);
  w->add_float_data(4.0f);
  AddNode(g, "Add", "add", {"x", "w"}, {"y"});
  AddOutput(g, "y", onnx::TensorProto::FLOAT, {2});
  ASSERT_TRUE(CheckOnnxModel(model).ok()) << CheckOnnxModel(model);
  const std::string path = WriteModel("ir3.onnx", model);
  absl::StatusOr<Graph> graph = ImportOnnxFile(path);
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(CountOp(*graph, kPlaceholderOp), 1);
  EXPECT_EQ(graph->FindNode("w")->op, kConstOp);
  ExpectByteIdenticalRoundTrip(path);

  // Replace w by a new value of another shape: the initializer and its input entry follow.
  const float v[] = {1, 2, 3, 4};
  graph->FindMutableNode("w")->attrs.Set("value", *Tensor::FromValues<float>({2, 2}, v));
  absl::StatusOr<onnx::ModelProto> exported = OnnxModelFromGraph(*graph);
  ASSERT_TRUE(exported.ok()) << exported.status();
  ASSERT_EQ(exported->graph().input_size(), 2);
  EXPECT_EQ(exported->graph().input(1).name(), "w");
  EXPECT_EQ(exported->graph().input(1).type().tensor_type().shape().dim_size(), 2);
  ASSERT_EQ(exported->graph().initializer_size(), 1);
  EXPECT_EQ(exported->graph().initializer(0).raw_data().size(), 16u);

  // Without the Const (a pass folded the Add away), w is no input either.
  std::vector<Node> nodes;
  for (const Node& node : graph->nodes()) {
    if (node.name != "w" && node.name != "add") nodes.push_back(node);
  }
  ASSERT_TRUE(graph->SetNodes(nodes).ok());
  *graph->mutable_outputs() = {GraphOutput{"x", TensorRef{"x", 0}}};
  exported = OnnxModelFromGraph(*graph);
  ASSERT_TRUE(exported.ok()) << exported.status();
  ASSERT_EQ(exported->graph().input_size(), 1);
  EXPECT_EQ(exported->graph().input(0).name(), "x");
  EXPECT_EQ(exported->graph().output(0).name(), "x");
  EXPECT_TRUE(CheckOnnxModel(*exported).ok()) << CheckOnnxModel(*exported);
}

// An If whose branches read an outer-scope tensor: kept opaque, no error, exported unchanged.
TEST(OnnxImportTest, SubgraphAttributesStayOpaque) {
  onnx::ModelProto model = BaseModel();
  auto* g = model.mutable_graph();
  AddInput(g, "cond", onnx::TensorProto::BOOL, {});
  AddInput(g, "x", onnx::TensorProto::FLOAT, {4});
  auto* node = AddNode(g, "If", "if", {"cond"}, {"y"});
  for (const char* branch : {"then_branch", "else_branch"}) {
    auto* attr = node->add_attribute();
    attr->set_name(branch);
    attr->set_type(onnx::AttributeProto::GRAPH);
    auto* body = attr->mutable_g();
    body->set_name(branch);
    AddNode(body, std::string(branch) == "then_branch" ? "Relu" : "Neg", "", {"x"}, {"out"});
    AddOutput(body, "out", onnx::TensorProto::FLOAT, {4});
  }
  AddOutput(g, "y", onnx::TensorProto::FLOAT, {4});
  ASSERT_TRUE(CheckOnnxModel(model).ok()) << CheckOnnxModel(model);
  const std::string path = WriteModel("if.onnx", model);
  absl::StatusOr<Graph> graph = ImportOnnxFile(path);
  ASSERT_TRUE(graph.ok()) << graph.status();
  const OpaqueAttr* then_branch = graph->FindNode("if")->attrs.Get<OpaqueAttr>("then_branch");
  ASSERT_NE(then_branch, nullptr);
  EXPECT_EQ(then_branch->kind, "graph");
  ExpectByteIdenticalRoundTrip(path);
}

// Corrupted files (bytes flipped, cut short) import as a model or fail with an error; never
// crash. Run under ASan/UBSan to catch out-of-bounds reads.
TEST(OnnxImportErrorsTest, CorruptedFilesNeverCrash) {
  onnx::ModelProto model = ReluModel();
  auto* w = model.mutable_graph()->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::INT8);
  w->add_dims(3);
  for (int v : {1, 2, 3}) w->add_int32_data(v);
  auto* c = model.mutable_graph()->mutable_node(0)->add_attribute();
  c->set_name("t");
  c->set_type(onnx::AttributeProto::TENSOR);
  c->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
  c->mutable_t()->add_dims(2);
  c->mutable_t()->set_raw_data(std::string(8, '\x01'));
  const std::string bytes = model.SerializeAsString();
  uint32_t state = 12345;  // a fixed LCG: reproducible corruptions
  auto next = [&] { return state = state * 1664525u + 1013904223u; };
  int imported = 0, failed = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string corrupt = bytes;
    const int flips = 1 + next() % 3;
    for (int k = 0; k < flips; ++k) corrupt[next() % corrupt.size()] = static_cast<char>(next());
    if (round % 10 == 0) corrupt.resize(next() % corrupt.size());
    onnx::ModelProto parsed;
    if (!parsed.ParseFromString(corrupt)) continue;
    absl::StatusOr<Graph> graph = GraphFromOnnxModel(parsed, "corrupt");
    if (!graph.ok()) {
      ++failed;
      EXPECT_THAT(std::string(graph.status().message()), HasSubstr("corrupt"));
      continue;
    }
    ++imported;
    // What imports exports to the same bytes.
    absl::StatusOr<onnx::ModelProto> again = OnnxModelFromGraph(*graph);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->SerializeAsString(), parsed.SerializeAsString()) << "round " << round;
  }
  EXPECT_GT(imported, 0);
  EXPECT_GT(failed, 0);
}

// --- Edited graphs ---------------------------------------------------------------------

Graph ImportEsmm() {
  absl::StatusOr<Graph> graph = ImportOnnxFile(kData + "/peers/esmm.onnx");
  EXPECT_TRUE(graph.ok()) << graph.status();
  return *std::move(graph);
}

// Exports, checks, writes, re-imports.
absl::StatusOr<Graph> ExportAndReimport(const Graph& graph, const std::string& name,
                                        onnx::ModelProto* exported) {
  absl::StatusOr<onnx::ModelProto> model = OnnxModelFromGraph(graph);
  if (!model.ok()) return model.status();
  absl::Status checked = CheckOnnxModel(*model);
  if (!checked.ok()) return checked;
  *exported = *model;
  const std::string path = TempPath(name);
  absl::Status written = ExportOnnxFile(graph, path);
  if (!written.ok()) return written;
  return ImportOnnxFile(path);
}

TEST(OnnxExportTest, EditedEsmmExportsAndReimports) {
  Graph graph = ImportEsmm();
  // Drop the pctr output (its Sigmoid still feeds pctcvr).
  graph.mutable_outputs()->erase(graph.mutable_outputs()->begin());
  // Remove /cvr/cvr.5/Relu, wiring its consumer to the Relu's input.
  graph.FindMutableNode("/cvr/cvr.6/Gemm")->inputs[0] = TensorRef{"/cvr/cvr.4/Gemm", 0};
  std::vector<Node> nodes;
  for (const Node& node : graph.nodes()) {
    if (node.name != "/cvr/cvr.5/Relu") nodes.push_back(node);
  }
  ASSERT_TRUE(graph.SetNodes(std::move(nodes)).ok());
  // Add a folded Const and a pass-made Mul without output names, exposed as a new output.
  Node scale;
  scale.name = "scale";
  scale.op = std::string(kConstOp);
  const float two = 2.0f;
  scale.attrs.Set("value", *Tensor::FromValues<float>({1}, absl::MakeConstSpan(&two, 1)));
  ASSERT_TRUE(graph.AddNode(scale).ok());
  Node mul;
  mul.name = "scaled_pcvr";
  mul.op = "Mul";
  mul.inputs = {TensorRef{"/Sigmoid_1", 0}, TensorRef{"scale", 0}};
  ASSERT_TRUE(graph.AddNode(mul).ok());
  graph.mutable_outputs()->push_back(GraphOutput{"scaled_pcvr", TensorRef{"scaled_pcvr", 0}});
  // Also change an attribute of an existing node.
  graph.FindMutableNode("/ctr/ctr.0/Gemm")->attrs.Set("alpha", 0.5f);

  onnx::ModelProto exported;
  absl::StatusOr<Graph> again = ExportAndReimport(graph, "edited.onnx", &exported);
  ASSERT_TRUE(again.ok()) << again.status();

  EXPECT_EQ(exported.graph().input_size(), 13);
  EXPECT_EQ(exported.graph().initializer_size(), 29);
  EXPECT_EQ(exported.graph().node_size(), 30);
  ASSERT_EQ(exported.graph().output_size(), 2);
  EXPECT_EQ(exported.graph().output(0).name(), "pctcvr");
  EXPECT_EQ(exported.graph().output(1).name(), "scaled_pcvr");
  EXPECT_EQ(exported.graph().output(1).type().tensor_type().elem_type(), onnx::TensorProto::FLOAT);

  EXPECT_EQ(CountOp(*again, kPlaceholderOp), 13);
  EXPECT_EQ(CountOp(*again, kConstOp), 29);
  EXPECT_EQ(again->num_nodes(), 13u + 29u + 30u);
  EXPECT_EQ(again->FindNode("/cvr/cvr.5/Relu"), nullptr);
  EXPECT_EQ(again->FindNode("/cvr/cvr.6/Gemm")->inputs[0], (TensorRef{"/cvr/cvr.4/Gemm", 0}));
  const Node* new_mul = again->FindNode("scaled_pcvr");
  ASSERT_NE(new_mul, nullptr);
  EXPECT_EQ(new_mul->inputs[0], (TensorRef{"/Sigmoid_1", 0}));
  EXPECT_EQ(new_mul->inputs[1], (TensorRef{"scale", 0}));
  EXPECT_EQ(new_mul->output_names, std::vector<std::string>{"scaled_pcvr"});
  EXPECT_THAT(again->FindNode("scale")->attrs.Get<Tensor>("value")->values<float>(),
              ::testing::ElementsAre(2.0f));
  EXPECT_EQ(*again->FindNode("/ctr/ctr.0/Gemm")->attrs.Get<float>("alpha"), 0.5f);
  EXPECT_EQ(*again->FindNode("/ctr/ctr.0/Gemm")->attrs.Get<int64_t>("transB"), 1);
  ASSERT_EQ(again->outputs().size(), 2u);
  EXPECT_EQ(again->outputs()[1].ref, (TensorRef{"scaled_pcvr", 0}));
  // Untouched records were reused: the weights are the same bytes.
  EXPECT_EQ(*again->FindNode("ctr.0.weight")->attrs.Get<Tensor>("value"),
            *graph.FindNode("ctr.0.weight")->attrs.Get<Tensor>("value"));
}

TEST(OnnxExportTest, IntermediateOutputGetsInferredType) {
  Graph graph = ImportEsmm();
  // A user asked for the ctr tower's logits by node name.
  graph.mutable_outputs()->clear();
  graph.mutable_outputs()->push_back(GraphOutput{"/ctr/ctr.6/Gemm", {"/ctr/ctr.6/Gemm", 0}});
  onnx::ModelProto exported;
  absl::StatusOr<Graph> again = ExportAndReimport(graph, "logits.onnx", &exported);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(exported.graph().output_size(), 1);
  const onnx::ValueInfoProto& out = exported.graph().output(0);
  EXPECT_EQ(out.name(), "/ctr/ctr.6/Gemm_output_0");  // the tensor, not the node name
  EXPECT_EQ(out.type().tensor_type().elem_type(), onnx::TensorProto::FLOAT);
  ASSERT_EQ(out.type().tensor_type().shape().dim_size(), 2);
  EXPECT_EQ(out.type().tensor_type().shape().dim(1).dim_value(), 1);
  EXPECT_EQ(again->outputs()[0].ref, (TensorRef{"/ctr/ctr.6/Gemm", 0}));
}

TEST(OnnxExportTest, CutInputAndChangedPlaceholder) {
  Graph graph = ImportEsmm();
  // Cut the graph at the Concat: a new input feeds both towers.
  Node cut;
  cut.name = "features";
  cut.op = std::string(kPlaceholderOp);
  cut.attrs.Set("dtype", DType::kFloat32);
  cut.attrs.Set("shape", Shape({Shape::kUnknownDim, 195}));
  ASSERT_TRUE(graph.AddNode(cut).ok());
  graph.FindMutableNode("/ctr/ctr.0/Gemm")->inputs[0] = TensorRef{"features", 0};
  graph.FindMutableNode("/cvr/cvr.0/Gemm")->inputs[0] = TensorRef{"features", 0};
  // A pass fixed the batch of `dense`: the input is rebuilt, keeping nothing stale.
  graph.FindMutableNode("dense")->attrs.Set("shape", Shape({16, 3}));

  onnx::ModelProto exported;
  absl::StatusOr<Graph> again = ExportAndReimport(graph, "cut.onnx", &exported);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(exported.graph().input_size(), 14);
  EXPECT_EQ(exported.graph().input(12).name(), "dense");
  EXPECT_EQ(exported.graph().input(12).type().tensor_type().shape().dim(0).dim_value(), 16);
  EXPECT_EQ(exported.graph().input(13).name(), "features");
  const Node* features = again->FindNode("features");
  ASSERT_NE(features, nullptr);
  EXPECT_EQ(*features->attrs.Get<Shape>("shape"), Shape({Shape::kUnknownDim, 195}));
  EXPECT_EQ(again->FindNode("/ctr/ctr.0/Gemm")->inputs[0], (TensorRef{"features", 0}));
}

TEST(OnnxExportTest, RejectsTwoProducersOfOneTensor) {
  Graph graph = ImportEsmm();
  Node copy = *graph.FindNode("/Sigmoid");
  copy.name = "/Sigmoid_copy";
  copy.source_index = -1;
  ASSERT_TRUE(graph.AddNode(copy).ok());
  absl::StatusOr<onnx::ModelProto> model = OnnxModelFromGraph(graph);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(std::string(model.status().message()), HasSubstr("tensor 'pctr'"));
}

TEST(OnnxExportTest, GraphWithoutOnnxSource) {
  Graph graph(ModelFormat::kTfGraphDef);
  Node x;
  x.name = "x";
  x.op = std::string(kPlaceholderOp);
  x.attrs.Set("dtype", DType::kFloat32);
  x.attrs.Set("shape", Shape({Shape::kUnknownDim, 2}));
  ASSERT_TRUE(graph.AddNode(x).ok());
  Node relu;
  relu.name = "relu";
  relu.op = "Relu";
  relu.inputs = {TensorRef{"x", 0}};
  ASSERT_TRUE(graph.AddNode(relu).ok());
  graph.mutable_outputs()->push_back(GraphOutput{"relu", TensorRef{"relu", 0}});
  onnx::ModelProto exported;
  absl::StatusOr<Graph> again = ExportAndReimport(graph, "fresh.onnx", &exported);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(exported.opset_import(0).version(), 17);
  EXPECT_EQ(again->FindNode("relu")->inputs[0], (TensorRef{"x", 0}));
}

TEST(OnnxCheckTest, ReportsCheckerErrors) {
  onnx::ModelProto model = ReluModel();
  EXPECT_TRUE(CheckOnnxModel(model).ok());
  model.mutable_graph()->mutable_node(0)->set_op_type("NoSuchOp");
  absl::Status status = CheckOnnxModel(model);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("NoSuchOp"));
}

// External data (PyTorch 2.x's default export: weights in `model.onnx.data`).

// x[2,3] @ w[3,2] -> y, with w's 6 floats at `offset` of the side file `location`.
onnx::ModelProto ExternalMatMulModel(const std::string& location, int64_t offset) {
  onnx::ModelProto model = BaseModel();
  auto* g = model.mutable_graph();
  AddInput(g, "x", onnx::TensorProto::FLOAT, {2, 3});
  auto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(3);
  w->add_dims(2);
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"location", location}, {"offset", std::to_string(offset)}, {"length", "24"}}) {
    auto* entry = w->add_external_data();
    entry->set_key(key);
    entry->set_value(value);
  }
  AddNode(g, "MatMul", "mm", {"x", "w"}, {"y"});
  AddOutput(g, "y", onnx::TensorProto::FLOAT, {2, 2});
  return model;
}

const std::vector<float> kExternalW = {1.5f, -2, 3, 0.25f, -5, 6};

// The side file: `offset` bytes of 0x7f, then kExternalW.
std::string WriteSideFile(const std::string& name, int64_t offset) {
  std::string bytes(static_cast<size_t>(offset), '\x7f');
  bytes.append(reinterpret_cast<const char*>(kExternalW.data()), kExternalW.size() * sizeof(float));
  return WriteTemp(name, bytes);
}

std::vector<float> ConstValues(const Graph& graph, const std::string& name) {
  const Node* node = graph.FindNode(name);
  if (node == nullptr || node->attrs.Get<Tensor>("value") == nullptr) return {};
  absl::Span<const float> v = node->attrs.Get<Tensor>("value")->values<float>();
  return std::vector<float>(v.begin(), v.end());
}

TEST(OnnxExternalDataTest, ImportsMapsAndKeepsItExternalOnExport) {
  for (int64_t offset : {0, 64, 2}) {  // 2: not float-aligned, copied instead of mapped
    SCOPED_TRACE(offset);
    const std::string side = WriteSideFile("w" + std::to_string(offset) + ".bin", offset);
    const std::string path = WriteModel(
        "ext" + std::to_string(offset) + ".onnx",
        ExternalMatMulModel(fs::path(side).filename().string(), offset));
    absl::StatusOr<Graph> graph = ImportOnnxFile(path);
    ASSERT_TRUE(graph.ok()) << graph.status();
    EXPECT_EQ(ConstValues(*graph, "w"), kExternalW);

    // Exported elsewhere: the data follows into `<out>.data`, and the record points at it.
    const fs::path dir = fs::path(TempPath("out" + std::to_string(offset)));
    fs::create_directories(dir);
    const std::string out = (dir / "model.onnx").string();
    ASSERT_TRUE(ExportOnnxFile(*graph, out).ok());
    ASSERT_TRUE(fs::exists(out + ".data"));
    onnx::ModelProto exported;
    ASSERT_TRUE(exported.ParseFromString(ReadFile(out)));
    const onnx::TensorProto& w = exported.graph().initializer(0);
    EXPECT_EQ(w.data_location(), onnx::TensorProto::EXTERNAL);
    EXPECT_FALSE(w.has_raw_data());
    ASSERT_EQ(w.external_data_size(), 3);
    EXPECT_EQ(w.external_data(0).value(), "model.onnx.data");
    absl::StatusOr<Graph> again = ImportOnnxFile(out);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(ConstValues(*again, "w"), kExternalW);
  }
}

TEST(OnnxExternalDataTest, NeedsTheModelsDirectory) {
  absl::StatusOr<Graph> graph =
      ImportOnnxBytes(ExternalMatMulModel("w.bin", 0).SerializeAsString(), "mem.onnx");
  ASSERT_FALSE(graph.ok());
  EXPECT_THAT(std::string(graph.status().message()),
              AllOf(HasSubstr("mem.onnx: initializer 'w'"), HasSubstr("import the model from")));
}

TEST(OnnxExternalDataTest, BadRecordsAreClearErrors) {
  const std::string side = WriteSideFile("w.bin", 8);
  const std::string location = fs::path(side).filename().string();
  struct Case {
    std::string name;
    std::function<void(onnx::TensorProto*)> edit;
    std::string expected;
  };
  auto set = [](onnx::TensorProto* w, const std::string& key, const std::string& value) {
    for (auto& entry : *w->mutable_external_data()) {
      if (entry.key() == key) entry.set_value(value);
    }
  };
  const std::vector<Case> cases = {
      {"escapes", [&](auto* w) { set(w, "location", "../" + location); },
       "is not a relative path inside the model's directory"},
      {"absolute", [&](auto* w) { set(w, "location", "/etc/hostname"); },
       "is not a relative path inside the model's directory"},
      {"missing", [&](auto* w) { set(w, "location", "nothing_here.bin"); },
       "cannot open its external data file"},
      {"no_location", [&](auto* w) { set(w, "location", ""); }, "names no 'location'"},
      {"length", [&](auto* w) { set(w, "length", "20"); }, "length is 20 bytes but"},
      {"offset_text", [&](auto* w) { set(w, "offset", "-3"); }, "expected a non-negative integer"},
      {"past_end", [&](auto* w) { set(w, "offset", "16"); }, "is past the end of"},
      {"huge_offset", [&](auto* w) { set(w, "offset", "18446744073709551615"); },
       "is past the end of"},
      {"raw_too", [&](auto* w) { w->set_raw_data(std::string(24, '\0')); },
       "both raw_data and external_data"},
      {"twice", [&](auto* w) {
         auto* entry = w->add_external_data();
         entry->set_key("offset");
         entry->set_value("0");
       }, "has the key 'offset' twice"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    onnx::ModelProto model = ExternalMatMulModel(location, 8);
    c.edit(model.mutable_graph()->mutable_initializer(0));
    absl::Status status = ImportError(c.name + ".onnx", model);
    EXPECT_FALSE(status.ok());
    EXPECT_THAT(std::string(status.message()), AllOf(HasSubstr("initializer 'w'"),
                                                     HasSubstr(c.expected)));
  }
}

TEST(OnnxExternalDataTest, AFifoIsRefusedWithoutBlocking) {
  const std::string fifo = TempPath("w.fifo");
  fs::remove(fifo);
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  absl::Status status =
      ImportError("fifo.onnx", ExternalMatMulModel(fs::path(fifo).filename().string(), 0));
  EXPECT_THAT(std::string(status.message()), HasSubstr("is not a regular file"));
  fs::remove(fifo);
}

// The DIN and ESMM peers as torch 2.11's default exporter writes them (tests/data/torch_dynamo).
TEST(OnnxExternalDataTest, TorchDynamoExportsImport) {
  for (const std::string model : {"din", "esmm"}) {
    SCOPED_TRACE(model);
    const std::string path = kData + "/torch_dynamo/" + model + "_dynamo.onnx";
    absl::StatusOr<Graph> graph = ImportOnnxFile(path);
    ASSERT_TRUE(graph.ok()) << graph.status();
    EXPECT_GT(CountOp(*graph, "Const"), 10);
    // The mini peers' weights are the same in both exports: every embedding row, say.
    absl::StatusOr<Graph> classic = ImportOnnxFile(kData + "/peers/" + model + ".onnx");
    ASSERT_TRUE(classic.ok()) << classic.status();
    int64_t classic_bytes = 0, dynamo_bytes = 0;
    for (const Node& node : classic->nodes()) {
      if (node.op == "Const") classic_bytes += node.attrs.Get<Tensor>("value")->bytes().size();
    }
    for (const Node& node : graph->nodes()) {
      if (node.op == "Const") dynamo_bytes += node.attrs.Get<Tensor>("value")->bytes().size();
    }
    EXPECT_NEAR(static_cast<double>(dynamo_bytes), static_cast<double>(classic_bytes),
                0.02 * static_cast<double>(classic_bytes));
  }
}

}  // namespace
}  // namespace rankopt
