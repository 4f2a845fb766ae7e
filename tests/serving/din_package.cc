#include "tests/serving/din_package.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "features/config/feature_config.h"
#include "features/pipeline/feature_transformer.h"
#include "graph/exec/execution_plan.h"
#include "graph/io/model_io.h"
#include "graph/passes/pass_pipeline.h"
#include "rankopt/request_json.h"
#include "rankopt/status_macros.h"
#include "serving/feature_feeds.h"
#include "serving/request_level_inputs.h"

namespace rankopt {

namespace {
std::string TestData(const std::string& path) {
  return absl::StrCat(RANKOPT_TESTDATA_DIR, "/", path);
}
std::string Source(const std::string& path) {
  return absl::StrCat(RANKOPT_TESTDATA_DIR, "/../../", path);
}
}  // namespace

namespace {

absl::StatusOr<ModelPackage> BuildPeerPackage(const std::string& model,
                                              TableQuantizationMode int8,
                                              const std::string& version,
                                              const std::vector<Request>& warmup) {
  RANKOPT_ASSIGN_OR_RETURN(Graph graph, LoadModel(TestData(absl::StrCat("peers/", model, ".onnx"))));
  RANKOPT_ASSIGN_OR_RETURN(FeatureConfig config,
                           LoadFeatureConfig(Source(absl::StrCat("configs/", model, ".yaml"))));
  OptimizeOptions options;
  options.request_inputs = RequestLevelInputsOf(config);
  Graph optimized(graph.format());
  RANKOPT_RETURN_IF_ERROR(OptimizeGraph(graph, OptLevel::kO2, options, &optimized).status());
  if (int8 != TableQuantizationMode::kOff) {
    TableQuantizationOptions q;
    q.mode = int8;
    RANKOPT_RETURN_IF_ERROR(QuantizeGraphTables(optimized, q, &optimized).status());
  }
  ModelPackage package;
  package.model_name = model;
  package.model_version = version;
  package.source_path = absl::StrCat("tests/data/peers/", model, ".onnx");
  package.source_format = std::string(ModelFormatName(graph.format()));
  package.created_by = "rankopt tests";
  package.feature_config_yaml = FeatureConfigToYaml(config);
  package.opt_level = "O2";
  package.int8_mode = std::string(TableQuantizationModeName(int8));
  PlanOptions plan_options;
  RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<const ExecutionPlan> plan,
                           ExecutionPlan::Create(optimized, plan_options));
  package.outputs = plan->outputs();
  package.graph = std::move(optimized);
  RANKOPT_ASSIGN_OR_RETURN(std::string warmup_json, RequestToJson(warmup[0]));
  package.warmup_requests.push_back(std::move(warmup_json));
  return package;
}

}  // namespace

absl::StatusOr<ModelPackage> BuildDinPackage(TableQuantizationMode int8,
                                             const std::string& version) {
  RANKOPT_ASSIGN_OR_RETURN(std::vector<Request> requests, DinRequests());
  return BuildPeerPackage("din", int8, version, requests);
}

absl::StatusOr<ModelPackage> BuildEsmmPackage(TableQuantizationMode int8,
                                              const std::string& version) {
  RANKOPT_ASSIGN_OR_RETURN(std::vector<Request> requests, EsmmRequests());
  return BuildPeerPackage("esmm", int8, version, requests);
}

absl::StatusOr<std::vector<Request>> EsmmRequests() {
  RANKOPT_ASSIGN_OR_RETURN(std::vector<RequestLine> lines,
                           ReadRequestJsonLines(TestData("features/requests_esmm.jsonl")));
  if (lines.empty()) return absl::NotFoundError("requests_esmm.jsonl has no request");
  const Request& base = lines[0].request;
  std::vector<Request> out;
  for (const RequestLine& line : lines) out.push_back(line.request);
  for (size_t n : {size_t{1}, size_t{7}}) {
    Request r = base;
    r.candidates.resize(std::min(n, base.candidates.size()));
    out.push_back(std::move(r));
  }
  Request other = base;
  if (FeatureValue* id = other.user.FindMutable("user_id")) *id = int64_t{17};
  out.push_back(std::move(other));
  Request big = base;
  big.candidates.clear();
  for (size_t i = 0; i < 200; ++i) big.candidates.push_back(base.candidates[i % base.candidates.size()]);
  out.push_back(std::move(big));
  return out;
}

