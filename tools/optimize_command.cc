// rankopt optimize MODEL --features CONFIG -o OUT.rkp [--outputs NAMES] [-O 0|1|2]
//                  [--int8 auto|off|force] [--sample REQUESTS.jsonl] [--candidates N]
//                  [--name NAME] [--model-version V] [--threads T] [--time-s S] [--json]
//
// Every pass of the level, each timed on its own graph, then the int8 tables, then a model
// package (serving/package/model_package.h) with the report inside. The report is shaped like
// PAI-Blade's: the machine, each step (status, before/after, speedup), the overall gain.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "core/cpu_features.h"
#include "core/status_macros.h"
#include "features/config/feature_config.h"
#include "features/pipeline/feature_transformer.h"
#include "features/request/request_json.h"
#include "google/protobuf/util/json_util.h"
#include "graph/exec/chunked_runner.h"
#include "graph/exec/execution_plan.h"
#include "graph/io/model_io.h"
#include "graph/passes/pass_pipeline.h"
#include "graph/passes/pass_report.h"
#include "graph/passes/request_level.h"
#include "serving/feature_feeds.h"
#include "serving/package/model_package.h"
#include "serving/request_level_inputs.h"
#include "serving/table_quantization.h"
#include "tools/command_line.h"
#include "tools/commands.h"
#include "tools/optimize_report.pb.h"
#include "serving/synthetic_requests.h"

#ifndef RANKOPT_BUILD_TYPE
#define RANKOPT_BUILD_TYPE "unknown"
#endif

