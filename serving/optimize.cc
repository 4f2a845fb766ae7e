// The pipeline behind `rankopt optimize` (serving/optimize.h), cut into its stages: the report's
// head, load + sample, the baseline timing, the passes, the int8 step, overall, the package.
#include "serving/optimize.h"

#include "embedding/storage/embedding_table.h"
#include "serving/remote/remote_graph.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "core/cpu_features.h"
#include "features/config/feature_config.h"
#include "features/pipeline/feature_transformer.h"
#include "graph/exec/chunked_runner.h"
#include "graph/exec/execution_plan.h"
#include "graph/kernels/math/gemm_lowp.h"
#include "graph/io/model_io.h"
#include "graph/passes/pass_report.h"
#include "graph/passes/pass_util.h"
#include "graph/passes/request_level.h"
#include "rankopt/request_json.h"
#include "rankopt/status_macros.h"
#include "serving/feature_feeds.h"
#include "serving/int8_report.h"
#include "serving/lift/tf_lift.h"
#include "serving/optimize_report_text.h"
#include "serving/package/model_package.h"
#include "serving/request_level_inputs.h"
#include "serving/scorer.h"
#include "serving/synthetic_requests.h"

#ifndef RANKOPT_BUILD_TYPE
#define RANKOPT_BUILD_TYPE "unknown"
#endif

namespace rankopt {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxWarmupRequests = 8;

std::string CompilerText() {
#if defined(__clang__)
  return absl::StrCat("clang ", __clang_major__, ".", __clang_minor__, ".", __clang_patchlevel__);
#elif defined(__GNUC__)
  return absl::StrCat("gcc ", __GNUC__, ".", __GNUC_MINOR__, ".", __GNUC_PATCHLEVEL__);
#else
  return "unknown";
#endif
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, "model name")) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    return std::string(absl::StripAsciiWhitespace(absl::string_view(line).substr(colon + 1)));
  }
  return "unknown";
}

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void FillContext(int threads, serving::OptimizeContext* context) {
  context->set_rankopt_version(RANKOPT_VERSION);
  context->set_compiler(CompilerText());
  context->set_build_type(RANKOPT_BUILD_TYPE);
  context->set_cpu_model(CpuModel());
  context->set_logical_cores(static_cast<int32_t>(std::thread::hardware_concurrency()));
  context->set_isa(std::string(IsaName(BestIsa())));
  context->set_amx(AmxUsable()            ? "used by int8 / bf16 dense layers"
                   : GetCpuFeatures().amx ? "present, not usable (RANKOPT_ISA or no permission)"
                                          : "absent");
  context->set_threads(threads);
  context->set_date(UtcNow());
  for (std::string& w : OptimizeBuildWarnings()) context->add_warnings(std::move(w));
}

// Bytes of every constant of `graph` (what weights and tables take in memory).
int64_t ConstantBytes(const Graph& graph) {
  int64_t bytes = 0;
  for (const Node& node : graph.nodes()) {
    if (node.op != kConstOp) continue;
    if (const Tensor* value = node.attrs.Get<Tensor>("value")) {
      bytes += static_cast<int64_t>(value->ByteSize());
    }
  }
  return bytes;
}

std::string RequestInputsText(const std::vector<RequestLevelInput>& inputs) {
  return absl::StrJoin(inputs, ", ", [](std::string* out, const RequestLevelInput& in) {
    absl::StrAppend(out, in.name);
    if (!in.columns.empty()) absl::StrAppend(out, "[", absl::StrJoin(in.columns, ","), "]");
  });
}

// The sample requests, transformed once; feeds are built per graph from them.
struct Sample {
  std::string description;
  bool synthesized = false;
  std::vector<Request> requests;
  std::vector<std::string> wheres;  // "FILE:LINE" or "synthesized request"
  std::vector<TransformedRequest> transformed;
  TransformedRequest timing;  // the timed request
  std::string timing_text;
};

absl::Status TransformInto(const FeatureTransformer& transformer, const Request& request,
                           const std::string& where, TransformedRequest* out) {
  absl::Status status = transformer.Transform(request, out);
  if (status.ok()) return status;
  return absl::Status(
      status.code(),
      absl::StrCat(where, ": the feature config rejects this request: ", status.message()));
}

absl::Status ReadSample(const std::string& path, const FeatureTransformer& transformer,
                        int64_t candidates, Sample* sample) {
  RANKOPT_ASSIGN_OR_RETURN(std::vector<RequestLine> lines, ReadRequestJsonLines(path));
  if (lines.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no requests (one JSON request per line expected)"));
  }
  sample->description = path;
  for (RequestLine& line : lines) {
    sample->wheres.push_back(absl::StrCat(path, ":", line.line));
    sample->requests.push_back(std::move(line.request));
  }
  sample->transformed.resize(sample->requests.size());
  for (size_t i = 0; i < sample->requests.size(); ++i) {
    RANKOPT_RETURN_IF_ERROR(TransformInto(transformer, sample->requests[i], sample->wheres[i],
                                          &sample->transformed[i]));
  }
  const Request& first = sample->requests.front();
  if (first.candidates.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        sample->wheres.front(), ": the first request has no candidates; it is the one timed"));
  }
  const int64_t sent = static_cast<int64_t>(first.candidates.size());
  if (candidates <= 0 || candidates == sent) {
    sample->timing = sample->transformed.front();
    sample->timing_text =
        absl::StrCat("first request (", sample->wheres.front(), "), ", sent, " candidates");
    return absl::OkStatus();
  }
  Request tiled = first;
  tiled.candidates.clear();
  tiled.candidate_examples.clear();
  tiled.labels.clear();
  for (int64_t i = 0; i < candidates; ++i) {
    tiled.candidates.push_back(first.candidates[i % sent]);
    if (!first.candidate_examples.empty()) {
      tiled.candidate_examples.push_back(first.candidate_examples[i % sent]);
    }
  }
  RANKOPT_RETURN_IF_ERROR(
      TransformInto(transformer, tiled, sample->wheres.front(), &sample->timing));
  sample->timing_text = absl::StrCat("first request (", sample->wheres.front(), "), its ", sent,
                                     " candidates repeated to ", candidates);
  return absl::OkStatus();
}