absl::StatusOr<std::vector<Request>> DinRequests() {
  RANKOPT_ASSIGN_OR_RETURN(std::vector<RequestLine> lines,
                           ReadRequestJsonLines(TestData("features/requests_din.jsonl")));
  if (lines.empty()) return absl::NotFoundError("requests_din.jsonl has no request");
  const Request& base = lines[0].request;
  std::vector<Request> out = {base};
  for (size_t n : {size_t{1}, size_t{7}, size_t{33}}) {
    Request r = base;
    r.candidates.resize(std::min(n, base.candidates.size()));
    out.push_back(std::move(r));
  }
  Request other = base;
  if (FeatureValue* id = other.user.FindMutable("user_id")) *id = int64_t{17};
  if (FeatureValue* hist = other.user.FindMutable("hist_item_ids")) {
    if (auto* ids = std::get_if<std::vector<int64_t>>(hist); ids != nullptr && ids->size() > 5) {
      ids->resize(5);
    }
  }
  out.push_back(std::move(other));
  Request big = base;
  big.candidates.clear();
  for (size_t i = 0; i < 200; ++i) big.candidates.push_back(base.candidates[i % base.candidates.size()]);
  out.push_back(std::move(big));
  return out;
}

absl::StatusOr<std::vector<std::vector<float>>> ReferenceScores(const ModelPackage& package,
                                                                const Request& request) {
  RANKOPT_ASSIGN_OR_RETURN(FeatureConfig config,
                           ParseFeatureConfig(package.feature_config_yaml, "package config"));
  RANKOPT_ASSIGN_OR_RETURN(FeatureTransformer transformer, FeatureTransformer::Create(config));
  PlanOptions plan_options;
  plan_options.outputs = package.outputs;
  RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<const ExecutionPlan> plan,
                           ExecutionPlan::Create(package.graph, plan_options));
  TransformedRequest transformed;
  RANKOPT_RETURN_IF_ERROR(transformer.Transform(request, &transformed));
  GraphFeeds feeds;
  RANKOPT_RETURN_IF_ERROR(FeedsFromTransformedRequest(transformed, plan->inputs(), &feeds));
  std::vector<Tensor> outputs;
  RANKOPT_RETURN_IF_ERROR(plan->Run(feeds.views, &outputs));
  std::vector<std::vector<float>> scores;
  for (const Tensor& t : outputs) {
    const absl::Span<const float> v = t.values<float>();
    scores.emplace_back(v.begin(), v.end());
  }
  return scores;
}

absl::StatusOr<DinVersions> BuildDinVersions(const std::string& fp32_version,
                                             const std::string& int8_version, size_t max_requests) {
  DinVersions v;
  const std::string dir = FreshTempDir("din_versions");
  for (auto [mode, version] : {std::pair{TableQuantizationMode::kOff, &fp32_version},
                               std::pair{TableQuantizationMode::kForce, &int8_version}}) {
    RANKOPT_ASSIGN_OR_RETURN(ModelPackage package, BuildDinPackage(mode, *version));
    const std::string path = absl::StrCat(dir, "/", v.packages.size(), ".rkp");
    RANKOPT_RETURN_IF_ERROR(WriteModelPackage(package, path));
    RANKOPT_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
    v.bytes.push_back(std::move(bytes));
    v.packages.push_back(std::move(package));
  }
  std::filesystem::remove_all(dir);
  RANKOPT_ASSIGN_OR_RETURN(v.requests, DinRequests());
  if (v.requests.size() > max_requests) v.requests.resize(max_requests);
  for (const ModelPackage& package : v.packages) {
    std::vector<std::vector<std::vector<float>>> per_request;
    for (const Request& r : v.requests) {
      RANKOPT_ASSIGN_OR_RETURN(std::vector<std::vector<float>> scores, ReferenceScores(package, r));
      per_request.push_back(std::move(scores));
    }
    v.want.push_back(std::move(per_request));
  }
  if (v.requests.empty() || v.want[0][0] == v.want[1][0]) {
    return absl::InternalError("the fp32 and int8 DIN packages must score differently");
  }
  return v;
}

std::string FreshTempDir(const std::string& name) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      absl::StrCat("rankopt_", name, "_", ::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace rankopt
