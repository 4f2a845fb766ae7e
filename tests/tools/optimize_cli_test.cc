// End-to-end tests of `rankopt optimize` and of run/bench on the package it writes: the report
// (every pass with a status, the int8 row, the overall speedup), the package (read back with
// ReadModelPackage), scores bitwise equal to `rankopt run` on the source model, and one-line
// errors. Also the pass pipeline's after_pass observer the report is built on.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "graph/io/model_io.h"
#include "graph/passes/pass_pipeline.h"
#include "serving/optimize_report.pb.h"
#include "serving/package/model_package.h"
#include "tests/tools/cli_runner.h"

namespace rankopt {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kData = RANKOPT_TESTDATA_DIR;
const std::string kDin = kData + "/peers/din.onnx";
const std::string kDinConfig = kData + "/../../configs/din.yaml";
const std::string kDinRequests = kData + "/features/requests_din.jsonl";
// Timing kept short: >= 20 runs per graph, no minimum time.
const std::string kQuick = " --time-s 0";

const std::vector<std::string> kO2Passes = {"prune",
                                            "constant_folding",
                                            "fold_batch_norm",
                                            "gru_batch_first",
                                            "fuse_attention_pooling",
                                            "split_field_concat",
                                            "split_first_dense",
                                            "request_level",
                                            "fuse_matmul_bias_activation",
                                            "fuse_gemm_epilogue",
                                            "embedding_bag",
                                            "embedding_lookup",
                                            "fuse_multi_lookup",
                                            "final_prune"};

class OptimizeCliTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = FreshTestDir("rankopt_optimize_test"); }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `rankopt <args>` (shell words the test controls), capturing both streams.
  RunResult Run(const std::string& args) { return RunRankopt(dir_, args); }

  std::string Temp(const std::string& name) { return (dir_ / name).string(); }

  fs::path dir_;
};

// The line of the report's table that starts with `step` (followed by a space).
std::string StepLine(const std::string& out, const std::string& step) {
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    if (absl::StartsWith(line, absl::StrCat(step, " "))) return std::string(line);
  }
  return "";
}