absl::Status SynthesizeSample(const FeatureConfig& config, const Graph& graph,
                              const FeatureTransformer& transformer, int64_t candidates,
                              Sample* sample) {
  sample->synthesized = true;
  sample->description = "synthesized from the config (no --sample)";
  sample->requests.push_back(
      SynthesizeFeatureRequest(config, TableRowsOf(config, graph), candidates));
  sample->wheres.push_back("synthesized request");
  sample->transformed.resize(1);
  RANKOPT_RETURN_IF_ERROR(
      TransformInto(transformer, sample->requests[0], sample->wheres[0], &sample->transformed[0]));
  sample->timing = sample->transformed[0];
  sample->timing_text = absl::StrCat("the synthesized request, ", candidates, " candidates");
  return absl::OkStatus();
}

// Every sample request as feeds of `plan`'s inputs. Errors name the request.
absl::Status SampleFeeds(const Sample& sample, const ExecutionPlan& plan,
                         std::vector<GraphFeeds>* feeds) {
  feeds->assign(sample.transformed.size(), GraphFeeds());
  for (size_t i = 0; i < sample.transformed.size(); ++i) {
    absl::Status s =
        FeedsFromTransformedRequest(sample.transformed[i], plan.inputs(), &(*feeds)[i]);
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat(sample.wheres[i], ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Latency {
  double median_us = 0;
  int64_t runs = 0;
};

// What every timed graph shares: the plan options, the timing request, the threads.
struct TimingSetup {
  PlanOptions plan_options;
  const TransformedRequest* request = nullptr;
  std::vector<RequestLevelInput> request_inputs;
  int threads = 1;
};

// A graph bound to the timing request and run as Model::Score runs it: through a Scorer (chunked,
// the allocation-free path, the one-row rule for request-level inputs once the graph is marked).
// Owns a copy of the graph, so it outlives the pass that produced it.
class TimedGraph {
 public:
  // Errors: the graph does not plan, the request does not feed it, or its first run fails.
  static absl::StatusOr<std::unique_ptr<TimedGraph>> Create(const Graph& graph,
                                                            const TimingSetup& setup) {
    std::unique_ptr<TimedGraph> t(new TimedGraph(graph));
    ScorerOptions options;
    options.outputs = setup.plan_options.outputs;
    options.memory_cap_bytes = setup.plan_options.memory_cap_bytes;
    options.threads = setup.threads;
    options.request_inputs = setup.request_inputs;
    RANKOPT_ASSIGN_OR_RETURN(t->scorer_,
                             Scorer::Create(&t->graph_, std::nullopt, std::move(options)));
    RANKOPT_RETURN_IF_ERROR(FeedsFromTransformedRequest(*setup.request, t->scorer_->plan().inputs(),
                                                        &t->feeds_, t->scorer_->feed_options()));
    RANKOPT_RETURN_IF_ERROR(t->Run());
    return t;
  }

  absl::Status Run() { return scorer_->Run(feeds_.views, &outputs_); }

 private:
  explicit TimedGraph(const Graph& graph) : graph_(graph) {}

  const Graph graph_;  // before scorer_, which reads it until destroyed
  std::unique_ptr<Scorer> scorer_;
  GraphFeeds feeds_;
  ChunkedOutputs outputs_;
};

double Median(std::vector<double>* us) {
  std::sort(us->begin(), us->end());
  const size_t n = us->size();
  if (n == 0) return 0;
  return n % 2 == 1 ? (*us)[n / 2] : ((*us)[n / 2 - 1] + (*us)[n / 2]) / 2;
}

// `before` and `after` timed side by side, because these machines are noisy: a warm-up of both,
// then blocks of runs (~20 ms, >= 2 runs, so that a block's first run, after the other graph
// took the caches, is a small share) alternating between them until each has >= 20 runs and
// >= min_s of runs; each run timed on its own, the medians compared. Drift (frequency, other
// load) then hits both alike, and the ratio is what the report prints.
absl::Status TimeSideBySide(TimedGraph* before, TimedGraph* after, double min_s,
                            Latency* before_latency, Latency* after_latency) {
  TimedGraph* graphs[2] = {before, after};
  std::vector<double> us[2];
  // Warm-up: >= 3 runs each and >= min_s / 5 in all; its runs size the blocks.
  double warm_s[2] = {0, 0};
  int warm_runs = 0;
  const Clock::time_point warm_start = Clock::now();
  while (warm_runs < 3 || SecondsSince(warm_start) < min_s / 5) {
    for (int g = 0; g < 2; ++g) {
      const Clock::time_point t0 = Clock::now();
      RANKOPT_RETURN_IF_ERROR(graphs[g]->Run());
      warm_s[g] += SecondsSince(t0);
    }
    ++warm_runs;
  }
  int64_t block[2];
  for (int g = 0; g < 2; ++g) {
    const double run_s = std::max(warm_s[g] / warm_runs, 1e-7);
    block[g] = std::clamp<int64_t>(static_cast<int64_t>(0.02 / run_s), 2, 200);
  }
  double timed_s[2] = {0, 0};
  auto done = [&](int g) {
    return static_cast<int64_t>(us[g].size()) >= kOptimizeMinTimedRuns && timed_s[g] >= min_s;
  };
  while (!done(0) || !done(1)) {
    for (int g = 0; g < 2; ++g) {
      for (int64_t i = 0; i < block[g]; ++i) {
        const Clock::time_point t0 = Clock::now();
        RANKOPT_RETURN_IF_ERROR(graphs[g]->Run());
        const double s = SecondsSince(t0);
        timed_s[g] += s;
        us[g].push_back(s * 1e6);
      }
    }
  }
  before_latency->runs = static_cast<int64_t>(us[0].size());
  before_latency->median_us = Median(&us[0]);
  after_latency->runs = static_cast<int64_t>(us[1].size());
  after_latency->median_us = Median(&us[1]);
  return absl::OkStatus();
}

// What the report tracks from one graph to the next.
struct Figures {
  int64_t nodes = 0;
  int64_t params = 0;
  int64_t bytes = 0;
  double latency_us = 0;
};

double Speedup(double before_us, double after_us) {
  return after_us > 0 ? before_us / after_us : 0;
}

// Status and reason of a pass from its report: changed -> effective; a "skipped: ..." or
// "not applicable: ..." note says why not; an unchanged pass without one found nothing to do.
void SetPassStatus(const PassReport& pass, serving::OptimizeStep* step) {
  for (const std::string& note : pass.notes) step->add_notes(note);
  if (pass.changed) {
    step->set_status("effective");
    return;
  }
  for (const std::string& note : pass.notes) {
    for (absl::string_view status : {"skipped", "not applicable"}) {
      absl::string_view rest = note;
      if (absl::ConsumePrefix(&rest, status) && absl::ConsumePrefix(&rest, ":")) {
        step->set_status(std::string(status));
        step->set_reason(std::string(absl::StripLeadingAsciiWhitespace(rest)));
        return;
      }
    }
  }
  step->set_status("not applicable");
  step->set_reason(pass.notes.empty() ? "nothing to change in this graph" : pass.notes.front());
}

// `status` with "<where>: " before its message.
absl::Status Located(const std::string& where, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(where, ": ", status.message()));
}

// What the stages share, made once by LoadAndSample: the model as imported, the config's
// request-level inputs, the transformed sample, and how every graph is planned and timed.
struct Loaded {
  explicit Loaded(Graph graph) : imported(std::move(graph)) {}

  const Graph imported;
  FeatureConfig config;
  std::vector<RequestLevelInput> request_inputs;
  Sample sample;
  PlanOptions plan_options;
  TimingSetup timing;  // points into `sample`, so a Loaded is never moved
};

// The figures and timed graphs carried from one step to the next.
struct Progress {
  Figures baseline;  // the model as imported
  Figures current;   // the graph the last step left
  std::unique_ptr<TimedGraph> baseline_timed;
  // The last graph that ran: each later graph is timed side by side with it. baseline_timed's or
  // last_owned's.
  TimedGraph* last = nullptr;
  std::unique_ptr<TimedGraph> last_owned;
};

// The report's head: the machine, and what the options ask for.
void StartReport(const OptimizeModelOptions& o, serving::OptimizeReport* report) {
  FillContext(o.threads, report->mutable_context());
  report->set_model(o.model_path);
  report->set_feature_config(o.config_path);
  report->set_opt_level(std::string(OptLevelName(o.level)));
  report->set_int8_mode(std::string(TableQuantizationModeName(o.int8)));
  report->mutable_precision()->set_mode(std::string(PrecisionModeName(o.precision)));
  report->set_timing_min_s(o.time_s);
  report->set_package(o.out_path);
  report->set_package_name(o.name);
  report->set_package_version(o.version);
}

// Loads the model and the config, reads or synthesizes the sample, and checks that every sample
// request feeds the model as imported.
absl::StatusOr<std::unique_ptr<Loaded>> LoadAndSample(const OptimizeModelOptions& o,
                                                      serving::OptimizeReport* report) {
  RANKOPT_ASSIGN_OR_RETURN(Graph imported, LoadModel(o.model_path));
  report->set_model_format(std::string(ModelFormatName(imported.format())));
  for (const std::string& name : o.outputs) {
    if (absl::StatusOr<TensorRef> ref = imported.ResolveTensor(name); !ref.ok()) {
      return Located(o.model_path, absl::Status(ref.status().code(),
                                                absl::StrCat("--outputs '", name,
                                                             "': ", ref.status().message())));
    }
  }
  FeatureConfig config;
  if (o.config_path.empty()) {
    // No --features: the graph's own feature transforms become the config (rankopt lift).
    LiftOptions lift_options;
    if (imported.signatures().empty()) lift_options.outputs = o.outputs;
    absl::StatusOr<LiftResult> lift = LiftFeatureTransforms(imported, lift_options);
    if (!lift.ok()) return Located(o.model_path, lift.status());
    const bool all_lifted = std::all_of(lift->kept.begin(), lift->kept.end(),
                                        [](const KeptFeature& k) { return k.unread; });
    if (lift->lifted.empty() || !all_lifted) {
      return Located(o.model_path,
                     absl::InvalidArgumentError(absl::StrCat(
                         "without --features every model input must be lifted into a feature "
                         "config, but ",
                         LiftReportText(*lift), "give --features CONFIG for this model")));
    }
    // Validated as a written config would be; vocabularies stay inline (in the package).
    RANKOPT_ASSIGN_OR_RETURN(
        config, ParseFeatureConfig(FeatureConfigToYaml(lift->config),
                                   absl::StrCat("features lifted from ", o.model_path)));
    report->set_feature_config(
        absl::StrCat("lifted from the model: ", lift->lifted.size(), " feature(s)"));
    imported = std::move(lift->graph);
  } else {
    RANKOPT_ASSIGN_OR_RETURN(config, LoadFeatureConfig(o.config_path));
  }
  auto loaded = std::make_unique<Loaded>(std::move(imported));
  loaded->config = std::move(config);
  loaded->request_inputs = RequestLevelInputsOf(loaded->config);
  report->set_request_level_source(RequestInputsText(loaded->request_inputs));
  RANKOPT_ASSIGN_OR_RETURN(FeatureTransformer transformer,
                           FeatureTransformer::Create(loaded->config));

  Sample& sample = loaded->sample;
  if (!o.sample_path.empty()) {
    RANKOPT_RETURN_IF_ERROR(ReadSample(o.sample_path, transformer, o.candidates, &sample));
  } else {
    RANKOPT_RETURN_IF_ERROR(
        SynthesizeSample(loaded->config, loaded->imported, transformer,
                         o.candidates > 0 ? o.candidates : kOptimizeDefaultCandidates, &sample));
  }
  report->set_sample(sample.description);
  report->set_sample_synthesized(sample.synthesized);
  report->set_sample_requests(static_cast<int32_t>(sample.requests.size()));
  report->set_timing_candidates(sample.timing.num_candidates);
  report->set_timing_request(sample.timing_text);

  loaded->plan_options.outputs = o.outputs;
  // Every sample request must feed the model as imported (names the request and the input).
  {
    absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
        ExecutionPlan::Create(loaded->imported, loaded->plan_options);
    if (!plan.ok()) return Located(o.model_path, plan.status());
    std::vector<GraphFeeds> feeds;
    RANKOPT_RETURN_IF_ERROR(SampleFeeds(sample, **plan, &feeds));
  }
  TimingSetup& timing = loaded->timing;
  timing.plan_options = loaded->plan_options;
  timing.request = &sample.timing;
  timing.request_inputs = loaded->request_inputs;
  timing.threads = o.threads;
  return loaded;
}

// Baseline: the model as imported. Each later graph is timed side by side with the last graph
// that ran (`last`), the final one also with the baseline.
absl::Status TimeBaseline(const OptimizeModelOptions& o, const Loaded& loaded, Progress* progress) {
  const Graph& imported = loaded.imported;
  absl::StatusOr<std::unique_ptr<TimedGraph>> baseline_timed =
      TimedGraph::Create(imported, loaded.timing);
  if (!baseline_timed.ok()) {
    return Located(absl::StrCat(o.model_path, " as imported"), baseline_timed.status());
  }
  progress->baseline_timed = *std::move(baseline_timed);
  progress->last = progress->baseline_timed.get();
  Figures& current = progress->current;
  current.nodes = static_cast<int64_t>(imported.num_nodes());
  current.params = CountParams(imported);
  current.bytes = ConstantBytes(imported);
  {
    // A first figure for the table's "before" column until a pass changes the graph.
    Latency a, b;
    RANKOPT_RETURN_IF_ERROR(TimeSideBySide(progress->last, progress->last, o.time_s / 2, &a, &b));
    current.latency_us = (a.median_us + b.median_us) / 2;
  }
  progress->baseline = current;
  return absl::OkStatus();
}

// Times `graph` against `last`; on success `graph` becomes `last`. Sets the step's latency
// figures, or its latency_note when the graph does not run on its own.
absl::Status TimeStep(const Graph& graph, const Loaded& loaded, double time_s, Progress* progress,
                      serving::OptimizeStep* step, Figures* next) {
  absl::StatusOr<std::unique_ptr<TimedGraph>> timed = TimedGraph::Create(graph, loaded.timing);
  if (!timed.ok()) {
    step->set_speedup(0);
    step->set_latency_note(absl::StrCat(
        "not measured: the graph this step leaves does not run on its own (",
        timed.status().message(), "); the next timed step's speedup includes this one"));
    return absl::OkStatus();
  }
  Latency before, after;
  RANKOPT_RETURN_IF_ERROR(TimeSideBySide(progress->last, timed->get(), time_s, &before, &after));
  step->set_latency_before_us(before.median_us);
  step->set_latency_after_us(after.median_us);
  step->set_timed(true);
  step->set_runs(after.runs);
  step->set_speedup(Speedup(before.median_us, after.median_us));
  next->latency_us = after.median_us;
  progress->last_owned = *std::move(timed);
  progress->last = progress->last_owned.get();
  return absl::OkStatus();
}

// The passes, each observed with the graph it left: one report row each, timed when it changed
// the graph.
absl::Status RunPasses(const OptimizeModelOptions& o, const Loaded& loaded, Progress* progress,
                       serving::OptimizeReport* report, Graph* optimized) {
  OptimizeOptions optimize;
  optimize.outputs = o.outputs;
  // Remote tables are found and rewritten per embedding lookup (serving/remote/remote_graph.h);
  // keep the lookups single when any may move.
  if (!o.tables_remote.empty() && o.level == OptLevel::kO2) {
    optimize.disabled_passes.push_back("fuse_multi_lookup");
  }
  optimize.request_inputs = loaded.request_inputs;
  optimize.after_pass = [&](const PassReport& pass, const Graph& after) -> absl::Status {
    const Figures& current = progress->current;
    serving::OptimizeStep* step = report->add_passes();
    step->set_name(pass.pass);
    SetPassStatus(pass, step);
    step->set_nodes_before(pass.nodes_before);
    step->set_nodes_after(pass.nodes_after);
    step->set_params_before(pass.params_before);
    step->set_params_after(pass.params_after);
    step->set_constant_bytes_before(current.bytes);
    step->set_latency_before_us(current.latency_us);
    step->set_latency_after_us(current.latency_us);
    step->set_speedup(1.0);
    Figures next = current;
    next.nodes = pass.nodes_after;
    next.params = pass.params_after;
    if (pass.changed) {
      next.bytes = ConstantBytes(after);
      // An intermediate graph may not run on its own (the final one must: it is timed below).
      RANKOPT_RETURN_IF_ERROR(TimeStep(after, loaded, o.time_s, progress, step, &next));
    }
    step->set_constant_bytes_after(next.bytes);
    progress->current = next;
    return absl::OkStatus();
  };
  absl::StatusOr<std::vector<PassReport>> passes =
      OptimizeGraph(loaded.imported, o.level, optimize, optimized);
  if (!passes.ok()) return Located(o.model_path, passes.status());
  return absl::OkStatus();
}

// The labels of the sample, one per prediction value (every output of every request, in order),
// or empty with the reason in `note` when not every request labels every candidate or an output
// is not one value per candidate.
std::vector<float> SampleLabels(const Sample& sample, const Graph& graph,
                                const std::vector<std::string>& outputs,
                                const std::vector<GraphFeeds>& feeds, std::string* note) {
  for (size_t i = 0; i < sample.requests.size(); ++i) {
    if (sample.requests[i].labels.empty()) {
      *note = absl::StrCat("none: ", sample.wheres[i],
                           " has no \"label\" on its candidates, so the gate compares "
                           "predictions only (no AUC/logloss deltas)");
      return {};
    }
  }
  PlanOptions plan_options;
  plan_options.outputs = outputs;
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(graph, plan_options);
  if (!plan.ok()) return {};
  std::vector<float> labels;
  std::vector<Tensor> out;
  for (size_t i = 0; i < sample.requests.size(); ++i) {
    if (!(*plan)->Run(feeds[i].views, &out).ok()) return {};
    const std::vector<float>& l = sample.requests[i].labels;
    for (size_t o = 0; o < out.size(); ++o) {
      if (out[o].num_elements() != static_cast<int64_t>(l.size())) {
        *note = absl::StrCat("not used: output '", (*plan)->outputs()[o], "' has ",
                             out[o].num_elements(), " values for ", l.size(),
                             " labelled candidates");
        return {};
      }
      labels.insert(labels.end(), l.begin(), l.end());
    }
  }
  *note = absl::StrCat("per-candidate labels of ", sample.requests.size(),
                       " requests: AUC and logloss deltas judged too");
  return labels;
}

// The int8 step proper (mode auto or force): QuantizeGraphTables on the sample, its figures into
// `int8` and `int8_text`, the step's status and reason.
absl::Status QuantizeTables(const OptimizeModelOptions& o, const Loaded& loaded,
                            const Graph& optimized, serving::Int8Report* int8, Graph* final_graph,
                            std::string* int8_text) {
  serving::OptimizeStep* step = int8->mutable_step();
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(optimized, loaded.plan_options);
  if (!plan.ok()) return Located(o.model_path, plan.status());
  std::vector<GraphFeeds> feeds;
  RANKOPT_RETURN_IF_ERROR(SampleFeeds(loaded.sample, **plan, &feeds));
  TableQuantizationOptions quantization;
  quantization.mode = o.int8;
  quantization.outputs = o.outputs;
  for (const GraphFeeds& f : feeds) quantization.samples.push_back(f.views);
  std::string labels_note;
  quantization.labels = SampleLabels(loaded.sample, optimized, o.outputs, feeds, &labels_note);
  int8->set_labels(labels_note);
  absl::StatusOr<GraphQuantizationReport> tables =
      QuantizeGraphTables(optimized, quantization, final_graph);
  if (!tables.ok()) {
    return Located(absl::StrCat(o.model_path, ": --int8 ", TableQuantizationModeName(o.int8)),
                   tables.status());
  }
  FillInt8Report(*tables, int8);
  *int8_text = FormatGraphQuantizationReport(*tables);
  if (tables->kept > 0) {
    step->set_status("effective");
    step->add_notes(
        absl::StrCat(tables->kept, " of ", tables->tables.size(), " tables stored int8"));
  } else {
    step->set_status("not applicable");
    if (tables->tables.empty()) {
      step->set_reason("no embedding table (a [rows, dim] constant an embedding lookup reads)");
    } else {
      step->set_reason(absl::StrCat("no table stored int8 (", tables->tables.front().table, ": ",
                                    tables->tables.front().reason, ")"));
    }
  }
  return absl::OkStatus();
}

// The int8 step's row: skipped with --int8 off, else QuantizeTables, timed when it changed the
// graph. `final_graph` gets the graph the package stores, `final_figures` its figures.
absl::Status Int8Step(const OptimizeModelOptions& o, const Loaded& loaded, const Graph& optimized,
                      Progress* progress, serving::OptimizeReport* report, Graph* final_graph,
                      std::string* int8_text, Figures* final_figures) {
  const Figures& current = progress->current;
  serving::Int8Report* int8 = report->mutable_int8();
  int8->set_mode(std::string(TableQuantizationModeName(o.int8)));
  serving::OptimizeStep* step = int8->mutable_step();
  step->set_name("int8");
  step->set_nodes_before(current.nodes);
  step->set_params_before(current.params);
  step->set_constant_bytes_before(current.bytes);
  step->set_latency_before_us(current.latency_us);
  step->set_latency_after_us(current.latency_us);
  step->set_speedup(1.0);
  if (o.int8 == TableQuantizationMode::kOff) {
    *final_graph = optimized;
    step->set_status("skipped");
    step->set_reason("--int8 off");
  } else {
    RANKOPT_RETURN_IF_ERROR(QuantizeTables(o, loaded, optimized, int8, final_graph, int8_text));
  }
  *final_figures = current;
  if (step->status() == "effective") {
    final_figures->nodes = static_cast<int64_t>(final_graph->num_nodes());
    final_figures->bytes = ConstantBytes(*final_graph);
    RANKOPT_RETURN_IF_ERROR(
        TimeStep(*final_graph, loaded, o.time_s, progress, step, final_figures));
  }
  // Storage changes, the parameters do not: an int8 row holds the same `dim` values.
  step->set_nodes_after(final_figures->nodes);
  step->set_params_after(final_figures->params);
  step->set_constant_bytes_after(final_figures->bytes);
  return absl::OkStatus();
}

// The dense layers' precisions (--precision) on the graph the int8 step left, behind the gate;
// `graph` is rewritten in place, `figures` follow it.
absl::Status PrecisionStep(const OptimizeModelOptions& o, const Loaded& loaded,
                           Progress* progress, serving::OptimizeReport* report, Graph* graph,
                           Figures* figures) {
  serving::DensePrecisionReport* dense = report->mutable_precision();
  serving::OptimizeStep* step = dense->mutable_step();
  step->set_name("precision");
  step->set_nodes_before(figures->nodes);
  step->set_params_before(figures->params);
  step->set_constant_bytes_before(figures->bytes);
  step->set_latency_before_us(figures->latency_us);
  step->set_latency_after_us(figures->latency_us);
  step->set_speedup(1.0);
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
      ExecutionPlan::Create(*graph, loaded.plan_options);
  if (!plan.ok()) return Located(o.model_path, plan.status());
  std::vector<GraphFeeds> feeds;
  RANKOPT_RETURN_IF_ERROR(SampleFeeds(loaded.sample, **plan, &feeds));
  DensePrecisionOptions options;
  options.mode = o.precision;
  options.outputs = o.outputs;
  for (const GraphFeeds& f : feeds) options.samples.push_back(f.views);
  std::string labels_note;
  options.labels = SampleLabels(loaded.sample, *graph, o.outputs, feeds, &labels_note);
  dense->set_labels(labels_note);
  Graph chosen(graph->format());
  absl::StatusOr<DensePrecisionReport> result = ChooseDensePrecisions(*graph, options, &chosen);
  if (!result.ok()) {
    return Located(absl::StrCat(o.model_path, ": --precision ", PrecisionModeName(o.precision)),
                   result.status());
  }
  dense->set_reduced(result->reduced);
  dense->set_outputs(result->outputs);
  dense->set_samples(result->samples);
  dense->set_predictions(result->predictions);
  dense->set_weight_bytes_fp32(result->bytes_fp32);
  dense->set_weight_bytes_stored(result->bytes_stored);
  dense->set_gate_max_abs_diff_budget(options.budgets.max_abs_diff);
  dense->set_gate_auc_delta_budget(options.budgets.auc_delta);
  if (result->combined.has_value()) {
    const GateResult& g = *result->combined;
    dense->set_gate_max_abs_diff(g.max_abs_diff);
    dense->set_gate_mean_abs_diff(g.mean_abs_diff);
    if (g.auc_delta.has_value()) dense->set_auc_delta(*g.auc_delta);
    if (g.logloss_delta.has_value()) dense->set_logloss_delta(*g.logloss_delta);
    dense->set_gate_result(absl::StrCat(g.passed ? "passed" : "FAILED", ": ", g.reason));
  }
  for (const DenseLayerReport& l : result->layers) {
    serving::DenseLayer* layer = dense->add_layers();
    layer->set_node(l.node);
    layer->set_k(l.k);
    layer->set_n(l.n);
    layer->set_precision(std::string(DensePrecisionName(l.precision)));
    layer->set_kernel(l.kernel);
    for (const std::string& t : l.tried) layer->add_tried(t);
    if (l.alone.has_value()) {
      layer->set_alone_max_abs_diff(l.alone->max_abs_diff);
      layer->set_alone_mean_abs_diff(l.alone->mean_abs_diff);
    }
    layer->set_time_us_fp32(l.time_us_fp32);
    layer->set_time_us(l.time_us);
    layer->set_bytes_fp32(l.bytes_fp32);
    layer->set_bytes_stored(l.bytes_stored);
    layer->set_reason(l.reason);
    if (l.attention_layer >= 0) layer->set_attention_layer(l.attention_layer);
  }
  if (result->reduced > 0) {
    step->set_status("effective");
    step->add_notes(absl::StrCat(result->reduced, " of ", result->layers.size(),
                                 " dense layers below fp32"));
    *graph = std::move(chosen);
    figures->nodes = static_cast<int64_t>(graph->num_nodes());
    figures->bytes = ConstantBytes(*graph);
    RANKOPT_RETURN_IF_ERROR(TimeStep(*graph, loaded, o.time_s, progress, step, figures));
  } else {
    step->set_status(o.precision == PrecisionMode::kFp32 ? "skipped" : "not applicable");
    step->set_reason(o.precision == PrecisionMode::kFp32 ? "--precision fp32"
                     : result->layers.empty()
                         ? "no dense layer (_RankoptFusedMatMul with a constant weight, "
                           "_RankoptAttentionPooling)"
                         : "every dense layer stays fp32 (see the table)");
  }
  step->set_nodes_after(figures->nodes);
  step->set_params_after(figures->params);
  step->set_constant_bytes_after(figures->bytes);
  return absl::OkStatus();
}

// Overall: the model as imported against the final graph, side by side. The final graph must
// run (an intermediate one that does not is only a note above).
absl::Status TimeOverall(const OptimizeModelOptions& o, const Loaded& loaded,
                         const Graph& final_graph, const Figures& final_figures,
                         const Progress& progress, serving::OptimizeReport* report) {
  absl::StatusOr<std::unique_ptr<TimedGraph>> final_timed =
      TimedGraph::Create(final_graph, loaded.timing);
  if (!final_timed.ok()) {
    return Located(absl::StrCat(o.model_path, " optimized"), final_timed.status());
  }
  Latency baseline_latency, final_latency;
  RANKOPT_RETURN_IF_ERROR(TimeSideBySide(progress.baseline_timed.get(), final_timed->get(),
                                         o.time_s, &baseline_latency, &final_latency));
  const Figures& baseline = progress.baseline;
  serving::OptimizeOverall* overall = report->mutable_overall();
  overall->set_baseline_latency_us(baseline_latency.median_us);
  overall->set_final_latency_us(final_latency.median_us);
  overall->set_speedup(Speedup(baseline_latency.median_us, final_latency.median_us));
  overall->set_nodes_before(baseline.nodes);
  overall->set_nodes_after(final_figures.nodes);
  overall->set_params_before(baseline.params);
  overall->set_params_after(final_figures.params);
  overall->set_constant_bytes_before(baseline.bytes);
  overall->set_constant_bytes_after(final_figures.bytes);
  return absl::OkStatus();
}

// The package: the final graph, its heads and request-level inputs, the config, up to
// kMaxWarmupRequests sample requests and the report; then the written file's size.
absl::Status WritePackage(const OptimizeModelOptions& o, const Loaded& loaded, Graph final_graph,
                          serving::OptimizeReport* report, std::vector<std::string>* remote_notes) {
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> final_plan =
      ExecutionPlan::Create(final_graph, loaded.plan_options);
  if (!final_plan.ok()) return Located(o.model_path, final_plan.status());
  const Sample& sample = loaded.sample;
  ModelPackage package;
  package.model_name = o.name;
  package.model_version = o.version;
  package.source_path = o.model_path;
  package.source_format = std::string(ModelFormatName(loaded.imported.format()));
  RANKOPT_ASSIGN_OR_RETURN(package.source_hash, HashSourceModel(o.model_path));
  package.created_by = absl::StrCat("rankopt ", RANKOPT_VERSION);
  package.feature_config_yaml = FeatureConfigToYaml(loaded.config);
  package.outputs = (*final_plan)->outputs();
  package.request_level_inputs = OneRowInputs(final_graph, loaded.request_inputs);
  package.opt_level = std::string(OptLevelName(o.level));
  package.int8_mode = std::string(TableQuantizationModeName(o.int8));
  for (size_t i = 0; i < sample.requests.size() && i < kMaxWarmupRequests; ++i) {
    absl::StatusOr<std::string> json = RequestToJson(sample.requests[i]);
    if (!json.ok()) return Located(sample.wheres[i], json.status());
    package.warmup_requests.push_back(*std::move(json));
  }
  for (const std::string& name : package.outputs) report->add_outputs(name);
  for (const std::string& name : package.request_level_inputs) {
    report->add_request_level_inputs(name);
  }
  report->set_warmup_requests(static_cast<int32_t>(package.warmup_requests.size()));
  package.report_json = OptimizeReportToJson(*report, /*pretty=*/false);  // package_bytes still 0
  if (!o.tables_remote.empty()) {
    // Named, not carried: the tables' rows go to the cluster with `rankopt tables publish`.
    std::vector<std::string> names = o.tables_remote;
    if (names.size() == 1 && names[0] == "all") names.clear();
    std::vector<std::string> skipped;
    absl::StatusOr<std::vector<RemotableTable>> tables =
        FindRemotableTables(final_graph, o.name, o.version, names, &skipped);
    if (!tables.ok()) return Located(o.model_path, tables.status());
    RANKOPT_RETURN_IF_ERROR(MakeTablesRemote(*tables, o.tables_remote_redis, &final_graph));
    for (const RemotableTable& t : *tables) {
      remote_notes->push_back(absl::StrCat("remote table ", t.desc.table, ": ",
                                           TableDTypeName(t.desc.dtype), " ", t.desc.rows, " x ",
                                           t.desc.dim, " (", t.desc.rows * t.desc.row_bytes,
                                           " bytes) under ", t.desc.key_prefix, "*"));
    }
    for (const std::string& why : skipped) {
      remote_notes->push_back(absl::StrCat("kept in the package: ", why));
    }
  }
  package.graph = std::move(final_graph);
  RANKOPT_RETURN_IF_ERROR(WriteModelPackage(package, o.out_path));
  std::error_code error;
  const uintmax_t size = fs::file_size(o.out_path, error);
  if (!error) report->mutable_overall()->set_package_bytes(static_cast<int64_t>(size));
  return absl::OkStatus();
}

}  // namespace

std::string DefaultModelName(const std::string& model_path) {
  fs::path p = fs::path(model_path).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  std::string stem = p.stem().string();
  return stem.empty() ? "model" : stem;
}

absl::Status CheckOptimizeOutPath(const std::string& model_path, const std::string& out_path) {
  std::error_code error;
  const bool same =
      fs::equivalent(model_path, out_path, error) ||
      (fs::weakly_canonical(model_path, error) == fs::weakly_canonical(out_path, error) && !error);
  if (!same) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(out_path, ": refusing to overwrite the input model; pick another -o"));
}

