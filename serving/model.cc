#include "rankopt/model.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cache/cache_key.h"
#include "features/config/feature_config.h"
#include "rankopt/request_json.h"
#include "rankopt/status_macros.h"
#include "serving/limits.h"
#include "serving/package/mapping_guard.h"
#include "serving/package/model_package.h"
#include "serving/remote/remote_graph.h"
#include "serving/remote/remote_tables.h"
#include "serving/scorer.h"
#include "serving/split_runner.h"

namespace rankopt {

struct Model::State {
  ModelPackage package;  // owns the graph whose constants view the mapped file
  std::string path;
  std::string version;  // options.version_label or the package's
  ModelOptions options;
  // The transformer, plan and runner of the whole graph.
  std::unique_ptr<const Scorer> scorer;
  std::vector<std::string> heads;
  std::vector<ModelFeature> features;
  std::unique_ptr<ModelStats> stats;
  // The user and item caches' split execution; null when both are off or not applicable.
  std::unique_ptr<const SplitRunner> split;

  // std::mutex, not Abseil's: Debian's Abseil is not built for TSan, which could not see it.
  std::mutex pool_mu;
  std::vector<std::unique_ptr<ScoreContext>> pool;  // guarded by pool_mu

  std::unique_ptr<ScoreContext> Acquire() {
    {
      std::lock_guard<std::mutex> lock(pool_mu);
      if (!pool.empty()) {
        std::unique_ptr<ScoreContext> context = std::move(pool.back());
        pool.pop_back();
        return context;
      }
    }
    return std::make_unique<ScoreContext>();
  }
  void Release(std::unique_ptr<ScoreContext> context) {
    std::lock_guard<std::mutex> lock(pool_mu);
    pool.push_back(std::move(context));
  }

