#include "serving/model.h"

#include <chrono>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "core/status_macros.h"
#include "features/config/feature_config.h"
#include "features/pipeline/feature_transformer.h"
#include "features/request/request_json.h"
#include "graph/exec/chunked_runner.h"
#include "graph/exec/execution_plan.h"
#include "serving/feature_feeds.h"
#include "serving/package/model_package.h"

namespace rankopt {

// What one Score call works in: reused across calls, so a warm context allocates nothing.
struct ScoreContext {
  TransformedRequest transformed;
  GraphFeeds feeds;
  ChunkedOutputs outputs;
};

struct Model::State {
  ModelPackage package;  // owns the graph whose constants view the mapped file
  std::string path;
  ModelOptions options;
  std::optional<FeatureTransformer> transformer;
  std::unique_ptr<const ExecutionPlan> plan;
  std::unique_ptr<ChunkedRunner> runner;
  std::vector<std::string> heads;
  std::unique_ptr<ModelStats> stats;

  absl::Mutex pool_mu;
  std::vector<std::unique_ptr<ScoreContext>> pool ABSL_GUARDED_BY(pool_mu);

  std::unique_ptr<ScoreContext> Acquire() {
    {
      absl::MutexLock lock(&pool_mu);
      if (!pool.empty()) {
        std::unique_ptr<ScoreContext> context = std::move(pool.back());
        pool.pop_back();
        return context;
      }
    }
    return std::make_unique<ScoreContext>();
  }
  void Release(std::unique_ptr<ScoreContext> context) {
    absl::MutexLock lock(&pool_mu);
    pool.push_back(std::move(context));
  }