absl::StatusOr<OptimizeResult> OptimizeModel(const OptimizeModelOptions& options) {
  RANKOPT_RETURN_IF_ERROR(CheckOptimizeOutPath(options.model_path, options.out_path));
  if (options.name.empty() || options.version.empty()) {
    return absl::InvalidArgumentError(
        "the package's name and model version must not be empty (--name, --model-version)");
  }
  OptimizeResult result;
  serving::OptimizeReport* report = &result.report;
  StartReport(options, report);
  RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<Loaded> loaded, LoadAndSample(options, report));
  Progress progress;
  RANKOPT_RETURN_IF_ERROR(TimeBaseline(options, *loaded, &progress));
  Graph optimized(loaded->imported.format());
  RANKOPT_RETURN_IF_ERROR(RunPasses(options, *loaded, &progress, report, &optimized));
  Graph final_graph(optimized.format());
  Figures final_figures;
  RANKOPT_RETURN_IF_ERROR(Int8Step(options, *loaded, optimized, &progress, report, &final_graph,
                                   &result.int8_text, &final_figures));
  RANKOPT_RETURN_IF_ERROR(
      PrecisionStep(options, *loaded, &progress, report, &final_graph, &final_figures));
  RANKOPT_RETURN_IF_ERROR(
      TimeOverall(options, *loaded, final_graph, final_figures, progress, report));
  RANKOPT_RETURN_IF_ERROR(
      WritePackage(options, *loaded, std::move(final_graph), report, &result.remote_tables));
  return result;
}

