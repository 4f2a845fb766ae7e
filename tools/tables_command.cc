// rankopt tables publish PACKAGE --redis HOST:PORT[,...] [--tables all|NAMES] [-o REMOTE.rkp]
// rankopt tables drop --redis HOST:PORT[,...] (PACKAGE | --name NAME --model-version V)
// Embedding tables in a Redis Cluster (serving/remote/table_publish.h does the work).
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "serving/package/model_package.h"
#include "serving/remote/table_publish.h"
#include "tools/command_line.h"
#include "tools/commands.h"

namespace rankopt {
namespace {

const CommandSpec& Spec() {
  static const CommandSpec spec{
      "tables",
      "rankopt tables publish PACKAGE --redis HOST:PORT[,...] [--tables all|NAMES] "
      "[--batch-rows N] [-o REMOTE.rkp]\n"
      "       rankopt tables drop --redis HOST:PORT[,...] (PACKAGE | --name NAME "
      "--model-version V)",
      "Embedding tables served from a Redis Cluster.\n"
      "publish: loads the tables of PACKAGE (a package with its tables inside, from `rankopt\n"
      "optimize`) into the cluster under rankopt:<model>:<version>:<table>:<id>, in pipelined\n"
      "batches; resumes an interrupted publish where it stopped; reads every row back and\n"
      "checks the count and xxh64 before marking the table ready (serving refuses a table that\n"
      "is not). Publishing again is a no-op; a version that holds other content is an error.\n"
      "With -o, also writes the package with the published tables named instead of carried\n"
      "(what `rankopt optimize --tables-remote` writes).\n"
      "drop: removes every key of a model version (its ready markers first).",
      {
          {"redis", "", true, "HOST:PORT,...", "cluster nodes (any that answer; required)"},
          {"tables", "", true, "all|NAMES", "publish: which tables (default all that can move)"},
          {"batch-rows", "", true, "N", "publish: rows per pipelined batch (default 2000)"},
          {"output", "o", true, "REMOTE.rkp",
           "publish: write the package with the tables named remotely here"},
          {"name", "", true, "NAME", "drop: the model name (default: PACKAGE's)"},
          {"model-version", "", true, "V", "drop: the model version (default: PACKAGE's)"},
      }};
  return spec;
}

int Publish(const CommandLine& line) {
  if (line.positional().size() != 2 || !line.Has("redis")) {
    return UsageError(Spec(), "publish needs PACKAGE and --redis HOST:PORT");
  }
  PublishPackageOptions o;
  o.package_path = line.positional()[1];
  o.redis = line.Get("redis");
  o.remote_package_path = line.Get("output");
  o.publish.tables = line.GetList("tables");
  if (o.publish.tables.size() == 1 && o.publish.tables[0] == "all") o.publish.tables.clear();
  if (line.Has("batch-rows") && (!absl::SimpleAtoi(line.Get("batch-rows"), &o.publish.batch_rows) ||
                                 o.publish.batch_rows < 1 || o.publish.batch_rows > 1000000)) {
    return UsageError(Spec(), "--batch-rows must be an integer in [1, 1000000]");
  }
  o.publish.progress = [](const std::string& progress) { std::cerr << progress << "\n"; };
  absl::StatusOr<PublishReport> report = PublishPackage(o);
  if (!report.ok()) return ReportError("tables", report.status());
  for (const PublishedTable& t : report->tables) {
    std::cout << t.desc.table << ": " << t.desc.rows << " rows x " << t.desc.row_bytes
              << " bytes (dtype rows dim xxh64: " << t.desc.ReadyMarker() << ") under "
              << t.desc.key_prefix << "*: "
              << (t.already_published
                      ? std::string("already published")
                      : absl::StrCat("written ", t.rows_written, ", resumed after ",
                                     t.rows_resumed, ", verified"))
              << "\n";
  }
  for (const std::string& why : report->skipped) std::cout << "not published: " << why << "\n";
  if (!o.remote_package_path.empty()) {
    std::cout << "wrote " << o.remote_package_path << " (" << report->remotable.size()
              << " remote tables)\n";
  }
  return kExitOk;
}

int Drop(const CommandLine& line) {
  if (!line.Has("redis") || line.positional().size() > 2) {
    return UsageError(Spec(), "drop needs --redis and PACKAGE or --name and --model-version");
  }
  std::string name = line.Get("name");
  std::string version = line.Get("model-version");
  if (line.positional().size() == 2) {
    absl::StatusOr<ModelPackage> package = ReadModelPackage(line.positional()[1]);
    if (!package.ok()) return ReportError("tables", package.status());
    if (name.empty()) name = package->model_name;
    if (version.empty()) version = package->model_version;
  }
  if (name.empty() || version.empty()) {
    return UsageError(Spec(), "drop needs the model name and version (PACKAGE, or --name and "
                              "--model-version)");
  }
  absl::StatusOr<int64_t> dropped = DropPublishedVersion(line.Get("redis"), name, version);
  if (!dropped.ok()) return ReportError("tables", dropped.status());
  std::cout << "dropped " << *dropped << " keys of " << name << " version " << version << "\n";
  return kExitOk;
}

}  // namespace

int RunTables(const std::vector<std::string>& args) {
  CommandLine line;
  int exit_code;
  if (!OpenCommand(Spec(), args, &line, &exit_code)) return exit_code;
  if (line.positional().empty()) return UsageError(Spec(), "publish or drop?");
  if (line.positional()[0] == "publish") return Publish(line);
  if (line.positional()[0] == "drop") return Drop(line);
  return UsageError(Spec(), absl::StrCat("unknown action '", line.positional()[0],
                                         "'; expected publish or drop"));
}

}  // namespace rankopt