namespace rankopt {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kDefaultCandidates = 200;
constexpr double kDefaultTimeS = 0.15;
constexpr int64_t kMinTimedRuns = 20;
constexpr size_t kMaxWarmupRequests = 8;

const std::vector<FlagSpec>& OptimizeCommandFlags() {
  static const std::vector<FlagSpec> flags = {
      {"features", "", true, "CONFIG",
       "the feature config (YAML; required): transforms the sample requests, names the "
       "request-level (user/context) inputs for -O 2, and goes into the package"},
      {"output", "o", true, "OUT.rkp", "where to write the model package (required)"},
      {"outputs", "", true, "NAMES",
       "comma-separated tensors the package computes, its output heads (default: the model's "
       "outputs)"},
      {"opt-level", "O", true, "LEVEL",
       "0 the graph as is; 1 folding, fusion, embedding lookups; 2 (default) also the "
       "request-level split (user side once per request, fused DIN attention)"},
      {"int8", "", true, "auto|off|force",
       "embedding tables read only by embedding lookups stored int8 row-wise: auto (default) "
       "each table whose predictions on the sample stay within the accuracy gate (max abs diff "
       "1e-2), alone and together; off; force every eligible table, no gate"},
      {"sample", "", true, "REQUESTS.jsonl",
       "JSON-lines requests ({\"user\", \"context\", \"candidates\"}): the accuracy gate's "
       "sample, the first one timed, up to 8 kept as the package's warm-up requests (default: "
       "one request synthesized from the config)"},
      {"candidates", "", true, "N",
       "candidates of the timed request: without --sample, of the synthesized request (default "
       "200); with --sample, the first request's candidates repeated to N (default: as sent)"},
      {"name", "", true, "NAME", "the package's model name (default: MODEL's file stem)"},
      {"model-version", "", true, "V", "the package's model version, free text (default 1)"},
      {"threads", "", true, "T", "threads every latency is measured with (default 1)"},
      {"time-s", "", true, "SECONDS",
       "per timed graph: >= 20 runs and >= this long, after a short warm-up (default 0.15)"},
      {"json", "", false, "", "the report as JSON instead of the table"},
      {"help", "h", false, "", "show this help"},
  };
  return flags;
}

constexpr char kUsage[] =
    "usage: rankopt optimize MODEL --features CONFIG -o OUT.rkp [--outputs NAMES] [-O 0|1|2] "
    "[--int8 auto|off|force] [--sample REQUESTS.jsonl] [--candidates N] [--name NAME] "
    "[--model-version V] [--threads T] [--time-s SECONDS] [--json]";

void PrintHelp() {
  std::cout
      << kUsage
      << "\n\nRuns the passes of the optimization level one by one on MODEL, then stores the\n"
         "embedding tables int8 where the accuracy gate allows, and writes a model package (.rkp:\n"
         "the optimized graph, its output heads and request-level inputs, the feature config,\n"
         "warm-up requests and this report) that `rankopt run`, `rankopt bench` and the serving\n"
         "library load. The report, like PAI-Blade's: the machine and build; per pass its status\n"
         "(effective / not applicable / skipped, and why), nodes, parameters and constant bytes\n"
         "before and after, and the latency of the graph it left (median on the sample's first\n"
         "request with --threads threads, timed alternating with the graph before it so that\n"
         "machine noise hits both alike; a pass that changed nothing reuses the previous figure);\n"
         "the int8 step (tables kept int8 or fp32 and why, the gate's prediction diffs); overall:\n"
         "the model as imported (O0, fp32) against the package, timed side by side too.\n"
         "Without --sample one request (one user, --candidates candidates) is synthesized from\n"
         "the config, every value valid for its feature's kind.\n\n"
         "flags:\n"
      << FormatFlagHelp(OptimizeCommandFlags());
}

std::vector<std::string> BuildWarnings() {
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

void FillContext(int threads, tools::OptimizeContext* context) {
  context->set_rankopt_version(RANKOPT_VERSION);
  context->set_compiler(CompilerText());
  context->set_build_type(RANKOPT_BUILD_TYPE);
  context->set_cpu_model(CpuModel());
  context->set_logical_cores(static_cast<int32_t>(std::thread::hardware_concurrency()));
  context->set_isa(std::string(IsaName(BestIsa())));
  context->set_amx(GetCpuFeatures().amx ? "present, not used" : "absent");
  context->set_threads(threads);
  context->set_date(UtcNow());
  for (std::string& w : BuildWarnings()) context->add_warnings(std::move(w));
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

// The feed name of a Placeholder: its tensor name in ONNX, its node name in TF.
std::string FeedName(const Graph& graph, const Node& node) {
  if (graph.format() == ModelFormat::kOnnx && !node.output_names.empty()) {
    return node.output_names[0];
  }
  return node.name;
}

// The whole request-level inputs (no column entries) that `graph` reads only through
// _RankoptRequestRow, i.e. after the request_level pass marked them: those the runner passes
// whole to every chunk. Before the marking (O0, O1) none: their rows must be split with the
// candidates'.
std::vector<std::string> MarkedRequestInputs(const Graph& graph,
                                             const std::vector<RequestLevelInput>& inputs) {
  absl::flat_hash_set<std::string> whole;
  for (const RequestLevelInput& in : inputs) {
    if (in.columns.empty()) whole.insert(in.name);
  }
  std::vector<std::string> marked;
  for (const Node& node : graph.nodes()) {
    if (node.op != kPlaceholderOp) continue;
    const std::string feed = FeedName(graph, node);
    if (!whole.contains(feed)) continue;
    bool read = false, only_request_row = true;
    for (const Node& reader : graph.nodes()) {
      for (const TensorRef& ref : reader.inputs) {
        if (ref.node != node.name) continue;
        read = true;
        only_request_row &= reader.op == kRequestRowOp;
      }
    }
    if (read && only_request_row) marked.push_back(feed);
  }
  return marked;
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
  for (int64_t i = 0; i < candidates; ++i) tiled.candidates.push_back(first.candidates[i % sent]);
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

// A graph planned and bound to the timing request, run as the serving runtime runs it: chunked
// (ChunkedRunner, the allocation-free RunInto), request-level inputs passed whole once the graph
// is marked. Owns a copy of the graph, so it outlives the pass that produced it.
class TimedGraph {
 public:
  // Errors: the graph does not plan, the request does not feed it, or its first run fails.
  static absl::StatusOr<std::unique_ptr<TimedGraph>> Create(const Graph& graph,
                                                            const TimingSetup& setup) {
    std::unique_ptr<TimedGraph> t(new TimedGraph(graph));
    RANKOPT_ASSIGN_OR_RETURN(t->plan_, ExecutionPlan::Create(t->graph_, setup.plan_options));
    RANKOPT_RETURN_IF_ERROR(
        FeedsFromTransformedRequest(*setup.request, t->plan_->inputs(), &t->feeds_));
    ChunkedRunnerOptions options;
    options.threads = setup.threads;
    options.request_level_inputs = MarkedRequestInputs(t->graph_, setup.request_inputs);
    RANKOPT_ASSIGN_OR_RETURN(t->runner_, ChunkedRunner::Create(t->plan_.get(), options));
    RANKOPT_RETURN_IF_ERROR(t->Run());
    return t;
  }

  absl::Status Run() { return runner_->RunInto(feeds_.views, &outputs_); }

 private:
  explicit TimedGraph(const Graph& graph) : graph_(graph) {}

  const Graph graph_;
  std::unique_ptr<const ExecutionPlan> plan_;
  GraphFeeds feeds_;
  std::unique_ptr<ChunkedRunner> runner_;
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
    return static_cast<int64_t>(us[g].size()) >= kMinTimedRuns && timed_s[g] >= min_s;
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
void SetPassStatus(const PassReport& pass, tools::OptimizeStep* step) {
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

void SetInt8Details(const GraphQuantizationReport& q, tools::OptimizeInt8* out) {
  out->set_kept(q.kept);
  out->set_tables(static_cast<int32_t>(q.tables.size()));
  out->set_outputs(q.outputs);
  out->set_samples(q.samples);
  out->set_predictions(q.predictions);
  out->set_table_bytes_fp32(static_cast<int64_t>(q.bytes_fp32));
  out->set_table_bytes_stored(static_cast<int64_t>(q.bytes_stored));
  if (q.combined.has_value()) {
    out->set_gate_max_abs_diff(q.combined->max_abs_diff);
    out->set_gate_mean_abs_diff(q.combined->mean_abs_diff);
    out->set_gate_result(q.combined->reason);
    if (q.combined->auc_delta.has_value()) out->set_auc_delta(*q.combined->auc_delta);
    if (q.combined->logloss_delta.has_value()) out->set_logloss_delta(*q.combined->logloss_delta);
  }
  for (const GraphTableQuantization& t : q.tables) {
    tools::OptimizeInt8Table* table = out->add_table_details();
    table->set_table(t.table);
    table->set_rows(t.rows);
    table->set_dim(t.dim);
    table->set_stored(std::string(TableDTypeName(t.stored)));
    table->set_bytes_fp32(static_cast<int64_t>(t.bytes_fp32));
    table->set_bytes_stored(static_cast<int64_t>(t.bytes_stored));
    if (t.figures.has_value()) {
      table->set_nmse(t.figures->nmse);
      table->set_max_abs_error(t.figures->max_abs_error);
    }
    if (t.gate.has_value()) {
      table->set_gate_max_abs_diff(t.gate->max_abs_diff);
      table->set_gate_passed(t.gate->passed);
    }
    table->set_reason(t.reason);
  }
}

std::string ToJson(const tools::OptimizeReport& report, bool pretty) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.add_whitespace = pretty;
  if (!google::protobuf::util::MessageToJsonString(report, &text, options).ok()) return "";
  return text;
}

// --- the human report ---

std::string Duration(double us) {
  if (us < 1000) return absl::StrFormat("%.1f us", us);
  if (us < 1e6) return absl::StrFormat("%.3f ms", us / 1000);
  return absl::StrFormat("%.3f s", us / 1e6);
}

std::string Bytes(int64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  if (bytes < (int64_t{1} << 20)) return absl::StrFormat("%.1f KiB", bytes / 1024.0);
  if (bytes < (int64_t{1} << 30)) return absl::StrFormat("%.2f MiB", bytes / 1048576.0);
  return absl::StrFormat("%.2f GiB", bytes / 1073741824.0);
}

std::string Arrow(const std::string& a, const std::string& b) { return absl::StrCat(a, " -> ", b); }

void PrintStep(const tools::OptimizeStep& s, std::ostream& out) {
  out << absl::StrFormat(
      "%-28s %-15s %-13s %-19s %-22s %-24s %s\n", s.name(), s.status(),
      Arrow(absl::StrCat(s.nodes_before()), absl::StrCat(s.nodes_after())),
      Arrow(absl::StrCat(s.params_before()), absl::StrCat(s.params_after())),
      Arrow(Bytes(s.constant_bytes_before()), Bytes(s.constant_bytes_after())),
      s.timed() ? Arrow(Duration(s.latency_before_us()), Duration(s.latency_after_us()))
      : s.latency_note().empty() ? "(unchanged)"
                                 : "(not measured)",
      s.latency_note().empty() ? absl::StrFormat("%.2fx", s.speedup()) : "-");
  if (s.status() != "effective") {
    out << "    " << s.status() << ": " << s.reason() << "\n";
  } else if (s.name() != "int8") {
    for (const std::string& note : s.notes()) out << "    " << note << "\n";
  }
  if (!s.latency_note().empty()) out << "    latency " << s.latency_note() << "\n";
}

void PrintText(const tools::OptimizeReport& r, const std::string& int8_text) {
  const tools::OptimizeContext& c = r.context();
  std::cout << "rankopt optimize: " << r.model() << " -> " << r.package() << "\n";
  for (const std::string& w : c.warnings()) std::cout << "WARNING: " << w << "\n";
  std::cout << "  rankopt " << c.rankopt_version() << ", " << c.compiler() << ", " << c.build_type()
            << " build; " << c.date() << "\n"
            << "  CPU: " << c.cpu_model() << ", " << c.logical_cores() << " logical cores\n"
            << "  kernels: " << c.isa() << " (AMX " << c.amx() << "); latency: " << c.threads()
            << (c.threads() == 1 ? " thread" : " threads") << ", median of >= " << kMinTimedRuns
            << " runs and >= " << r.timing_min_s()
            << " s per graph, each timed alternating with the graph before it\n";
  std::cout << "model:     " << r.model() << " (" << r.model_format() << ")\n"
            << "features:  " << r.feature_config() << "; request-level: "
            << (r.request_level_source().empty() ? "none" : r.request_level_source()) << "\n"
            << "sample:    " << r.sample() << " (" << r.sample_requests()
            << (r.sample_requests() == 1 ? " request" : " requests") << ")\n"
            << "timed:     " << r.timing_request() << "\n"
            << "level:     " << r.opt_level() << ", int8 " << r.int8_mode() << "\n\n";
  std::cout << absl::StrFormat(
      "%-28s %-15s %-13s %-19s %-22s %-24s %s\n", "step", "status", "nodes", "params",
      "constant bytes", absl::StrCat("latency (", r.timing_candidates(), " cand.)"), "speedup");
  for (const tools::OptimizeStep& s : r.passes()) PrintStep(s, std::cout);
  PrintStep(r.int8().step(), std::cout);
  if (!int8_text.empty()) {
    std::cout << "\nint8 tables (" << r.int8().mode() << "):\n" << int8_text;
  }
  if (r.int8().mode() != "off") std::cout << "labels: " << r.int8().labels() << "\n";
  const tools::OptimizeOverall& o = r.overall();
  std::cout << "\noverall: as imported (O0, fp32) -> " << r.opt_level() << " + int8 "
            << r.int8_mode() << ", " << r.timing_candidates() << " candidates, " << c.threads()
            << (c.threads() == 1 ? " thread" : " threads") << "\n"
            << "  latency         "
            << Arrow(Duration(o.baseline_latency_us()), Duration(o.final_latency_us()))
            << absl::StrFormat("   speedup %.2fx\n", o.speedup()) << "  nodes           "
            << Arrow(absl::StrCat(o.nodes_before()), absl::StrCat(o.nodes_after()))
            << "\n  params          "
            << Arrow(absl::StrCat(o.params_before()), absl::StrCat(o.params_after()))
            << "\n  constant bytes  "
            << Arrow(Bytes(o.constant_bytes_before()), Bytes(o.constant_bytes_after()))
            << "\n  package         " << Bytes(o.package_bytes()) << "\n";
  std::cout << "\nwrote " << r.package() << ": " << r.package_name() << " v" << r.package_version()
            << "; outputs " << absl::StrJoin(r.outputs(), ", ") << "; request-level inputs "
            << (r.request_level_inputs().empty() ? "none"
                                                 : absl::StrJoin(r.request_level_inputs(), ", "))
            << "; " << r.warmup_requests()
            << (r.warmup_requests() == 1 ? " warm-up request\n" : " warm-up requests\n");
}

// --- flags ---

absl::StatusOr<int64_t> IntFlag(const CommandLine& line, const char* flag, int64_t fallback,
                                int64_t min, int64_t max) {
  if (!line.Has(flag)) return fallback;
  int64_t v = 0;
  if (!absl::SimpleAtoi(line.Get(flag), &v) || v < min || v > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, ": '", line.Get(flag), "' is not an integer in [", min, ", ", max, "]"));
  }
  return v;
}

bool SamePath(const std::string& a, const std::string& b) {
  std::error_code error;
  if (fs::equivalent(a, b, error)) return true;
  return fs::weakly_canonical(a, error) == fs::weakly_canonical(b, error) && !error;
}

// "din" for "models/din.onnx", "1593253204" for a SavedModel directory "…/1593253204/".
std::string ModelStem(const std::string& path) {
  fs::path p = fs::path(path).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  std::string stem = p.stem().string();
  return stem.empty() ? "model" : stem;
}

absl::Status Located(const std::string& where, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(where, ": ", status.message()));
}

struct Options {
  std::string model_path;
  std::string config_path;
  std::string out_path;
  std::vector<std::string> outputs;
  OptLevel level = OptLevel::kO2;
  TableQuantizationMode int8 = TableQuantizationMode::kAuto;
  std::string sample_path;
  int64_t candidates = 0;  // 0: not given
  std::string name;
  std::string version;
  int threads = 1;
  double time_s = kDefaultTimeS;
  bool json = false;
};

// The command after the flags are read. Fills `report`; `int8_text` gets the int8 table.
absl::Status Optimize(const Options& o, tools::OptimizeReport* report, std::string* int8_text) {
  FillContext(o.threads, report->mutable_context());
  report->set_model(o.model_path);
  report->set_feature_config(o.config_path);
  report->set_opt_level(std::string(OptLevelName(o.level)));
  report->set_int8_mode(std::string(TableQuantizationModeName(o.int8)));
  report->set_timing_min_s(o.time_s);
  report->set_package(o.out_path);
  report->set_package_name(o.name);
  report->set_package_version(o.version);

  RANKOPT_ASSIGN_OR_RETURN(const Graph imported, LoadModel(o.model_path));
  report->set_model_format(std::string(ModelFormatName(imported.format())));
  for (const std::string& name : o.outputs) {
    if (absl::StatusOr<TensorRef> ref = imported.ResolveTensor(name); !ref.ok()) {
      return Located(o.model_path, absl::Status(ref.status().code(),
                                                absl::StrCat("--outputs '", name,
                                                             "': ", ref.status().message())));
    }
  }
  RANKOPT_ASSIGN_OR_RETURN(FeatureConfig config, LoadFeatureConfig(o.config_path));
  const std::vector<RequestLevelInput> request_inputs = RequestLevelInputsOf(config);
  report->set_request_level_source(RequestInputsText(request_inputs));
  RANKOPT_ASSIGN_OR_RETURN(FeatureTransformer transformer, FeatureTransformer::Create(config));

  Sample sample;
  if (!o.sample_path.empty()) {
    RANKOPT_RETURN_IF_ERROR(ReadSample(o.sample_path, transformer, o.candidates, &sample));
  } else {
    RANKOPT_RETURN_IF_ERROR(SynthesizeSample(config, imported, transformer,
                                             o.candidates > 0 ? o.candidates : kDefaultCandidates,
                                             &sample));
  }
  report->set_sample(sample.description);
  report->set_sample_synthesized(sample.synthesized);
  report->set_sample_requests(static_cast<int32_t>(sample.requests.size()));
  report->set_timing_candidates(sample.timing.num_candidates);
  report->set_timing_request(sample.timing_text);

  PlanOptions plan_options;
  plan_options.outputs = o.outputs;
  // Every sample request must feed the model as imported (names the request and the input).
  {
    absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
        ExecutionPlan::Create(imported, plan_options);
    if (!plan.ok()) return Located(o.model_path, plan.status());
    std::vector<GraphFeeds> feeds;
    RANKOPT_RETURN_IF_ERROR(SampleFeeds(sample, **plan, &feeds));
  }
  TimingSetup timing;
  timing.plan_options = plan_options;
  timing.request = &sample.timing;
  timing.request_inputs = request_inputs;
  timing.threads = o.threads;

  // Baseline: the model as imported. Each later graph is timed side by side with the last graph
  // that ran (`last`), the final one also with the baseline.
  absl::StatusOr<std::unique_ptr<TimedGraph>> baseline_timed = TimedGraph::Create(imported, timing);
  if (!baseline_timed.ok()) {
    return Located(absl::StrCat(o.model_path, " as imported"), baseline_timed.status());
  }
  TimedGraph* last = baseline_timed->get();
  std::unique_ptr<TimedGraph> last_owned;
  Figures current;
  current.nodes = static_cast<int64_t>(imported.num_nodes());
  current.params = CountParams(imported);
  current.bytes = ConstantBytes(imported);
  {
    // A first figure for the table's "before" column until a pass changes the graph.
    Latency a, b;
    RANKOPT_RETURN_IF_ERROR(TimeSideBySide(last, last, o.time_s / 2, &a, &b));
    current.latency_us = (a.median_us + b.median_us) / 2;
  }
  const Figures baseline = current;
  // Times `graph` against `last`; on success `graph` becomes `last`. Sets the step's latency
  // figures, or its latency_note when the graph does not run on its own.
  auto time_step = [&](const Graph& graph, tools::OptimizeStep* step,
                       Figures* next) -> absl::Status {
    absl::StatusOr<std::unique_ptr<TimedGraph>> timed = TimedGraph::Create(graph, timing);
    if (!timed.ok()) {
      step->set_speedup(0);
      step->set_latency_note(absl::StrCat(
          "not measured: the graph this step leaves does not run on its own (",
          timed.status().message(), "); the next timed step's speedup includes this one"));
      return absl::OkStatus();
    }
    Latency before, after;
    RANKOPT_RETURN_IF_ERROR(TimeSideBySide(last, timed->get(), o.time_s, &before, &after));
    step->set_latency_before_us(before.median_us);
    step->set_latency_after_us(after.median_us);
    step->set_timed(true);
    step->set_runs(after.runs);
    step->set_speedup(Speedup(before.median_us, after.median_us));
    next->latency_us = after.median_us;
    last_owned = *std::move(timed);
    last = last_owned.get();
    return absl::OkStatus();
  };

  // The passes, each observed with the graph it left.
  OptimizeOptions optimize;
  optimize.outputs = o.outputs;
  optimize.request_inputs = request_inputs;
  optimize.after_pass = [&](const PassReport& pass, const Graph& after) -> absl::Status {
    tools::OptimizeStep* step = report->add_passes();
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
      RANKOPT_RETURN_IF_ERROR(time_step(after, step, &next));
    }
    step->set_constant_bytes_after(next.bytes);
    current = next;
    return absl::OkStatus();
  };
  Graph optimized(imported.format());
  absl::StatusOr<std::vector<PassReport>> passes =
      OptimizeGraph(imported, o.level, optimize, &optimized);
  if (!passes.ok()) return Located(o.model_path, passes.status());

  // The int8 step.
  tools::OptimizeInt8* int8 = report->mutable_int8();
  int8->set_mode(std::string(TableQuantizationModeName(o.int8)));
  int8->set_labels(
      "none: the request JSON format has no label field, so the gate compares predictions only "
      "(no AUC/logloss deltas)");
  tools::OptimizeStep* step = int8->mutable_step();
  step->set_name("int8");
  step->set_nodes_before(current.nodes);
  step->set_params_before(current.params);
  step->set_constant_bytes_before(current.bytes);
  step->set_latency_before_us(current.latency_us);
  step->set_latency_after_us(current.latency_us);
  step->set_speedup(1.0);
  Graph final_graph(optimized.format());
  if (o.int8 == TableQuantizationMode::kOff) {
    final_graph = optimized;
    step->set_status("skipped");
    step->set_reason("--int8 off");
  } else {
    absl::StatusOr<std::unique_ptr<const ExecutionPlan>> plan =
        ExecutionPlan::Create(optimized, plan_options);
    if (!plan.ok()) return Located(o.model_path, plan.status());
    std::vector<GraphFeeds> feeds;
    RANKOPT_RETURN_IF_ERROR(SampleFeeds(sample, **plan, &feeds));
    TableQuantizationOptions quantization;
    quantization.mode = o.int8;
    quantization.outputs = o.outputs;
    for (const GraphFeeds& f : feeds) quantization.samples.push_back(f.views);
    absl::StatusOr<GraphQuantizationReport> tables =
        QuantizeGraphTables(optimized, quantization, &final_graph);
    if (!tables.ok()) {
      return Located(absl::StrCat(o.model_path, ": --int8 ", TableQuantizationModeName(o.int8)),
                     tables.status());
    }
    SetInt8Details(*tables, int8);
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
  }
  Figures final_figures = current;
  if (step->status() == "effective") {
    final_figures.nodes = static_cast<int64_t>(final_graph.num_nodes());
    final_figures.bytes = ConstantBytes(final_graph);
    RANKOPT_RETURN_IF_ERROR(time_step(final_graph, step, &final_figures));
  }
  // Storage changes, the parameters do not: an int8 row holds the same `dim` values.
  step->set_nodes_after(final_figures.nodes);
  step->set_params_after(final_figures.params);
  step->set_constant_bytes_after(final_figures.bytes);

  // Overall: the model as imported against the final graph, side by side. The final graph must
  // run (an intermediate one that does not is only a note above).
  absl::StatusOr<std::unique_ptr<TimedGraph>> final_timed = TimedGraph::Create(final_graph, timing);
  if (!final_timed.ok()) {
    return Located(absl::StrCat(o.model_path, " optimized"), final_timed.status());
  }
  Latency baseline_latency, final_latency;
  RANKOPT_RETURN_IF_ERROR(TimeSideBySide(baseline_timed->get(), final_timed->get(), o.time_s,
                                         &baseline_latency, &final_latency));
  tools::OptimizeOverall* overall = report->mutable_overall();
  overall->set_baseline_latency_us(baseline_latency.median_us);
  overall->set_final_latency_us(final_latency.median_us);
  overall->set_speedup(Speedup(baseline_latency.median_us, final_latency.median_us));
  overall->set_nodes_before(baseline.nodes);
  overall->set_nodes_after(final_figures.nodes);
  overall->set_params_before(baseline.params);
  overall->set_params_after(final_figures.params);
  overall->set_constant_bytes_before(baseline.bytes);
  overall->set_constant_bytes_after(final_figures.bytes);

  // The package.
  absl::StatusOr<std::unique_ptr<const ExecutionPlan>> final_plan =
      ExecutionPlan::Create(final_graph, plan_options);
  if (!final_plan.ok()) return Located(o.model_path, final_plan.status());
  ModelPackage package;
  package.model_name = o.name;
  package.model_version = o.version;
  package.source_path = o.model_path;
  package.source_format = std::string(ModelFormatName(imported.format()));
  RANKOPT_ASSIGN_OR_RETURN(package.source_hash, HashSourceModel(o.model_path));
  package.created_by = absl::StrCat("rankopt ", RANKOPT_VERSION);
  package.feature_config_yaml = FeatureConfigToYaml(config);
  package.outputs = (*final_plan)->outputs();
  package.request_level_inputs = MarkedRequestInputs(final_graph, request_inputs);
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
  package.report_json = ToJson(*report, /*pretty=*/false);  // package_bytes still 0
  package.graph = std::move(final_graph);
  RANKOPT_RETURN_IF_ERROR(WriteModelPackage(package, o.out_path));
  std::error_code error;
  const uintmax_t size = fs::file_size(o.out_path, error);
  if (!error) overall->set_package_bytes(static_cast<int64_t>(size));
  return absl::OkStatus();
}

}  // namespace

