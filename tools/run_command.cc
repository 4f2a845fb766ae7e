// rankopt run MODEL (--inputs INPUTS.json | --requests REQUESTS.jsonl --config CONFIG)
//             [--outputs NAMES] [-O LEVEL] [--int8 off|auto|force] [--json]
// rankopt run PACKAGE (--inputs INPUTS.json | --requests REQUESTS.jsonl) [--outputs NAMES] [--json]
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/file_io.h"
#include "core/proto_json.h"
#include "features/config/feature_config.h"
#include "google/protobuf/util/json_util.h"
#include "rankopt/model.h"
#include "rankopt/request_json.h"
#include "rankopt/status_macros.h"
#include "serving/graph_inputs.h"
#include "serving/limits.h"
#include "serving/model_source.h"
#include "tools/remote_flags.h"
#include "serving/scorer.h"
#include "serving/table_quantization.h"
#include "tools/command_line.h"
#include "tools/commands.h"
#include "tools/optimize_flags.h"
#include "tools/run_report.pb.h"

namespace rankopt {
namespace {

const CommandSpec& Spec() {
  static const CommandSpec spec = [] {
    CommandSpec spec;
    spec.name = "run";
    spec.usage =
        "rankopt run MODEL (--inputs INPUTS | --requests REQUESTS.jsonl --config CONFIG) "
        "[--outputs NAMES] [-O LEVEL] [--request-inputs LIST] [--int8 off|auto|force] [--json]\n"
        "       rankopt run PACKAGE (--inputs INPUTS | --requests REQUESTS.jsonl) [--outputs NAMES] "
        "[--json] [--redis HOST:PORT,...]";
    spec.description =
        "Runs the model (as is, or after the passes of -O) on each request's graph\n"
        "inputs and prints every output's dims and values, so rankopt can be checked against\n"
        "another engine. A request that also has \"reference_outputs\" (the peer files in\n"
        "tests/data/peers) gets the max relative error of each output against them.\n"
        "A bad request is reported with its line and the others still run; the exit code\n"
        "is then 1. With --requests and --config, raw feature requests go through the\n"
        "feature pipeline first (what `rankopt features` shows) and request-level columns\n"
        "are repeated into every candidate row, as the exported graph expects.\n"
        "--int8 stores embedding tables int8 after the passes (auto: the tables whose\n"
        "predictions on these requests stay within the accuracy gate); the per-table\n"
        "report goes to stderr.\n"
        "PACKAGE: a model package from `rankopt optimize` (.rkp, recognised by its first\n"
        "bytes) runs as packaged: its graph (passes and int8 tables already applied), its\n"
        "output heads and its feature config, so --requests needs no --config; -O, --int8,\n"
        "--config and --request-inputs do not apply. A package with remote tables\n"
        "(`rankopt tables publish -o`) reads its rows from the Redis Cluster (--redis).";
    spec.flags = {
      {"inputs", "", true, "INPUTS",
       "JSON {\"inputs\": {NAME: {\"dtype\", \"dims\", \"data\"}}}, or JSON lines of such "
       "objects (one request per line)"},
      {"requests", "", true, "REQUESTS.jsonl",
       "raw feature requests ({\"user\", \"context\", \"candidates\"}, one per line), "
       "transformed by --config into the graph's inputs"},
      {"config", "", true, "CONFIG",
       "the feature config (YAML) for --requests; at -O 2 its user/context features are the "
       "request-level inputs (a PACKAGE carries its own)"},
      {"outputs", "", true, "NAMES",
       "comma-separated tensors to compute (default: the model's outputs)"},
      {"json", "", false, "", "one JSON object per request instead of the text"},
      {"help", "h", false, "", "show this help"},
    };
    for (FlagSpec& f : OptimizeFlagSpecs("0", /*with_config=*/false)) {
      spec.flags.push_back(std::move(f));
    }
    for (FlagSpec& f : RemoteTableFlagSpecs()) spec.flags.push_back(std::move(f));
    return spec;
  }();
  return spec;
}

std::string FloatText(double v, bool single) {
  char buf[32];
  const std::to_chars_result r = single
                                     ? std::to_chars(buf, buf + sizeof(buf), static_cast<float>(v))
                                     : std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

// Element i of a fixed-width tensor as a double, for comparisons (int64 beyond 2^53 rounds).
double ElementAsDouble(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kFloat32:
      return t.values<float>()[i];
    case DType::kFloat64:
      return t.values<double>()[i];
    case DType::kInt8:
      return t.values<int8_t>()[i];
    case DType::kUInt8:
      return t.values<uint8_t>()[i];
    case DType::kInt16:
      return t.values<int16_t>()[i];
    case DType::kUInt16:
      return t.values<uint16_t>()[i];
    case DType::kInt32:
      return t.values<int32_t>()[i];
    case DType::kUInt32:
      return t.values<uint32_t>()[i];
    case DType::kInt64:
      return static_cast<double>(t.values<int64_t>()[i]);
    case DType::kUInt64:
      return static_cast<double>(t.values<uint64_t>()[i]);
    case DType::kBool:
      return t.values<bool>()[i] ? 1 : 0;
    default:
      return std::nan("");
  }
}

bool IsIntegral(DType dtype) {
  return dtype != DType::kFloat32 && dtype != DType::kFloat64 && dtype != DType::kFloat16 &&
         dtype != DType::kBFloat16;
}

// Element text: integers exactly, floats in their shortest round-trip form.
std::string ElementText(const Tensor& t, int64_t i) {
  if (t.dtype() == DType::kString)
    return absl::StrCat("\"", absl::CHexEscape(t.strings()[i]), "\"");
  if (t.dtype() == DType::kInt64) return absl::StrCat(t.values<int64_t>()[i]);
  if (t.dtype() == DType::kUInt64) return absl::StrCat(t.values<uint64_t>()[i]);
  if (IsIntegral(t.dtype())) return absl::StrCat(static_cast<int64_t>(ElementAsDouble(t, i)));
  return FloatText(ElementAsDouble(t, i), t.dtype() == DType::kFloat32);
}

// max |x - ref| / |ref| over the elements that differ (an equal one, zeros included, is 0; a
// nonzero x against a zero ref is inf); nullopt when the shapes differ. NaN when any element is.
std::optional<double> MaxRelativeError(const Tensor& got, const Tensor& ref) {
  if (got.dims() != ref.dims() || !IsFixedWidth(got.dtype())) return std::nullopt;
  double worst = 0;
  for (int64_t i = 0; i < got.num_elements(); ++i) {
    const double r = ElementAsDouble(ref, i);
    const double x = ElementAsDouble(got, i);
    if (std::isnan(x) || std::isnan(r)) return std::numeric_limits<double>::quiet_NaN();
    if (x == r) continue;
    worst = std::max(worst, std::abs(x - r) / std::abs(r));
  }
  return worst;
}

const NamedTensor* FindReference(const TensorJsonDocument& doc, const std::string& name) {
  for (const NamedTensor& t : doc.reference_outputs) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

tools::RunReport ToReport(int line, const Scorer& scorer, const TensorJsonDocument& doc,
                          const std::vector<Tensor>& outputs) {
  tools::RunReport report;
  report.set_line(line);
  for (size_t k = 0; k < outputs.size(); ++k) {
    const Tensor& t = outputs[k];
    tools::RunOutputReport* o = report.add_outputs();
    o->set_name(scorer.outputs()[k]);
    o->set_dtype(std::string(DTypeName(t.dtype())));
    for (int64_t d : t.dims()) o->add_dims(d);
    for (int64_t i = 0; i < t.num_elements(); ++i) {
      if (t.dtype() == DType::kString) {
        o->add_strings(t.strings()[i]);
      } else if (t.dtype() == DType::kFloat32) {
        o->add_values(t.values<float>()[i]);
      } else if (t.dtype() == DType::kFloat64) {
        o->add_doubles(t.values<double>()[i]);
      } else if (t.dtype() == DType::kUInt64) {
        o->add_ints(static_cast<int64_t>(t.values<uint64_t>()[i]));
      } else if (t.dtype() == DType::kInt64) {
        o->add_ints(t.values<int64_t>()[i]);
      } else if (IsIntegral(t.dtype())) {
        o->add_ints(static_cast<int64_t>(ElementAsDouble(t, i)));
      } else {
        o->add_doubles(ElementAsDouble(t, i));  // float16/bfloat16: not decoded yet (NaN)
      }
    }
    if (const NamedTensor* ref = FindReference(doc, o->name())) {
      if (std::optional<double> err = MaxRelativeError(t, ref->tensor)) {
        o->set_max_relative_error(*err);
      }
    }
  }
  return report;
}

void PrintText(const std::string& where, const tools::RunReport& report,
               const std::vector<Tensor>& outputs, const TensorJsonDocument& doc) {
  std::cout << where << ":\n";
  for (int k = 0; k < report.outputs_size(); ++k) {
    const tools::RunOutputReport& o = report.outputs(k);
    const Tensor& t = outputs[k];
    std::cout << "  " << o.name() << " [" << absl::StrJoin(t.dims(), ",") << "] " << o.dtype();
    if (o.has_max_relative_error()) {
      std::cout << "  (max relative error vs reference: " << o.max_relative_error() << ")";
    } else if (FindReference(doc, o.name()) != nullptr) {
      std::cout << "  (reference has other dims)";
    }
    std::cout << "\n   ";
    for (int64_t i = 0; i < t.num_elements(); ++i) std::cout << " " << ElementText(t, i);
    std::cout << "\n";
  }
}

void PrintJson(const tools::RunReport& report) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::cout << ProtoToJson(report, options) << "\n";
}

// --requests: each raw request through the scorer's feature pipeline, then its plan.
int RunFeatureRequests(const Scorer& scorer, const std::string& requests_path,
                       const ModelOptions& limits, bool json) {
  absl::StatusOr<std::vector<RequestLine>> lines = ReadRequestJsonLines(requests_path);
  if (!lines.ok()) return ReportError("run", lines.status());

  int exit_code = kExitOk;
  ScorerContext context;
  std::vector<Tensor> outputs;
  const TensorJsonDocument no_reference;
  for (const RequestLine& request : *lines) {
    const std::string where = absl::StrCat(requests_path, ":", request.line);
    absl::Status status = CheckRequestLimits(request.request, limits);
    if (status.ok()) status = scorer.Feed(request.request, &context);
    if (status.ok()) status = scorer.Run(context.feeds.views, &outputs);
    if (!status.ok()) {
      exit_code = kExitError;
      const absl::Status located(status.code(), absl::StrCat(where, ": ", status.message()));
      if (json) {
        tools::RunReport report;
        report.set_line(request.line);
        report.set_error(std::string(located.message()));
        PrintJson(report);
      }
      ReportError("run", located);
      continue;
    }
    tools::RunReport report = ToReport(request.line, scorer, no_reference, outputs);
    if (!json) {
      PrintText(where, report, outputs, no_reference);
    } else {
      PrintJson(report);
    }
  }
  return exit_code;
}

// The requests of the --inputs or --requests file as the accuracy gate's sample (a request
// that does not parse or transform is left out here; the run reports it).
struct RunSample {
  std::vector<TensorJsonDocument> docs;
  std::vector<ScorerContext> feeds;
  std::vector<GateSample> samples;
};

absl::Status ReadRunSample(const std::string& inputs_path, const std::string& requests_path,
                           const Scorer& scorer, RunSample* sample) {
  if (!requests_path.empty()) {
    RANKOPT_ASSIGN_OR_RETURN(std::vector<RequestLine> lines, ReadRequestJsonLines(requests_path));
    for (const RequestLine& request : lines) {
      ScorerContext context;
      if (!scorer.Feed(request.request, &context).ok()) continue;
      sample->feeds.push_back(std::move(context));
    }
    for (const ScorerContext& c : sample->feeds) sample->samples.push_back(c.feeds.views);
    return absl::OkStatus();
  }
  RANKOPT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(inputs_path));
  for (const TensorJsonRequest& request : SplitTensorJsonRequests(inputs_path, text)) {
    absl::StatusOr<TensorJsonDocument> doc = ParseTensorJson(request.text, request.where);
    if (doc.ok()) sample->docs.push_back(*std::move(doc));
  }
  for (const TensorJsonDocument& doc : sample->docs) sample->samples.push_back(FeedsOf(doc.inputs));
  return absl::OkStatus();
}

// The scorer `rankopt run` runs: the plan as is, whole, on this thread (no chunks), with the
// feature config when raw requests are to be transformed.
absl::StatusOr<std::unique_ptr<Scorer>> MakeScorer(const Graph& graph,
                                                   const std::optional<FeatureConfig>& config,
                                                   const std::vector<std::string>& outputs,
                                                   const std::string& model_path,
                                                   const ModelOptions& limits,
                                                   std::shared_ptr<const RemoteTables> remote) {
  ScorerOptions options;
  options.outputs = outputs;
  options.remote_tables = std::move(remote);
  options.memory_cap_bytes = limits.max_request_bytes;  // raw models too, as Model::Score
  options.separability = Separability::kNever;
  absl::StatusOr<std::unique_ptr<Scorer>> scorer = Scorer::Create(&graph, config, options);
  if (!scorer.ok()) {
    return absl::Status(scorer.status().code(),
                        absl::StrCat(model_path, ": ", scorer.status().message()));
  }
  return scorer;
}

}  // namespace

