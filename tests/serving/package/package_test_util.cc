#include "tests/serving/package/package_test_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <vector>

#include "features/config/feature_config.h"

namespace rankopt::package_test {

std::string TestData(const std::string& relative) {
  return std::string(RANKOPT_TESTDATA_DIR) + "/" + relative;
}

std::string RepoRoot() {
  return std::filesystem::path(RANKOPT_TESTDATA_DIR).parent_path().parent_path().string();
}

namespace {

template <typename T>
Tensor Values(std::vector<int64_t> dims, const std::vector<T>& values) {
  absl::StatusOr<Tensor> t = Tensor::FromValues<T>(std::move(dims), values);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : Tensor();
}

Tensor Bools(std::vector<int64_t> dims, size_t n) {
  std::string bytes(n, '\0');
  for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<char>(i % 3 == 0);
  absl::StatusOr<Tensor> t = Tensor::FromBytes(DType::kBool, std::move(dims), bytes);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : Tensor();
}

Tensor Strings(std::vector<int64_t> dims, std::vector<std::string> values) {
  absl::StatusOr<Tensor> t = Tensor::FromStrings(std::move(dims), std::move(values));
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : Tensor();
}

std::vector<float> Ramp(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * static_cast<float>(i) - 3.0f;
  return v;
}

void ExpectSameSignatureTensors(const std::vector<SignatureTensor>& expected,
                                const std::vector<SignatureTensor>& actual,
                                const std::string& where) {
  ASSERT_EQ(expected.size(), actual.size()) << where;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(expected[i].key, actual[i].key) << where << " " << i;
    EXPECT_EQ(expected[i].ref, actual[i].ref) << where << " " << i;
    EXPECT_EQ(expected[i].dtype, actual[i].dtype) << where << " " << i;
    EXPECT_EQ(expected[i].shape, actual[i].shape) << where << " " << i;
  }
}

}  // namespace