std::vector<std::string> OptimizeBuildWarnings() {
  std::vector<std::string> warnings;
#ifndef __OPTIMIZE__
  warnings.push_back("built without optimization: these latencies are not representative");
#endif
#ifndef NDEBUG
  warnings.push_back(
      "assertions are on (NDEBUG not defined): these latencies are slower than a release build");
#endif
  return warnings;
}

absl::StatusOr<GraphSummaryProto> SummarizeModel(const Graph& graph) {
  RANKOPT_ASSIGN_OR_RETURN(GraphSummaryProto summary, SummarizeGraph(graph));
  OptimizeOptions options;
  options.disabled_passes = {"split_first_dense", "request_level", "final_prune"};
  options.after_pass = [&summary](const PassReport& report, const Graph&) {
    if (report.pass == "fuse_gemm_epilogue" || report.pass == "fuse_multi_lookup") {
      // Their near misses only: the fusions themselves are routine.
      for (const std::string& note : report.notes) {
        if (absl::StartsWith(note, "near miss")) {
          summary.add_fusion_notes(absl::StrCat(report.pass, ": ", note));
        }
      }
      return absl::OkStatus();
    }
    if (report.pass != "fuse_attention_pooling") return absl::OkStatus();
    for (const std::string& note : report.notes) {
      if (absl::StartsWith(note, "not applicable: no target attention")) continue;
      summary.add_fusion_notes(absl::StrCat("fuse_attention_pooling: ", note));
    }
    return absl::OkStatus();
  };
  Graph optimized(graph.format());
  absl::StatusOr<std::vector<PassReport>> reports =
      OptimizeGraph(graph, OptLevel::kO2, options, &optimized);
  if (!reports.ok()) {
    summary.add_fusion_notes(
        absl::StrCat("(O2 fusions not checked: ", reports.status().message(), ")"));
  }
  // TF feature columns: what `rankopt lift` (and optimize without --features) would do.
  if (summary.feature_columns_size() > 0) {
    absl::StatusOr<LiftResult> lift = LiftFeatureTransforms(graph);
    if (!lift.ok()) {
      summary.set_lift_note(absl::StrCat("lift failed: ", lift.status().message()));
    } else {
      for (const LiftedFeature& f : lift->lifted) {
        SummaryLiftInput* in = summary.add_lift();
        in->set_input(f.feature);
        in->set_lifted(true);
        in->set_detail(f.how);
      }
      for (const KeptFeature& f : lift->kept) {
        SummaryLiftInput* in = summary.add_lift();
        in->set_input(f.feature);
        in->set_detail(f.reason);
      }
    }
  }
  return summary;
}

}  // namespace rankopt