int RunRun(const std::vector<std::string>& args) {
  CommandLine line;
  int exit_code;
  if (!OpenCommand(Spec(), args, &line, &exit_code)) return exit_code;
  const std::string inputs_path = line.Get("inputs");
  const std::string requests_path = line.Get("requests");
  const std::string config_path = line.Get("config");
  const bool is_package =
      line.positional().size() == 1 && IsModelPackageFile(line.positional()[0]);
  if (line.positional().size() != 1 || inputs_path.empty() == requests_path.empty() ||
      (!requests_path.empty() && config_path.empty() && !is_package)) {
    return UsageError(Spec(),
                      "MODEL and either --inputs, or --requests with --config, are required; a "
                      "PACKAGE needs no --config");
  }
  const std::string& model_path = line.positional()[0];
  const bool json = line.Has("json");

  absl::StatusOr<OptimizeFlags> optimize = ReadOptimizeFlags(line, "0");
  if (!optimize.ok()) {
    ReportError("run", optimize.status());
    return kExitUsage;
  }
  // The serving library's limits (rankopt/model.h), as Model::Score applies them.
  const ModelOptions limits;
  absl::StatusOr<ModelSource> source = LoadModelSource(model_path, limits);
  if (!source.ok()) return ReportError("run", source.status());
  if (absl::Status s = CheckNoFlagsForPackage(
          *source, line, {"opt-level", "int8", "config", "request-inputs"});
      !s.ok()) {
    ReportError("run", s);
    return kExitUsage;
  }
  // The feature config for --requests: the package's, or --config.
  std::optional<FeatureConfig> feature_config = source->feature_config;
  if (!requests_path.empty() && !feature_config.has_value()) {
    if (config_path.empty()) {
      return ReportError("run", absl::InvalidArgumentError(absl::StrCat(
                                    model_path, ": the package has no feature config; pass "
                                                "--inputs with graph inputs instead of --requests")));
    }
    absl::StatusOr<FeatureConfig> config = LoadFeatureConfig(config_path);
    if (!config.ok()) return ReportError("run", config.status());
    feature_config = *std::move(config);
  }
  Graph* const graph = &source->graph;
  if (optimize->level != OptLevel::kO0) {
    OptimizeOptions options;
    options.outputs = line.GetList("outputs");
    options.request_inputs = optimize->request_inputs;
    absl::StatusOr<std::vector<PassReport>> passes =
        OptimizeGraph(*graph, optimize->level, options, &*graph);
    if (!passes.ok()) {
      return ReportError("run",
                         absl::Status(passes.status().code(),
                                      absl::StrCat(model_path, ": ", passes.status().message())));
    }
  }
  const std::vector<std::string> output_names =
      line.Has("outputs") ? line.GetList("outputs") : source->outputs;
  // A package with remote tables reads its rows from the cluster (--redis, else the package's).
  absl::StatusOr<RemoteTableOptions> remote_options = ReadRemoteTableFlags(line);
  if (!remote_options.ok()) {
    ReportError("run", remote_options.status());
    return kExitUsage;
  }
  absl::StatusOr<std::shared_ptr<const RemoteTables>> remote_tables_or =
      OpenRemoteTables(*graph, *remote_options);
  if (!remote_tables_or.ok()) {
    return ReportError("run", absl::Status(remote_tables_or.status().code(),
                                           absl::StrCat(model_path, ": ",
                                                        remote_tables_or.status().message())));
  }
  const std::shared_ptr<const RemoteTables> remote_tables = *std::move(remote_tables_or);
  // The feature config goes to the scorer only for --requests (--inputs are graph inputs).
  const std::optional<FeatureConfig> scorer_config =
      requests_path.empty() ? std::nullopt : feature_config;
  absl::StatusOr<std::unique_ptr<Scorer>> scorer =
      MakeScorer(*graph, scorer_config, output_names, model_path, limits, remote_tables);
  if (!scorer.ok()) return ReportError("run", scorer.status());
  if (optimize->int8 != TableQuantizationMode::kOff) {
    TableQuantizationOptions quantization;
    quantization.mode = optimize->int8;
    quantization.outputs = output_names;
    RunSample sample;
    if (optimize->int8 == TableQuantizationMode::kAuto) {
      absl::Status read = ReadRunSample(inputs_path, requests_path, **scorer, &sample);
      if (!read.ok()) return ReportError("run", read);
      quantization.samples = sample.samples;
    }
    scorer->reset();  // its plan views the tables about to be replaced
    absl::StatusOr<GraphQuantizationReport> tables =
        QuantizeGraphTables(*graph, quantization, &*graph);
    if (!tables.ok()) {
      return ReportError("run",
                         absl::Status(tables.status().code(),
                                      absl::StrCat(model_path, ": --int8 ",
                                                   TableQuantizationModeName(optimize->int8), ": ",
                                                   tables.status().message())));
    }
    std::cerr << FormatGraphQuantizationReport(*tables);
    scorer = MakeScorer(*graph, scorer_config, output_names, model_path, limits, remote_tables);
    if (!scorer.ok()) return ReportError("run", scorer.status());
  }
  if (!requests_path.empty()) return RunFeatureRequests(**scorer, requests_path, limits, json);
  absl::StatusOr<std::string> text = ReadFileToString(inputs_path);
  if (!text.ok()) return ReportError("run", text.status());

  exit_code = kExitOk;
  std::vector<Tensor> outputs;
  for (const TensorJsonRequest& request : SplitTensorJsonRequests(inputs_path, *text)) {
    absl::StatusOr<TensorJsonDocument> doc = ParseTensorJson(request.text, request.where);
    absl::Status status = doc.status();
    if (status.ok()) {
      int64_t rows = 0;
      for (const NamedTensor& input : doc->inputs) {
        if (!input.tensor.dims().empty()) rows = std::max(rows, input.tensor.dims()[0]);
      }
      status = CheckCandidateCount(rows, limits, "the request");
    }
    if (status.ok()) status = (*scorer)->Run(FeedsOf(doc->inputs), &outputs);
    if (!status.ok()) {
      exit_code = kExitError;
      const absl::Status located =
          doc.ok()
              ? absl::Status(status.code(), absl::StrCat(request.where, ": ", status.message()))
              : status;
      if (json) {
        tools::RunReport report;
        report.set_line(request.line);
        report.set_error(std::string(located.message()));
        PrintJson(report);
      }
      ReportError("run", located);
      continue;
    }
    tools::RunReport report = ToReport(request.line, **scorer, *doc, outputs);
    if (!json) {
      PrintText(request.where, report, outputs, *doc);
    } else {
      PrintJson(report);
    }
  }
  return exit_code;
}

}  // namespace rankopt
