// `rankopt optimize`'s report as text: the human table and the JSON, so that every front end
// (the command, a Python module) prints the same.
#include "core/proto_json.h"
#include "serving/optimize_report_text.h"

#include <cstdint>
#include <ostream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"
#include "serving/optimize.h"

namespace rankopt {
namespace {

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

void PrintStep(const serving::OptimizeStep& s, std::ostream& out) {
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
    for (const std::string& note : s.notes()) {
      if (absl::StartsWith(note, "near miss")) out << "    " << note << "\n";
    }
  } else if (s.name() != "int8") {
    for (const std::string& note : s.notes()) out << "    " << note << "\n";
  }
  if (!s.latency_note().empty()) out << "    latency " << s.latency_note() << "\n";
}

}  // namespace

namespace {

// The dense layers' precisions: one line per layer, then the gate on all of them together.
void PrintDensePrecision(const serving::DensePrecisionReport& p, std::ostream& out) {
  out << "\ndense layers (--precision " << p.mode() << "): " << p.reduced() << " of "
      << p.layers_size() << " below fp32; weights "
      << Arrow(Bytes(p.weight_bytes_fp32()), Bytes(p.weight_bytes_stored())) << "\n";
  if (p.layers_size() == 0) return;
  out << absl::StrFormat("  %-44s %9s %5s %-16s %9s %9s %9s %9s  %s\n", "layer", "K x N", "prec",
                         "kernel", "max diff", "mean diff", "fp32 us", "us", "why");
  for (const serving::DenseLayer& l : p.layers()) {
    const std::string max_diff =
        l.has_alone_max_abs_diff() ? absl::StrFormat("%.2e", l.alone_max_abs_diff()) : "-";
    const std::string mean_diff =
        l.has_alone_mean_abs_diff() ? absl::StrFormat("%.2e", l.alone_mean_abs_diff()) : "-";
    out << absl::StrFormat(
        "  %-44s %9s %5s %-16s %9s %9s %9.1f %9.1f  %s\n",
        DenseLayerLabel(l.node(), l.has_attention_layer() ? l.attention_layer() : -1),
        absl::StrCat(l.k(), "x", l.n()), l.precision(), l.kernel(), max_diff, mean_diff,
        l.time_us_fp32(), l.time_us(), l.reason());
  }
  if (p.has_gate_max_abs_diff()) {
    out << "  gate (" << p.outputs() << "; " << p.samples() << " requests, " << p.predictions()
        << " predictions; budgets: max abs diff " << p.gate_max_abs_diff_budget()
        << ", AUC delta " << p.gate_auc_delta_budget() << "): " << p.gate_result() << "\n"
        << "  labels: " << p.labels() << "\n";
  }
}

}  // namespace

std::string FormatOptimizeReport(const serving::OptimizeReport& r, const std::string& int8_text) {
  std::ostringstream out;
  const serving::OptimizeContext& c = r.context();
  out << "rankopt optimize: " << r.model() << " -> " << r.package() << "\n";
  for (const std::string& w : c.warnings()) out << "WARNING: " << w << "\n";
  out << "  rankopt " << c.rankopt_version() << ", " << c.compiler() << ", " << c.build_type()
      << " build; " << c.date() << "\n"
      << "  CPU: " << c.cpu_model() << ", " << c.logical_cores() << " logical cores\n"
      << "  kernels: " << c.isa() << " (AMX " << c.amx() << "); latency: " << c.threads()
      << (c.threads() == 1 ? " thread" : " threads") << ", median of >= " << kOptimizeMinTimedRuns
      << " runs and >= " << r.timing_min_s()
      << " s per graph, each timed alternating with the graph before it\n";
  out << "model:     " << r.model() << " (" << r.model_format() << ")\n"
      << "features:  " << r.feature_config() << "; request-level: "
      << (r.request_level_source().empty() ? "none" : r.request_level_source()) << "\n"
      << "sample:    " << r.sample() << " (" << r.sample_requests()
      << (r.sample_requests() == 1 ? " request" : " requests") << ")\n"
      << "timed:     " << r.timing_request() << "\n"
      << "level:     " << r.opt_level() << ", int8 " << r.int8_mode() << "\n\n";
  out << absl::StrFormat("%-28s %-15s %-13s %-19s %-22s %-24s %s\n", "step", "status", "nodes",
                         "params", "constant bytes",
                         absl::StrCat("latency (", r.timing_candidates(), " cand.)"), "speedup");
  for (const serving::OptimizeStep& s : r.passes()) PrintStep(s, out);
  PrintStep(r.int8().step(), out);
  if (r.has_precision()) PrintStep(r.precision().step(), out);
  if (!int8_text.empty()) {
    out << "\nint8 tables (" << r.int8().mode() << "):\n" << int8_text;
  }
  if (r.int8().mode() != "off") out << "labels: " << r.int8().labels() << "\n";
  if (r.has_precision()) PrintDensePrecision(r.precision(), out);
  const serving::OptimizeOverall& o = r.overall();
  out << "\noverall: as imported (O0, fp32) -> " << r.opt_level() << " + int8 " << r.int8_mode()
      << (r.has_precision() ? absl::StrCat(" + precision ", r.precision().mode()) : "")
      << ", " << r.timing_candidates() << " candidates, " << c.threads()
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
  out << "\nwrote " << r.package() << ": " << r.package_name() << " v" << r.package_version()
      << "; outputs " << absl::StrJoin(r.outputs(), ", ") << "; request-level inputs "
      << (r.request_level_inputs().empty() ? "none" : absl::StrJoin(r.request_level_inputs(), ", "))
      << "; " << r.warmup_requests()
      << (r.warmup_requests() == 1 ? " warm-up request\n" : " warm-up requests\n");
  return out.str();
}

std::string OptimizeReportToJson(const serving::OptimizeReport& report, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.add_whitespace = pretty;
  return ProtoToJson(report, options);
}

}  // namespace rankopt