  // The model's identity (name, version, source, options, file): cache keys' seed.
  std::string Identity() const {
    return absl::StrCat(package.model_name, "\n", package.model_version, "\n",
                        package.source_hash, "\n", package.opt_level, "\n", package.int8_mode,
                        "\n", path);
  }
  std::string Where() const {
    return absl::StrCat("model '", package.model_name, "' version ", version);
  }
  // DataLoss when the package's bytes may no longer be the verified ones.
  absl::Status CheckBytes() const {
    if (package.mapped_file != nullptr) {
      if (!package.mapped_file->Changed()) return absl::OkStatus();
      return absl::DataLossError(absl::StrCat(
          "the package file ", path, " was truncated or overwritten in place while being served (",
          package.mapped_file->reason(),
          "); scores computed from it cannot be trusted. Publish new versions by rename (a new "
          "version folder, or `mv` over the file) and reload"));
    }
    if (MappingDamaged(package.mapping_guard)) {
      return absl::DataLossError(absl::StrCat(
          "the package file ", path,
          " was truncated or overwritten in place while being served; its scores cannot be "
          "trusted. Publish new versions by rename (a new version folder) and reload"));
    }
    return absl::OkStatus();
  }
  absl::Status Run(const Request& request, const ScoreOptions& options, ScoreContext* context,
                   Scores* scores) const;
  // The transformed request's feeds in context->feeds.
  absl::Status Feed(const Request& request, ScoreContext* context) const;
};

const std::vector<float>* Scores::Find(std::string_view head) const {
  for (size_t i = 0; i < heads.size(); ++i) {
    if (heads[i] == head) return &values[i];
  }
  return nullptr;
}

namespace {

// The features a request sends (not crosses or sequence lengths) and the value type each reads.
std::vector<ModelFeature> ModelFeaturesOf(const FeatureConfig& config) {
  std::vector<ModelFeature> out;
  for (const FeatureSpec& f : config.features) {
    if (f.kind == FeatureKind::kCross || f.kind == FeatureKind::kSequenceLength) continue;
    ModelFeature m;
    m.name = f.name;
    m.side = f.side == FeatureSide::kUser      ? ModelFeature::Side::kUser
             : f.side == FeatureSide::kContext ? ModelFeature::Side::kContext
                                               : ModelFeature::Side::kItem;
    m.list = f.kind == FeatureKind::kSequence;
    if (f.kind == FeatureKind::kNumeric) {
      m.dtype = f.numeric.from_string ? "string" : "float";
    } else {
      const CategoricalSpec::Source s = f.categorical.source;
      m.dtype = s == CategoricalSpec::Source::kHash || s == CategoricalSpec::Source::kVocabulary
                    ? "string"
                    : "int64";
    }
    out.push_back(std::move(m));
  }
  return out;
}

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
  RANKOPT_RETURN_IF_ERROR(Feed(request, context));
  for (size_t f = 0; f < context->transformed.stats.size(); ++f) {
    const FeatureStats& s = context->transformed.stats[f];
    stats->RecordFeature(f, s.defaults_applied, s.out_of_range);
  }
  const size_t feed_bytes = FeedBytes(context->feeds);
  if (this->options.max_request_bytes != 0 && feed_bytes > this->options.max_request_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the request's model inputs take ", feed_bytes, " bytes, over the per-request cap of ",
        this->options.max_request_bytes, " (ModelOptions::max_request_bytes)"));
  }
  if (candidates == 0) {
    // Nothing to score: every requested head is empty.
  } else if (split != nullptr) {
    RANKOPT_RETURN_IF_ERROR(split->Run(context, candidates));
  } else {
    RANKOPT_RETURN_IF_ERROR(scorer->Run(context->feeds.views, &context->outputs));
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

absl::Status Model::State::Feed(const Request& request, ScoreContext* context) const {
  RANKOPT_RETURN_IF_ERROR(CheckRequestLimits(request, options));
  return scorer->Feed(request, context);
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
  read.max_file_bytes = options.max_package_bytes;
  read.max_graph_nodes = options.max_graph_nodes;
  read.max_tensor_bytes = options.max_tensor_bytes;
  read.copy_below_bytes = options.copy_package_below_bytes;
  RANKOPT_ASSIGN_OR_RETURN(state->package, ReadModelPackage(path, read));
  const ModelPackage& package = state->package;
  state->version = options.version_label.empty() ? package.model_version : options.version_label;

  absl::StatusOr<FeatureConfig> config =
      ParseFeatureConfig(package.feature_config_yaml, absl::StrCat(path, ": feature config"));
  if (!config.ok()) return config.status();
  std::vector<std::string> features;
  for (const FeatureSpec& f : config->features) features.push_back(f.name);
  state->features = ModelFeaturesOf(*config);
  ScorerOptions scorer_options;
  scorer_options.outputs = package.outputs;
  scorer_options.threads = options.threads;
  scorer_options.chunk_rows = options.chunk_rows;
  scorer_options.memory_cap_bytes = options.max_request_bytes;
  scorer_options.request_level_inputs = package.request_level_inputs;
  // Remote tables: the cluster, checked to hold this package's rows, before any scoring.
  absl::StatusOr<std::shared_ptr<const RemoteTables>> opened =
      OpenRemoteTables(package.graph, options.remote_tables);
  if (!opened.ok()) {
    return absl::Status(opened.status().code(), absl::StrCat(path, ": ", opened.status().message()));
  }
  const std::shared_ptr<const RemoteTables> remote_tables = *std::move(opened);
  scorer_options.remote_tables = remote_tables;
  absl::StatusOr<std::unique_ptr<Scorer>> scorer =
      Scorer::Create(&package.graph, *std::move(config), std::move(scorer_options));
  if (!scorer.ok()) {
    return absl::Status(scorer.status().code(),
                        absl::StrCat(path, ": ", scorer.status().message()));
  }
  state->scorer = *std::move(scorer);
  state->heads = state->scorer->outputs();
  state->stats = std::make_unique<ModelStats>(std::move(features));
  if (remote_tables != nullptr) {
    state->stats->SetRemoteTables([remote_tables] { return remote_tables->counters(); });
    if (options.remote_tables.cache_bytes > 0) {
      state->stats->AddCache("remote_rows", [remote_tables] { return remote_tables->cache_counters(); });
    }
  }
  if (options.item_cache.capacity_bytes > 0 || options.user_cache.capacity_bytes > 0) {
    const State* s = state.get();
    absl::StatusOr<std::unique_ptr<SplitRunner>> split = SplitRunner::Create(
        state->scorer.get(), &package.graph, package.outputs, options, state->Identity(),
        package.warmup_requests,
        [s](const Request& request, ScoreContext* context) { return s->Feed(request, context); },
        state->stats.get());
    if (!split.ok()) {
      return absl::Status(split.status().code(),
                          absl::StrCat(path, ": ", split.status().message()));
    }
    if ((*split)->enabled()) state->split = *std::move(split);
  }

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
  // After the reads: a file changed in place moves its size/mtime/ctime before its bytes, so
  // scores read from changed bytes are caught here (mapped packages only; a copy cannot change).
  if (status.ok()) status = state_->CheckBytes();
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
const std::string& Model::version() const { return state_->version; }
const std::string& Model::package_version() const { return state_->package.model_version; }
bool Model::package_mapped() const { return state_->package.mapped_file != nullptr; }

absl::Status Model::CheckPackage(uint64_t scrub_bytes) const {
  if (state_->package.mapped_file != nullptr && scrub_bytes > 0) {
    absl::Status scrub = state_->package.mapped_file->Scrub(scrub_bytes);
    if (!scrub.ok()) return scrub;
  }
  return state_->CheckBytes();
}
const std::string& Model::path() const { return state_->path; }
const std::vector<std::string>& Model::heads() const { return state_->heads; }

const std::vector<ModelFeature>& Model::features() const { return state_->features; }
const std::vector<std::string>& Model::warmup_requests() const {
  return state_->package.warmup_requests;
}
const ModelStats& Model::stats() const { return *state_->stats; }
void Model::RecordRefused(absl::StatusCode code, std::string_view reason) const {
  state_->stats->RecordError(code, reason);
}
bool Model::user_cache_enabled() const {
  return state_->split != nullptr && state_->split->user_cache_enabled();
}
bool Model::item_cache_enabled() const {
  return state_->split != nullptr && state_->split->item_cache_enabled();
}

}  // namespace rankopt