  std::string Where() const {
    return absl::StrCat("model '", package.model_name, "' version ", package.model_version);
  }
  absl::Status Run(const Request& request, const ScoreOptions& options, ScoreContext* context,
                   Scores* scores) const;
};

const std::vector<float>* Scores::Find(std::string_view head) const {
  for (size_t i = 0; i < heads.size(); ++i) {
    if (heads[i] == head) return &values[i];
  }
  return nullptr;
}

namespace {

size_t FeedBytes(const GraphFeeds& feeds) {
  size_t bytes = 0;
  for (const std::vector<char>& buffer : feeds.buffers) bytes += buffer.size();
  return bytes;
}

// Copies one output head (dims [N] or [N, 1]) into `out` as float.
absl::Status CopyHead(const TensorView& view, int64_t candidates, const std::string& head,
                      std::vector<float>* out) {
  if (view.NumElements() != candidates) {
    return absl::InternalError(absl::StrCat("output '", head, "' has ", view.NumElements(),
                                            " values for ", candidates,
                                            " candidates; expected one score per candidate"));
  }
  out->resize(static_cast<size_t>(candidates));
  switch (view.dtype) {
    case DType::kFloat32: {
      const absl::Span<const float> v = view.values<float>();
      std::memcpy(out->data(), v.data(), v.size() * sizeof(float));
      return absl::OkStatus();
    }
    case DType::kFloat64: {
      const absl::Span<const double> v = view.values<double>();
      for (size_t i = 0; i < v.size(); ++i) (*out)[i] = static_cast<float>(v[i]);
      return absl::OkStatus();
    }
    default:
      return absl::InternalError(absl::StrCat("output '", head, "' is ", DTypeName(view.dtype),
                                              "; scores must be float32 or float64"));
  }
}

}  // namespace

absl::Status Model::State::Run(const Request& request, const ScoreOptions& options,
                               ScoreContext* context, Scores* scores) const {
  const int64_t candidates = static_cast<int64_t>(request.candidates.size());
  if (candidates > this->options.max_candidates) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request has ", candidates, " candidates; at most ",
                     this->options.max_candidates, " are allowed (ModelOptions::max_candidates)"));
  }
  RANKOPT_RETURN_IF_ERROR(transformer->Transform(request, &context->transformed));
  for (size_t f = 0; f < context->transformed.stats.size(); ++f) {
    const FeatureStats& s = context->transformed.stats[f];
    stats->RecordFeature(f, s.defaults_applied, s.out_of_range);
  }
  RANKOPT_RETURN_IF_ERROR(
      FeedsFromTransformedRequest(context->transformed, plan->inputs(), &context->feeds));
  const size_t feed_bytes = FeedBytes(context->feeds);
  if (this->options.max_request_bytes != 0 && feed_bytes > this->options.max_request_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the request's model inputs take ", feed_bytes, " bytes, over the per-request cap of ",
        this->options.max_request_bytes, " (ModelOptions::max_request_bytes)"));
  }
  if (candidates == 0) {
    // Nothing to score: every requested head is empty.
  } else {
    RANKOPT_RETURN_IF_ERROR(runner->RunInto(context->feeds.views, &context->outputs));
  }
  const absl::Span<const TensorView> views = context->outputs.views();
  const size_t count = options.heads.empty() ? heads.size() : options.heads.size();
  scores->heads.resize(count);
  scores->values.resize(count);
  for (size_t k = 0; k < count; ++k) {
    size_t index = k;
    if (!options.heads.empty()) {
      index = heads.size();
      for (size_t h = 0; h < heads.size(); ++h) {
        if (heads[h] == options.heads[k]) index = h;
      }
      if (index == heads.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown output head '", options.heads[k],
                         "'; the model's heads are: ", absl::StrJoin(heads, ", ")));
      }
    }
    scores->heads[k].assign(heads[index]);
    if (candidates == 0) {
      scores->values[k].clear();
      continue;
    }
    RANKOPT_RETURN_IF_ERROR(CopyHead(views[index], candidates, heads[index], &scores->values[k]));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const Model>> Model::Load(const std::string& path,
                                                         const ModelOptions& options) {
  if (options.threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("ModelOptions::threads is ", options.threads, "; expected >= 1"));
  }
  auto state = std::make_unique<State>();
  state->path = path;
  state->options = options;
  ReadPackageOptions read;
  read.verify_checksums = options.verify_checksums;
  RANKOPT_ASSIGN_OR_RETURN(state->package, ReadModelPackage(path, read));
  const ModelPackage& package = state->package;

  absl::StatusOr<FeatureConfig> config = ParseFeatureConfig(
      package.feature_config_yaml, absl::StrCat(path, ": feature config"));
  if (!config.ok()) return config.status();
  std::vector<std::string> features;
  for (const FeatureSpec& f : config->features) features.push_back(f.name);
  absl::StatusOr<FeatureTransformer> transformer = FeatureTransformer::Create(*std::move(config));
  if (!transformer.ok()) {
    return absl::Status(transformer.status().code(),
                        absl::StrCat(path, ": ", transformer.status().message()));
  }
  state->transformer.emplace(*std::move(transformer));

  PlanOptions plan_options;
  plan_options.outputs = package.outputs;
  plan_options.memory_cap_bytes = options.max_request_bytes;
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(package.graph, plan_options);
  if (!plan.ok()) {
    return absl::Status(plan.status().code(), absl::StrCat(path, ": ", plan.status().message()));
  }
  state->plan = *std::move(plan);
  ChunkedRunnerOptions runner_options;
  runner_options.threads = options.threads;
  runner_options.chunk_rows = options.chunk_rows;
  runner_options.request_level_inputs = package.request_level_inputs;
  RANKOPT_ASSIGN_OR_RETURN(state->runner,
                           ChunkedRunner::Create(state->plan.get(), runner_options));
  state->heads = state->plan->outputs();
  state->stats = std::make_unique<ModelStats>(std::move(features));

  std::shared_ptr<const Model> model(new Model(std::move(state)));
  if (options.warm_up && !model->warmup_requests().empty()) {
    RequestJsonParser parser;
    for (size_t i = 0; i < model->warmup_requests().size(); ++i) {
      Request request;
      absl::Status status = parser.Parse(model->warmup_requests()[i], &request);
      if (status.ok()) status = model->WarmUp(request);
      if (!status.ok()) {
        return absl::Status(status.code(), absl::StrCat(path, ": warm-up request ", i,
                                                        " failed: ", status.message()));
      }
    }
  }
  return model;
}

Model::Model(std::unique_ptr<State> state) : state_(std::move(state)) {}
Model::~Model() = default;

absl::StatusOr<Scores> Model::Score(const Request& request, const ScoreOptions& options) const {
  Scores scores;
  RANKOPT_RETURN_IF_ERROR(ScoreInto(request, options, &scores));
  return scores;
}

absl::Status Model::ScoreInto(const Request& request, const ScoreOptions& options,
                              Scores* scores) const {
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<ScoreContext> context = state_->Acquire();
  absl::Status status = state_->Run(request, options, context.get(), scores);
  state_->Release(std::move(context));
  if (!status.ok()) {
    state_->stats->RecordError(status.code());
    return absl::Status(status.code(), absl::StrCat(state_->Where(), ": ", status.message()));
  }
  state_->stats->RecordRequest(
      static_cast<int64_t>(request.candidates.size()),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return absl::OkStatus();
}

absl::Status Model::WarmUp(const Request& request) const {
  Scores scores;
  std::unique_ptr<ScoreContext> context = state_->Acquire();
  absl::Status status = state_->Run(request, {}, context.get(), &scores);
  state_->Release(std::move(context));
  return status;
}

const std::string& Model::name() const { return state_->package.model_name; }
const std::string& Model::version() const { return state_->package.model_version; }
const std::string& Model::path() const { return state_->path; }
const std::vector<std::string>& Model::heads() const { return state_->heads; }
const std::vector<std::string>& Model::warmup_requests() const {
  return state_->package.warmup_requests;
}
const ModelStats& Model::stats() const { return *state_->stats; }

}  // namespace rankopt
