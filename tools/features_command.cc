// rankopt features --config CONFIG --requests REQUESTS.jsonl [--json]
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/proto_json.h"
#include "features/config/feature_config.h"
#include "features/pipeline/feature_transformer.h"
#include "google/protobuf/util/json_util.h"
#include "rankopt/request_json.h"
#include "tools/command_line.h"
#include "tools/commands.h"
#include "tools/features_report.pb.h"

namespace rankopt {
namespace {

const CommandSpec& Spec() {
  static const CommandSpec spec = {
      "features",
      "rankopt features --config CONFIG --requests REQUESTS [--json]",
      "Shows what the model will see for each request: per graph input the ids or\n"
      "values after hashing, vocabularies, bucketizing, normalizing and padding (user\n"
      "and context inputs once, item inputs per candidate), the defaults applied and\n"
      "the sequences truncated. A bad line is reported with its line number and the\n"
      "others still print; the exit code is then 1.",
      {
          {"config", "", true, "CONFIG", "the model's YAML feature config (configs/din.yaml)"},
          {"requests", "", true, "REQUESTS",
           "JSON lines, one request per line: {\"user\": {...}, \"context\": {...}, "
           "\"candidates\": [{...}]}"},
          {"json", "", false, "", "one JSON object per request line instead of the table"},
      }};
  return spec;
}


// Shortest text that reads back as the same float.
std::string FloatText(float v) {
  char buf[32];
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

// Row `r` of a column: "472", "[738 122 ...]" for rows wider than one element.
std::string RowText(const FeatureColumn& column, int64_t r) {
  const int64_t width = column.width();
  std::string text;
  for (int64_t k = 0; k < width; ++k) {
    if (k > 0) text += ' ';
    const size_t i = static_cast<size_t>(r * width + k);
    if (column.dtype == DType::kInt64) {
      absl::StrAppend(&text, column.ids[i]);
    } else {
      text += FloatText(column.values[i]);
    }
  }
  return width > 1 || column.dims.size() > 1 ? absl::StrCat("[", text, "]") : text;
}

std::string Shape(const std::vector<int64_t>& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

std::string Pad(absl::string_view s, size_t width) {
  std::string out(s);
  if (out.size() < width) out.append(width - out.size(), ' ');
  return out;
}

void PrintTable(const RequestLine& line, const TransformedRequest& out) {
  std::cout << "request at line " << line.line << ": " << out.num_candidates << " candidate"
            << (out.num_candidates == 1 ? "" : "s") << "\n";
  size_t name_width = 5, table_width = 5;
  for (const FeatureColumn& column : out.columns) {
    name_width = std::max(name_width, column.input.size());
    table_width = std::max(table_width, column.table.size());
  }
  std::cout << "  " << Pad("input", name_width) << "  side     dtype    shape     "
            << Pad("table", table_width) << "  value (request-level inputs)\n";
  for (const FeatureColumn& column : out.columns) {
    std::cout << "  " << Pad(column.input, name_width) << "  "
              << Pad(FeatureSideName(column.side), 7) << "  " << Pad(DTypeName(column.dtype), 7)
              << "  " << Pad(Shape(column.dims), 8) << "  "
              << Pad(column.table.empty() ? "-" : column.table, table_width) << "  "
              << (column.side == FeatureSide::kItem ? "per candidate, below" : RowText(column, 0))
              << "\n";
  }
  for (int64_t c = 0; c < out.num_candidates; ++c) {
    std::cout << "  candidate " << c << ":";
    for (const FeatureColumn& column : out.columns) {
      if (column.side != FeatureSide::kItem) continue;
      std::cout << "  " << column.input << "=" << RowText(column, c);
    }
    std::cout << "\n";
  }
  std::vector<std::string> defaults, truncated, out_of_range;
  for (const FeatureStats& s : out.stats) {
    if (s.defaults_applied > 0)
      defaults.push_back(absl::StrCat(s.feature, " ", s.defaults_applied));
    if (s.truncated > 0) truncated.push_back(absl::StrCat(s.feature, " ", s.truncated));
    if (s.out_of_range > 0) out_of_range.push_back(absl::StrCat(s.feature, " ", s.out_of_range));
  }
  auto list = [](const std::vector<std::string>& v) {
    return v.empty() ? std::string("none") : absl::StrJoin(v, ", ");
  };
  std::cout << "  defaults applied: " << list(defaults) << "\n"
            << "  truncated: " << list(truncated) << "\n"
            << "  out of range (default used): " << list(out_of_range) << "\n";
  for (const FeatureColumn& column : out.columns) {
    if (!column.note.empty())
      std::cout << "  note: " << column.input << ": " << column.note << "\n";
  }
  std::cout << "\n";
}

tools::FeaturesReport ToReport(int line, const TransformedRequest& out) {
  tools::FeaturesReport report;
  report.set_line(line);
  report.set_num_candidates(static_cast<int32_t>(out.num_candidates));
  for (const FeatureColumn& column : out.columns) {
    tools::FeatureColumnReport* c = report.add_columns();
    c->set_input(column.input);
    c->set_side(std::string(FeatureSideName(column.side)));
    c->set_dtype(std::string(DTypeName(column.dtype)));
    for (int64_t d : column.dims) c->add_dims(static_cast<int32_t>(d));
    if (column.dtype == DType::kInt64) {
      c->mutable_ids()->Add(column.ids.begin(), column.ids.end());
    } else {
      c->mutable_values()->Add(column.values.begin(), column.values.end());
    }
    c->set_table(column.table);
    for (const std::string& f : column.features) c->add_features(f);
    c->set_note(column.note);
  }
  for (const FeatureStats& s : out.stats) {
    if (s.defaults_applied == 0 && s.truncated == 0 && s.out_of_range == 0) continue;
    tools::FeatureStatsReport* r = report.add_stats();
    r->set_feature(s.feature);
    r->set_defaults_applied(s.defaults_applied);
    r->set_truncated(s.truncated);
    r->set_out_of_range(s.out_of_range);
  }
  return report;
}

void PrintJson(const tools::FeaturesReport& report) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::cout << ProtoToJson(report, options) << "\n";
}

}  // namespace

int RunFeatures(const std::vector<std::string>& args) {
  CommandLine line;
  int exit_code;
  if (!OpenCommand(Spec(), args, &line, &exit_code)) return exit_code;
  const std::string config_path = line.Get("config");
  const std::string requests_path = line.Get("requests");
  if (config_path.empty() || requests_path.empty() || !line.positional().empty()) {
    return UsageError(Spec(), "--config and --requests are required");
  }
  const bool json = line.Has("json");

  absl::StatusOr<FeatureConfig> config = LoadFeatureConfig(config_path);
  if (!config.ok()) return ReportError("features", config.status());
  absl::StatusOr<FeatureTransformer> transformer = FeatureTransformer::Create(*std::move(config));
  if (!transformer.ok()) return ReportError("features", transformer.status());

  // A FIFO would block the open forever and a device (/dev/zero) never ends.
  std::error_code ec;
  if (std::filesystem::exists(requests_path, ec) &&
      !std::filesystem::is_regular_file(requests_path, ec)) {
    return ReportError("features", absl::InvalidArgumentError(absl::StrCat(
                                       requests_path,
                                       ": is not a regular file (a directory, FIFO, socket or "
                                       "device); expected a requests file, one JSON per line")));
  }
  std::ifstream in(requests_path, std::ios::binary);
  if (!in) {
    return ReportError("features", absl::NotFoundError(absl::StrCat(
                                       requests_path, ": cannot open the requests file")));
  }
  // Line by line, so one bad request does not hide the others.
  RequestJsonParser parser;
  RequestLine request;
  TransformedRequest out;
  exit_code = kExitOk;
  std::string text;
  for (int number = 1; std::getline(in, text); ++number) {
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    request.line = number;
    absl::Status status = parser.Parse(text, &request.request);
    if (status.ok()) status = transformer->Transform(request.request, &out);
    if (!status.ok()) {
      exit_code = kExitError;
      const absl::Status located(status.code(),
                                 absl::StrCat(requests_path, ":", number, ": ", status.message()));
      if (json) {
        tools::FeaturesReport report;
        report.set_line(number);
        report.set_error(std::string(located.message()));
        PrintJson(report);
      }
      ReportError("features", located);
      continue;
    }
    if (!json) {
      PrintTable(request, out);
    } else {
      PrintJson(ToReport(number, out));
    }
  }
  if (in.bad()) {
    return ReportError("features",
                       absl::DataLossError(absl::StrCat(requests_path, ": read failed")));
  }
  return exit_code;
}

}  // namespace rankopt