int RunOptimize(const std::vector<std::string>& args) {
  absl::StatusOr<CommandLine> line = CommandLine::Parse(args, OptimizeCommandFlags());
  if (!line.ok()) {
    ReportError("optimize", line.status());
    return kExitUsage;
  }
  if (line->Has("help")) {
    PrintHelp();
    return kExitOk;
  }
  Options o;
  o.config_path = line->Get("features");
  o.out_path = line->Get("output");
  if (line->positional().size() != 1 || o.config_path.empty() || o.out_path.empty()) {
    std::cerr << kUsage << "  (MODEL, --features CONFIG and -o OUT.rkp are required)\n";
    return kExitUsage;
  }
  o.model_path = line->positional()[0];
  o.outputs = line->GetList("outputs");
  o.sample_path = line->Get("sample");
  o.json = line->Has("json");
  o.name = line->Get("name", ModelStem(o.model_path));
  o.version = line->Get("model-version", "1");
  absl::StatusOr<OptLevel> level = ParseOptLevel(line->Get("opt-level", "2"));
  absl::StatusOr<TableQuantizationMode> int8 =
      ParseTableQuantizationMode(line->Get("int8", "auto"));
  absl::StatusOr<int64_t> candidates = IntFlag(*line, "candidates", 0, 1, int64_t{1} << 20);
  absl::StatusOr<int64_t> threads = IntFlag(*line, "threads", 1, 1, 1024);
  absl::Status time_s_status = absl::OkStatus();
  if (line->Has("time-s") &&
      (!absl::SimpleAtod(line->Get("time-s"), &o.time_s) || !(o.time_s >= 0) || o.time_s > 600)) {
    time_s_status = absl::InvalidArgumentError(absl::StrCat(
        "--time-s: '", line->Get("time-s"), "' is not a number of seconds in [0, 600]"));
  }
  for (absl::Status s :
       {level.status(),
        int8.ok() ? int8.status()
                  : absl::InvalidArgumentError(absl::StrCat("--int8: ", int8.status().message())),
        candidates.status(), threads.status(), time_s_status}) {
    if (!s.ok()) {
      ReportError("optimize", s);
      return kExitUsage;
    }
  }
  if (o.name.empty() || o.version.empty()) {
    ReportError("optimize", absl::InvalidArgumentError("--name and --model-version must not be "
                                                       "empty"));
    return kExitUsage;
  }
  o.level = *level;
  o.int8 = *int8;
  o.candidates = *candidates;
  o.threads = static_cast<int>(*threads);
  if (SamePath(o.model_path, o.out_path)) {
    return ReportError(
        "optimize", absl::InvalidArgumentError(absl::StrCat(
                        o.out_path, ": refusing to overwrite the input model; pick another -o")));
  }
  for (const std::string& w : BuildWarnings()) std::cerr << "WARNING: " << w << "\n";

  tools::OptimizeReport report;
  std::string int8_text;
  if (absl::Status s = Optimize(o, &report, &int8_text); !s.ok()) {
    return ReportError("optimize", s);
  }
  if (!o.json) {
    PrintText(report, int8_text);
    return kExitOk;
  }
  const std::string json = ToJson(report, /*pretty=*/true);
  if (json.empty()) {
    return ReportError("optimize", absl::InternalError("cannot print the JSON report"));
  }
  std::cout << json << "\n";
  return kExitOk;
}

}  // namespace rankopt