TEST_F(OptimizeCliTest, DinO2Int8AutoReportsEveryStepAndPackagesTheModel) {
  const std::string package = Temp("din.rkp");
  RunResult r = Run("optimize " + kDin + " --features " + kDinConfig + " --sample " + kDinRequests +
                    " -O 2 --int8 auto --precision fp32 -o " + package + kQuick);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(StepLine(r.out, "precision"), HasSubstr(" skipped "));
  // The context header.
  EXPECT_THAT(r.out,
              AllOf(HasSubstr("rankopt 0.1.0"), HasSubstr("CPU: "), HasSubstr("logical cores"),
                    HasSubstr("kernels: "), HasSubstr("AMX "), HasSubstr("1 thread")));
  EXPECT_THAT(r.out, HasSubstr("sample:    " + kDinRequests + " (1 request)"));
  // Every O2 pass, with a status.
  for (const std::string& pass : kO2Passes) {
    const std::string line = StepLine(r.out, pass);
    EXPECT_THAT(line, testing::AnyOf(HasSubstr(" effective "), HasSubstr(" not applicable "),
                                     HasSubstr(" skipped ")))
        << pass << " in\n"
        << r.out;
  }
  // The request-level split and the fused attention are what O2 is for: both effective on DIN.
  EXPECT_THAT(StepLine(r.out, "request_level"), HasSubstr(" effective "));
  // The int8 row, and the per-table detail.
  EXPECT_THAT(StepLine(r.out, "int8"),
              testing::AnyOf(HasSubstr(" effective "), HasSubstr(" not applicable ")));
  EXPECT_THAT(r.out, AllOf(HasSubstr("int8 tables (auto)"), HasSubstr("item_emb.weight"),
                           HasSubstr("labels: none")));
  // Overall: a positive speedup.
  std::smatch m;
  const std::regex overall(R"(latency +\S+ \S+ -> \S+ \S+ +speedup ([0-9.]+)x)");
  ASSERT_TRUE(std::regex_search(r.out, m, overall)) << r.out;
  EXPECT_GT(std::stod(m[1]), 0.0);
  EXPECT_THAT(r.out, AllOf(HasSubstr("package  "), HasSubstr("wrote " + package)));

  // The package reads back with what the report says.
  absl::StatusOr<ModelPackage> read = ReadModelPackage(package);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->model_name, "din");
  EXPECT_EQ(read->model_version, "1");
  EXPECT_EQ(read->opt_level, "O2");
  EXPECT_EQ(read->int8_mode, "auto");
  EXPECT_EQ(read->source_format, "onnx");
  EXPECT_NE(read->source_hash, 0u);
  EXPECT_THAT(read->created_by, HasSubstr("rankopt"));
  EXPECT_THAT(read->outputs, ElementsAreArray({"prob"}));
  EXPECT_THAT(read->request_level_inputs,
              ElementsAreArray({"user_id", "hist_item_ids", "hist_cate_ids", "hist_len"}));
  ASSERT_EQ(read->warmup_requests.size(), 1u);
  EXPECT_THAT(read->warmup_requests[0], HasSubstr("\"user_id\":472"));
  EXPECT_THAT(read->feature_config_yaml, HasSubstr("hist_item_ids"));
  serving::OptimizeReport stored;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(read->report_json, &stored).ok());
  EXPECT_EQ(stored.passes_size(), static_cast<int>(kO2Passes.size()));
  EXPECT_EQ(stored.overall().package_bytes(), 0);  // only known once written

  // Served from the package: the same scores, bitwise, as the source model run with the same
  // level, int8 mode and sample (the dense layers stay fp32 with --precision fp32).
  RunResult from_package = Run("run " + package + " --requests " + kDinRequests + " --json");
  ASSERT_EQ(from_package.exit_code, 0) << from_package.err;
  RunResult from_model = Run("run " + kDin + " --config " + kDinConfig + " -O 2 --int8 auto " +
                             "--requests " + kDinRequests + " --json");
  ASSERT_EQ(from_model.exit_code, 0) << from_model.err;
  EXPECT_THAT(from_package.out, HasSubstr("\"prob\""));
  EXPECT_EQ(from_package.out, from_model.out);

  // bench takes the package as it is; -O / --int8 / --config do not apply to it.
  const std::string quick_bench =
      " --candidates 16 --threads 1 --warmup-s 0 --min-s 0 --no-profile";
  RunResult bench = Run("bench " + package + quick_bench);
  ASSERT_EQ(bench.exit_code, 0) << bench.err;
  EXPECT_THAT(bench.out, AllOf(HasSubstr("model package din v1"),
                               HasSubstr("synthesized from the package's feature config")));
  ExpectOneLineError(Run("bench " + package + " -O 1" + quick_bench), 2,
                     {"-O does not apply", "rankopt optimize"});
  ExpectOneLineError(Run("run " + package + " --requests " + kDinRequests + " --int8 auto"), 2,
                     {"--int8 does not apply", "din.onnx"});
  RunResult tiled =
      Run("bench " + package + quick_bench + " --requests " + kData + "/exec/din_ref_200.json");
  EXPECT_EQ(tiled.exit_code, 0) << tiled.err;
  // The source model at -O 2 with --config: requests synthesized from the config (one user), so
  // the request-level inputs hold equal rows.
  RunResult source = Run("bench " + kDin + " -O 2 --config " + kDinConfig + quick_bench);
  ASSERT_EQ(source.exit_code, 0) << source.err;
  EXPECT_THAT(source.out, HasSubstr("synthesized from " + kDinConfig));
}

TEST_F(OptimizeCliTest, WithoutSampleSynthesizesRequestsFromTheConfig) {
  const std::string package = Temp("din_synth.rkp");
  RunResult r =
      Run("optimize " + kDin + " --features " + kDinConfig +
          " --candidates 48 --name din_ctr --model-version 2024-05 -o " + package + kQuick);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("synthesized from the config (no --sample)"),
                           HasSubstr("the synthesized request, 48 candidates"),
                           HasSubstr("latency (48 cand.)")));
  absl::StatusOr<ModelPackage> read = ReadModelPackage(package);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->model_name, "din_ctr");
  EXPECT_EQ(read->model_version, "2024-05");
  ASSERT_EQ(read->warmup_requests.size(), 1u);
  // The synthesized warm-up request runs through the package.
  const std::string requests = Temp("warmup.jsonl");
  std::ofstream(requests) << read->warmup_requests[0] << "\n";
  RunResult run = Run("run " + package + " --requests " + requests);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("prob [48,1] float32"));
}