Graph EveryAttrGraph() {
  Graph g(ModelFormat::kOnnx);
  g.set_onnx_opset(13);
  auto add = [&](Node node) {
    absl::Status s = g.AddNode(std::move(node));
    EXPECT_TRUE(s.ok()) << s;
  };
  const Tensor w = Values<float>({4, 128}, Ramp(4 * 128, 0.25f));  // 2048 bytes: a blob

  Node x;
  x.name = "x";
  x.op = std::string(kPlaceholderOp);
  x.attrs.Set("dtype", DType::kFloat32);
  x.attrs.Set("shape", Shape({Shape::kUnknownDim, 4}));
  x.output_names = {"x"};
  add(x);

  Node wn;
  wn.name = "w";
  wn.op = std::string(kConstOp);
  wn.attrs.Set("value", w);
  wn.output_names = {"w"};
  add(wn);

  Node mm;
  mm.name = "mm";
  mm.op = "MatMul";
  mm.inputs = {{"x", 0}, {"w", 0}};
  mm.output_names = {"mm"};
  add(mm);

  Node attrs;
  attrs.name = "attrs";
  attrs.op = "EveryAttr";
  attrs.domain = "com.example";
  attrs.device = "/job:localhost/device:CPU:0";
  attrs.inputs = {{"mm", 0}, {"", 0}};  // the second optional input omitted
  attrs.control_inputs = {"w"};
  attrs.attrs.Set("i", int64_t{-7});
  attrs.attrs.Set("f", 1.5f);
  attrs.attrs.Set("b", true);
  attrs.attrs.Set("s", std::string("bytes\0with a NUL and \xff", 22));
  attrs.attrs.Set("dtype", DType::kInt64);
  attrs.attrs.Set("shape", Shape({Shape::kUnknownDim, 3}));
  attrs.attrs.Set("unknown_rank", Shape::UnknownRank());
  attrs.attrs.Set("scalar_shape", Shape::Scalar());
  attrs.attrs.Set("small_tensor", Values<int32_t>({3}, {1, -2, 3}));
  std::vector<int64_t> big(200);
  std::iota(big.begin(), big.end(), -100);
  attrs.attrs.Set("big_tensor", Values<int64_t>({2, 100}, big));  // 1600 bytes: a blob
  attrs.attrs.Set("string_tensor", Strings({2}, {"a", std::string("b\0c", 3)}));
  attrs.attrs.Set("bool_tensor", Bools({4}, 4));
  attrs.attrs.Set("big_bool_tensor", Bools({32, 64}, 32 * 64));  // 2048 bytes: a blob
  attrs.attrs.Set("empty_tensor", Values<float>({0, 4}, {}));
  attrs.attrs.Set("scalar_tensor", Values<double>({}, {2.5}));
  attrs.attrs.Set("no_tensor", Tensor());
  attrs.attrs.Set("ints", std::vector<int64_t>{1, -2, int64_t{1} << 40});
  attrs.attrs.Set("empty_ints", std::vector<int64_t>{});
  attrs.attrs.Set("floats", std::vector<float>{0.5f, -1.0f, 1e-30f});
  attrs.attrs.Set("bools", std::vector<bool>{true, false, true});
  attrs.attrs.Set("strings", std::vector<std::string>{"x", "", std::string("\0", 1)});
  attrs.attrs.Set("dtypes", std::vector<DType>{DType::kFloat32, DType::kString, DType::kResource,
                                               DType::kBFloat16, DType::kInvalid});
  attrs.attrs.Set("shapes", std::vector<Shape>{Shape({1, 2}), Shape::UnknownRank(), Shape::Scalar(),
                                               Shape({0})});
  attrs.attrs.Set("tensors",
                  std::vector<Tensor>{Values<float>({2}, {1.0f, 2.0f}),
                                      Values<float>({300}, Ramp(300, 0.5f)),  // 1200 bytes
                                      Strings({1}, {"s"}), w});  // w again: the same blob
  attrs.attrs.Set("opaque", OpaqueAttr{"func", std::string("\x0a\x03"
                                                           "abc\0",
                                                           6)});
  attrs.output_names = {"out0", "out1"};
  add(attrs);

  GraphOutput y;
  y.name = "y";
  y.ref.node = "attrs";
  y.ref.port = 1;
  g.mutable_outputs()->push_back(y);
  Signature sig;
  sig.key = "serving_default";
  sig.method_name = "tensorflow/serving/predict";
  SignatureTensor in;
  in.key = "x";
  in.ref.node = "x";
  in.dtype = DType::kFloat32;
  in.shape = Shape({Shape::kUnknownDim, 4});
  sig.inputs.push_back(in);
  SignatureTensor out;
  out.key = "y";
  out.ref.node = "attrs";
  out.ref.port = 1;
  out.dtype = DType::kFloat32;
  sig.outputs.push_back(out);
  g.mutable_signatures()->push_back(sig);
  g.mutable_frozen_variables()->push_back("w");
  EXPECT_TRUE(g.Validate().ok());
  return g;
}

ModelPackage EveryFieldPackage() {
  ModelPackage p;
  p.model_name = "every";
  p.model_version = "2024-05-01.3";
  p.source_path = "/models/every.onnx";
  p.source_format = "onnx";
  p.source_hash = 0x0123456789abcdefULL;
  p.created_by = "rankopt test";
  absl::StatusOr<FeatureConfig> config = LoadFeatureConfig(RepoRoot() + "/configs/din.yaml");
  EXPECT_TRUE(config.ok()) << config.status();
  if (config.ok()) p.feature_config_yaml = FeatureConfigToYaml(*config);
  p.graph = EveryAttrGraph();
  p.outputs = {"y", "mm"};
  p.request_level_inputs = {"x"};
  p.opt_level = "O2";
  p.int8_mode = "force";
  p.warmup_requests = {R"({"user": {"user_id": 3}, "candidates": [{"item_id": 1}]})", "{}"};
  p.report_json = R"({"passes": []})";
  return p;
}

