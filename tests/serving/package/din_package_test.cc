// DIN end to end: imported, optimized at O2 with the request-level inputs of configs/din.yaml,
// tables quantized to int8, written as a package, mapped back: the same graph, constants that
// are views into the mapping, and bitwise identical predictions.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/file_io.h"
#include "features/config/feature_config.h"
#include "graph/exec/execution_plan.h"
#include "graph/exec/tensor_json.h"
#include "graph/io/model_io.h"
#include "graph/passes/pass_pipeline.h"
#include "serving/package/model_package.h"
#include "serving/request_level_inputs.h"
#include "serving/table_quantization.h"
#include "tests/serving/package/package_test_util.h"

namespace rankopt {
namespace {

using ::rankopt::package_test::ExpectSameGraph;
using ::rankopt::package_test::RepoRoot;
using ::rankopt::package_test::TempDir;
using ::rankopt::package_test::TestData;

// Whether `p` lies in a mapping of the file `path` (from /proc/self/maps).
bool InMappingOf(const void* p, const std::string& path) {
  const std::string want = std::filesystem::canonical(path).string();
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const uintptr_t addr = reinterpret_cast<uintptr_t>(p);
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, perms, offset, dev, inode, file;
    in >> range >> perms >> offset >> dev >> inode >> file;
    const size_t dash = range.find('-');
    const uintptr_t begin = std::stoull(range.substr(0, dash), nullptr, 16);
    const uintptr_t end = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (addr >= begin && addr < end) return file == want && perms[1] == '-';  // read-only
  }
  return false;
}

std::vector<Tensor> RunDin(const Graph& graph, const std::vector<NamedTensor>& inputs) {
  PlanOptions options;
  options.outputs = {"prob"};
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan = ExecutionPlan::Create(graph, options);
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (!plan.ok()) return {};
  std::vector<Tensor> outputs;
  absl::Status run = (*plan)->Run(FeedsOf(inputs), &outputs);
  EXPECT_TRUE(run.ok()) << run;
  return outputs;
}

TEST(DinPackageTest, OptimizedInt8DinRoundTripsThroughAPackage) {
  const std::string onnx = TestData("peers/din.onnx");
  absl::StatusOr<Graph> imported = LoadModel(onnx);
  ASSERT_TRUE(imported.ok()) << imported.status();
  absl::StatusOr<FeatureConfig> config = LoadFeatureConfig(RepoRoot() + "/configs/din.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  OptimizeOptions optimize;
  optimize.outputs = {"prob"};
  optimize.request_inputs = RequestLevelInputsOf(*config);
  Graph o2(ModelFormat::kOnnx);
  absl::StatusOr<std::vector<PassReport>> passes =
      OptimizeGraph(*imported, OptLevel::kO2, optimize, &o2);
  ASSERT_TRUE(passes.ok()) << passes.status();
  TableQuantizationOptions quantize;
  quantize.mode = TableQuantizationMode::kForce;
  Graph int8(ModelFormat::kOnnx);
  absl::StatusOr<GraphQuantizationReport> quantized = QuantizeGraphTables(o2, quantize, &int8);
  ASSERT_TRUE(quantized.ok()) << quantized.status();
  ASSERT_EQ(quantized->kept, 3);

  ModelPackage package;
  package.model_name = "din";
  package.model_version = "1";
  package.source_path = onnx;
  package.source_format = std::string(ModelFormatName(ModelFormat::kOnnx));
  absl::StatusOr<uint64_t> hash = HashSourceModel(onnx);
  ASSERT_TRUE(hash.ok()) << hash.status();
  package.source_hash = *hash;
  package.created_by = "rankopt test";
  package.feature_config_yaml = FeatureConfigToYaml(*config);
  package.graph = int8;
  package.outputs = {"prob"};
  for (const RequestLevelInput& in : optimize.request_inputs) {
    if (in.columns.empty()) package.request_level_inputs.push_back(in.name);
  }
  package.opt_level = "O2";
  package.int8_mode = "force";
  absl::StatusOr<std::string> requests = ReadFileToString(TestData("features/requests_din.jsonl"));
  ASSERT_TRUE(requests.ok()) << requests.status();
  package.warmup_requests = {requests->substr(0, requests->find('\n'))};
  package.report_json = R"({"opt_level": "O2"})";

  TempDir dir;
  const std::string path = dir.File("din.rkp");
  ASSERT_TRUE(WriteModelPackage(package, path).ok());
  const uint64_t file_bytes = std::filesystem::file_size(path);

  // Load time: best of a few (the file is in the page cache after the first).
  double best_ms = 1e9, best_unverified_ms = 1e9;
  for (int i = 0; i < 5; ++i) {
    for (bool verify : {true, false}) {
      ReadPackageOptions options;
      options.verify_checksums = verify;
      const auto start = std::chrono::steady_clock::now();
      absl::StatusOr<ModelPackage> p = ReadModelPackage(path, options);
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      ASSERT_TRUE(p.ok()) << p.status();
      (verify ? best_ms : best_unverified_ms) = std::min(verify ? best_ms : best_unverified_ms, ms);
    }
  }
  std::printf(
      "din mini package (O2, int8 tables): %llu bytes, %zu nodes; load %.3f ms "
      "(checksums verified), %.3f ms (not verified)\n",
      static_cast<unsigned long long>(file_bytes), int8.num_nodes(), best_ms, best_unverified_ms);

  ReadPackageOptions mapped;  // the default copies a package this small into memory
  mapped.copy_below_bytes = 0;
  absl::StatusOr<ModelPackage> read = ReadModelPackage(path, mapped);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_NE(read->mapped_file, nullptr);
  EXPECT_EQ(read->model_name, "din");
  EXPECT_EQ(read->model_version, "1");
  EXPECT_EQ(read->outputs, package.outputs);
  EXPECT_EQ(read->feature_config_yaml, package.feature_config_yaml);
  EXPECT_EQ(read->source_hash, package.source_hash);
  EXPECT_EQ(read->request_level_inputs, package.request_level_inputs);
  EXPECT_EQ(read->warmup_requests, package.warmup_requests);
  ExpectSameGraph(int8, read->graph);
  absl::StatusOr<FeatureConfig> read_config =
      ParseFeatureConfig(read->feature_config_yaml, "din.rkp config");
  ASSERT_TRUE(read_config.ok()) << read_config.status();

  // Every large constant, the int8 tables first among them, is a view into the mapping.
  for (const GraphTableQuantization& t : quantized->tables) {
    SCOPED_TRACE(t.table);
    const Node* node = read->graph.FindNode(t.table);
    ASSERT_NE(node, nullptr);
    const Tensor* value = node->attrs.Get<Tensor>("value");
    ASSERT_NE(value, nullptr);
    EXPECT_EQ(value->dtype(), DType::kUInt8);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(value->bytes().data()) % 64, 0u);
    EXPECT_TRUE(InMappingOf(value->bytes().data(), path));
    EXPECT_TRUE(InMappingOf(value->bytes().data() + value->bytes().size() - 1, path));
    EXPECT_EQ(*value, TableValue(*int8.FindNode(t.table)));
  }
  int views = 0;
  for (const Node& node : read->graph.nodes()) {
    const Tensor* value = node.attrs.Get<Tensor>("value");
    if (value == nullptr || !IsFixedWidth(value->dtype())) continue;
    const bool large = value->ByteSize() >= kPackageBlobMinBytes;
    EXPECT_EQ(InMappingOf(value->bytes().data(), path), large) << node.name;
    views += large;
  }
  EXPECT_GE(views, 3);

  // The same predictions, bit for bit.
  absl::StatusOr<std::string> text = ReadFileToString(TestData("peers/din_ref.json"));
  ASSERT_TRUE(text.ok()) << text.status();
  absl::StatusOr<TensorJsonDocument> doc = ParseTensorJson(*text, "din_ref.json");
  ASSERT_TRUE(doc.ok()) << doc.status();
  const std::vector<Tensor> expected = RunDin(int8, doc->inputs);
  const std::vector<Tensor> actual = RunDin(read->graph, doc->inputs);
  ASSERT_EQ(expected.size(), 1u);
  ASSERT_EQ(actual.size(), 1u);
  EXPECT_EQ(expected[0].dims(), actual[0].dims());
  EXPECT_EQ(expected[0].bytes(), actual[0].bytes());  // bitwise
  EXPECT_EQ(expected[0].num_elements(), 16);

  // Loaded from bytes in memory: the same predictions.
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  ASSERT_TRUE(bytes.ok());
  absl::StatusOr<ModelPackage> parsed = ParseModelPackage(*bytes, "din.rkp");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(RunDin(parsed->graph, doc->inputs)[0].bytes(), expected[0].bytes());

  // A table outlives its package and the file.
  Tensor table = *read->graph.FindNode(quantized->tables[1].table)->attrs.Get<Tensor>("value");
  read = absl::StatusOr<ModelPackage>(absl::CancelledError("dropped"));
  std::filesystem::remove(path);
  EXPECT_EQ(table, TableValue(*int8.FindNode(quantized->tables[1].table)));
}

}  // namespace
}  // namespace rankopt
