// rankopt lift MODEL -o OUT_DIR [--signature KEY] [--tags TAGS]
#include <iostream>

#include "absl/strings/str_cat.h"
#include "graph/io/model_io.h"
#include "serving/lift/tf_lift.h"
#include "tools/command_line.h"
#include "tools/commands.h"

namespace rankopt {
namespace {

const CommandSpec& Spec() {
  static const CommandSpec spec = {
      "lift",
      "rankopt lift MODEL -o OUT_DIR [--signature KEY] [--tags TAGS]",
      "Moves a TensorFlow model's feature transforms (ParseExample outputs or raw inputs through\n"
      "hashing, vocabulary tables, bucketizing, normalizing) into a feature config and cuts the\n"
      "graph where they end, so the graph takes ids and floats. Writes OUT_DIR/features.yaml,\n"
      "one OUT_DIR/<feature>.vocab per vocabulary and the cut model (OUT_DIR/model for a\n"
      "SavedModel). Prints what was lifted and, for what stays in the graph, why.",
      {
          {"output", "o", true, "OUT_DIR", "where to write features.yaml, vocabularies, model"},
          {"signature", "", true, "KEY",
           "the signature whose inputs are the raw features (default: serving_default, else "
           "the first)"},
          {"tags", "", true, "TAGS",
           "a SavedModel's tag set, comma-separated, like saved_model_cli's --tag_set (default: "
           "serve); e.g. --tags transform for a tf.Transform transform_fn"},
      }};
  return spec;
}

}  // namespace

int RunLift(const std::vector<std::string>& args) {
  CommandLine line;
  int exit_code;
  if (!OpenCommand(Spec(), args, &line, &exit_code)) return exit_code;
  const std::string out_dir = line.Get("output");
  if (line.positional().size() != 1 || out_dir.empty()) {
    return UsageError(Spec(), "MODEL and -o OUT_DIR are required");
  }
  const std::string& in_path = line.positional()[0];
  LoadModelOptions load;
  load.saved_model_tags = line.Get("tags");
  absl::StatusOr<Graph> graph = LoadModel(in_path, load);
  if (!graph.ok()) return ReportError("lift", graph.status());
  LiftOptions options;
  options.signature = line.Get("signature");
  absl::StatusOr<LiftResult> lift = LiftFeatureTransforms(*graph, options);
  if (!lift.ok()) {
    return ReportError("lift", absl::Status(lift.status().code(),
                                            absl::StrCat(in_path, ": ", lift.status().message())));
  }
  std::cout << LiftReportText(*lift);
  if (lift->lifted.empty()) {
    return ReportError("lift", absl::FailedPreconditionError(absl::StrCat(
                                   in_path, ": nothing was lifted (the reasons are above); ",
                                   out_dir, " was not written")));
  }
  if (absl::Status written = WriteLift(*lift, out_dir); !written.ok()) {
    return ReportError("lift", written);
  }
  std::cout << "wrote " << out_dir << "/features.yaml and the cut model\n";
  return kExitOk;
}

}  // namespace rankopt