void ExpectSameGraph(const Graph& expected, const Graph& actual) {
  EXPECT_EQ(expected.format(), actual.format());
  EXPECT_EQ(expected.onnx_opset(), actual.onnx_opset());
  ASSERT_EQ(expected.num_nodes(), actual.num_nodes());
  for (size_t i = 0; i < expected.num_nodes(); ++i) {
    const Node& e = expected.nodes()[i];
    const Node& a = actual.nodes()[i];
    SCOPED_TRACE("node " + e.name);
    EXPECT_EQ(e.name, a.name);
    EXPECT_EQ(e.op, a.op);
    EXPECT_EQ(e.domain, a.domain);
    EXPECT_EQ(e.device, a.device);
    EXPECT_EQ(e.inputs, a.inputs);
    EXPECT_EQ(e.control_inputs, a.control_inputs);
    EXPECT_TRUE(e.attrs == a.attrs);
    ASSERT_EQ(e.attrs.size(), a.attrs.size());
    for (size_t k = 0; k < e.attrs.size(); ++k) {
      EXPECT_EQ(e.attrs.entries()[k].first, a.attrs.entries()[k].first);
      EXPECT_TRUE(e.attrs.entries()[k].second == a.attrs.entries()[k].second)
          << "attr " << e.attrs.entries()[k].first;
    }
    EXPECT_EQ(e.output_names, a.output_names);
    EXPECT_EQ(a.source_index, -1);
  }
  ASSERT_EQ(expected.outputs().size(), actual.outputs().size());
  for (size_t i = 0; i < expected.outputs().size(); ++i) {
    EXPECT_EQ(expected.outputs()[i].name, actual.outputs()[i].name);
    EXPECT_EQ(expected.outputs()[i].ref, actual.outputs()[i].ref);
  }
  ASSERT_EQ(expected.signatures().size(), actual.signatures().size());
  for (size_t i = 0; i < expected.signatures().size(); ++i) {
    const Signature& e = expected.signatures()[i];
    const Signature& a = actual.signatures()[i];
    EXPECT_EQ(e.key, a.key);
    EXPECT_EQ(e.method_name, a.method_name);
    ExpectSameSignatureTensors(e.inputs, a.inputs, e.key + " inputs");
    ExpectSameSignatureTensors(e.outputs, a.outputs, e.key + " outputs");
  }
  EXPECT_EQ(expected.frozen_variables(), actual.frozen_variables());
  EXPECT_EQ(actual.source(), nullptr);
}

void ExpectSamePackage(const ModelPackage& expected, const ModelPackage& actual) {
  EXPECT_EQ(actual.format_version, kPackageFormatVersion);
  EXPECT_EQ(expected.model_name, actual.model_name);
  EXPECT_EQ(expected.model_version, actual.model_version);
  EXPECT_EQ(expected.source_path, actual.source_path);
  EXPECT_EQ(expected.source_format, actual.source_format);
  EXPECT_EQ(expected.source_hash, actual.source_hash);
  EXPECT_EQ(expected.created_by, actual.created_by);
  EXPECT_EQ(expected.feature_config_yaml, actual.feature_config_yaml);
  EXPECT_EQ(expected.outputs, actual.outputs);
  EXPECT_EQ(expected.request_level_inputs, actual.request_level_inputs);
  EXPECT_EQ(expected.opt_level, actual.opt_level);
  EXPECT_EQ(expected.int8_mode, actual.int8_mode);
  EXPECT_EQ(expected.warmup_requests, actual.warmup_requests);
  EXPECT_EQ(expected.report_json, actual.report_json);
  ExpectSameGraph(expected.graph, actual.graph);
}

TempDir::TempDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string("rankopt_pkg_") + info->test_suite_name() + "_" + info->name() +
                     "_" + std::to_string(::getpid());
  for (char& c : name) {
    if (c == '/') c = '_';  // parameterized test names
  }
  path_ = (std::filesystem::temp_directory_path() / name).string();
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace rankopt::package_test
