// The acceptance walk: every reference model in ../shared/models and ../shared/peers/mini
// loads, summarizes, prunes to its outputs (graph outputs, else signature outputs, else sinks),
// is written back in its own format and loads again with the same nodes; ONNX results pass the
// ONNX checker where the source did. Prints "MODEL <path> <nodes before> -> <nodes after>".
// Skipped when ../shared is absent (a fresh clone); the fixtures in tests/data cover the same
// code paths in every run.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "graph/analysis/graph_summary.h"
#include "graph/io/model_io.h"
#include "graph/onnx/onnx_io.h"
#include "graph/passes/prune.h"

namespace rankopt {
namespace {

namespace fs = std::filesystem;

// Model files and SavedModel directories under `root`.
std::vector<fs::path> FindModels(const fs::path& root) {
  std::vector<fs::path> models;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(root)) {
    const fs::path& path = entry.path();
    if (path.filename() == "saved_model.pb") {
      models.push_back(path.parent_path());
    } else if (path.extension() == ".onnx" ||
               (path.extension() == ".pb" && path.filename() != "fingerprint.pb" &&
                !fs::exists(path.parent_path() / "saved_model.pb"))) {
      models.push_back(path);
    }
  }
  std::sort(models.begin(), models.end());
  return models;
}

bool PassesOnnxChecker(const std::string& path) {
  onnx::ModelProto model;
  std::ifstream in(path, std::ios::binary);
  return model.ParseFromIstream(&in) && CheckOnnxModel(model).ok();
}

TEST(SharedModelsTest, EveryModelSummarizesPrunesAndReloads) {
  const fs::path shared(RANKOPT_SHARED_DIR);
  if (!fs::exists(shared / "models") || !fs::exists(shared / "peers" / "mini")) {
    GTEST_SKIP() << shared << " is absent";
  }
  // tf-feature-columns/ (TF exports with feature columns in the graph: string tensors, hash
  // tables, partitioned variables, a "transform" tag) is included.
  std::vector<fs::path> models = FindModels(shared / "models");
  for (const fs::path& path : FindModels(shared / "peers" / "mini")) models.push_back(path);
  const fs::path out_dir = fs::temp_directory_path() / "rankopt_shared_models_test";
  fs::remove_all(out_dir);
  fs::create_directories(out_dir);

  int checked = 0;
  for (const fs::path& path : models) {
    const std::string name = fs::relative(path, shared).string();
    SCOPED_TRACE(name);
    absl::StatusOr<Graph> graph = LoadModel(path.string());
    ASSERT_TRUE(graph.ok()) << graph.status();
    absl::StatusOr<GraphSummaryProto> summary = SummarizeGraph(*graph);
    ASSERT_TRUE(summary.ok()) << summary.status();
    ASSERT_GT(summary->outputs_size(), 0);

    PassOptions options;
    for (const SummaryTensor& output : summary->outputs()) options.outputs.push_back(output.name());
    Graph pruned(graph->format());
    absl::StatusOr<PassReport> report = PruneGraph(*graph, options, &pruned);
    ASSERT_TRUE(report.ok()) << report.status();

    std::string out = (out_dir / absl::StrCat(checked, "_", path.filename().string())).string();
    ASSERT_TRUE(SaveModel(pruned, out).ok()) << SaveModel(pruned, out);
    absl::StatusOr<Graph> reloaded = LoadModel(out);
    ASSERT_TRUE(reloaded.ok()) << reloaded.status();
    EXPECT_EQ(reloaded->num_nodes(), pruned.num_nodes());
    for (const std::string& output : options.outputs) {
      EXPECT_TRUE(reloaded->ResolveTensor(output).ok()) << output;
    }
    if (graph->format() == ModelFormat::kOnnx && PassesOnnxChecker(path.string())) {
      EXPECT_TRUE(PassesOnnxChecker(out));
    }
    std::cout << "MODEL " << name << " " << report->nodes_before << " -> " << report->nodes_after
              << "\n";
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(models.size()));
  fs::remove_all(out_dir);
}

}  // namespace
}  // namespace rankopt