TEST_F(OptimizeCliTest, JsonReportParsesAndListsTheSamePasses) {
  const std::string args =
      " --features " + kDinConfig + " --sample " + kDinRequests + " -O 1 --int8 off" + kQuick;
  RunResult text = Run("optimize " + kDin + args + " -o " + Temp("a.rkp"));
  ASSERT_EQ(text.exit_code, 0) << text.err;
  RunResult json = Run("optimize " + kDin + args + " -o " + Temp("b.rkp") + " --json");
  ASSERT_EQ(json.exit_code, 0) << json.err;
  serving::OptimizeReport report;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &report).ok()) << json.out;
  std::vector<std::string> names;
  for (const serving::OptimizeStep& step : report.passes()) {
    names.push_back(step.name());
    EXPECT_FALSE(step.status().empty()) << step.name();
    EXPECT_THAT(StepLine(text.out, step.name()), HasSubstr(" " + step.status() + " "));
  }
  EXPECT_THAT(names, ElementsAreArray(PassNames(OptLevel::kO1)));
  EXPECT_EQ(report.opt_level(), "O1");
  EXPECT_EQ(report.int8().step().status(), "skipped");
  EXPECT_EQ(report.int8().step().reason(), "--int8 off");
  EXPECT_GT(report.overall().speedup(), 0);
  EXPECT_GT(report.overall().package_bytes(), 0);
  EXPECT_GT(report.overall().baseline_latency_us(), 0);
  EXPECT_FALSE(report.context().cpu_model().empty());
  EXPECT_TRUE(report.request_level_inputs().empty());  // O1 marks nothing request-level
  // A pass that left the graph unchanged reuses the previous latency.
  for (const serving::OptimizeStep& step : report.passes()) {
    if (step.timed() || !step.latency_note().empty()) continue;
    EXPECT_EQ(step.latency_after_us(), step.latency_before_us()) << step.name();
    EXPECT_EQ(step.speedup(), 1.0) << step.name();
  }
}

TEST_F(OptimizeCliTest, ErrorsAreOneLineAndNameTheProblem) {
  const std::string base = "optimize " + kDin + " --features " + kDinConfig + kQuick;
  RunResult no_out = Run(base);
  EXPECT_EQ(no_out.exit_code, 2);
  EXPECT_THAT(no_out.err, HasSubstr("-o OUT.rkp are required"));
  ExpectOneLineError(Run(base + " -o " + Temp("x.rkp") + " --int8 maybe"), 2,
                     {"--int8: unknown table quantization mode 'maybe'"});
  ExpectOneLineError(Run(base + " -o " + Temp("x.rkp") + " -O 3"), 2, {"O0, O1 or O2"});
  ExpectOneLineError(Run(base + " -o " + Temp("x.rkp") + " --outputs nope"), 1,
                     {"din.onnx", "--outputs 'nope'"});
  ExpectOneLineError(Run("optimize " + Temp("missing.onnx") + " --features " + kDinConfig + " -o " +
                         Temp("x.rkp")),
                     1, {"missing.onnx"});
  ExpectOneLineError(
      Run("optimize " + kDin + " --features " + Temp("missing.yaml") + " -o " + Temp("x.rkp")), 1,
      {"missing.yaml"});
  ExpectOneLineError(Run(base + " -o " + kDin), 1, {"refusing to overwrite the input model"});

  // A sample request the config rejects: its line and the field.
  std::string good = ReadFile(kDinRequests);
  while (!good.empty() && good.back() == '\n') good.pop_back();
  const std::string bad_sample = Temp("bad.jsonl");
  std::ofstream(bad_sample) << good << "\n"
                            << R"({"user": {"user_id": 3}, "candidates": [{"item_id": "sku-1"}]})"
                            << "\n";
  ExpectOneLineError(Run(base + " --sample " + bad_sample + " -o " + Temp("x.rkp")), 1,
                     {"bad.jsonl:2", "candidates[0]", "item_id"});
  EXPECT_FALSE(fs::exists(Temp("x.rkp")));
}

// The observer the report is built on: called once per pass, in order, with the graph it left;
// its error stops the pipeline with the pass's name leading.
TEST(PassPipelineObserverTest, SeesEveryPassAndStopsOnError) {
  absl::StatusOr<Graph> graph = LoadModel(kDin);
  ASSERT_TRUE(graph.ok()) << graph.status();
  std::vector<std::string> seen;
  OptimizeOptions options;
  options.after_pass = [&](const PassReport& report, const Graph& after) {
    seen.push_back(report.pass);
    EXPECT_EQ(static_cast<int64_t>(after.num_nodes()), report.nodes_after) << report.pass;
    return absl::OkStatus();
  };
  Graph out(graph->format());
  absl::StatusOr<std::vector<PassReport>> reports =
      OptimizeGraph(*graph, OptLevel::kO1, options, &out);
  ASSERT_TRUE(reports.ok()) << reports.status();
  EXPECT_THAT(seen, ElementsAreArray(PassNames(OptLevel::kO1)));

  options.after_pass = [](const PassReport& report, const Graph&) {
    return report.pass == "fold_batch_norm" ? absl::ResourceExhaustedError("stop here")
                                            : absl::OkStatus();
  };
  reports = OptimizeGraph(*graph, OptLevel::kO1, options, &out);
  ASSERT_FALSE(reports.ok());
  EXPECT_EQ(reports.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(reports.status().message(), "fold_batch_norm: stop here");
}

}  // namespace
}  // namespace rankopt
