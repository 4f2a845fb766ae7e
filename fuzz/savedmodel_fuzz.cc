// Fuzzes SavedModel import: the bytes as saved_model.pb in a directory whose variables/ is a
// fixture's, next to the TF1 half_plus_two variables (name-based restore) or the TF2 ones
// (object-graph checkpoint keys, function inlining), chosen by the last byte's low bit so one
// input is one import (both per input halved the executions per second, and any input reaches
// the other fixture by one bit flip); then what a user does next with a graph that imported
// (fuzz/graph_follow_up.h). ImportSavedModel reads a directory, so the bytes go through a file
// in a temporary directory (in /dev/shm when there is one).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fuzz/graph_follow_up.h"
#include "graph/tf/saved_model_io.h"

namespace {

namespace fs = std::filesystem;

// The model directories, made once; removed at exit.
const std::vector<std::string>& ModelDirs() {
  static const std::vector<std::string>* dirs = [] {
    const fs::path parent =
        fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    static std::string root =
        (parent / ("rankopt_savedmodel_fuzz." + std::to_string(getpid()))).string();
    auto* out = new std::vector<std::string>;
    for (const char* fixture :
         {"saved_model_half_plus_two_cpu", "saved_model_half_plus_two_tf2_cpu"}) {
      const fs::path dir = fs::path(root) / fixture;
      fs::create_directories(dir);
      fs::create_directory_symlink(
          fs::path(RANKOPT_TESTDATA_DIR) / "savedmodel" / fixture / "00000123" / "variables",
          dir / "variables");
      out->push_back(dir.string());
    }
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(root, ec);
    });
    return out;
  }();
  return *dirs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& dir = ModelDirs()[size > 0 ? data[size - 1] & 1 : 0];
  {
    std::ofstream out(dir + "/saved_model.pb", std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) {  // the temporary directory itself failed: stop, this is no finding
      std::fprintf(stderr, "savedmodel_fuzz: cannot write %s/saved_model.pb\n", dir.c_str());
      std::exit(2);
    }
  }
  absl::StatusOr<rankopt::Graph> graph = rankopt::ImportSavedModel(dir);
  if (graph.ok()) rankopt::FuzzGraphFollowUp(*graph);
  return 0;
}
