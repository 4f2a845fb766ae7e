// Fuzzes the serving API end to end: JSON -> RequestJsonParser -> Model::Score on a model package
// (the DIN package scripts/fuzz.sh makes with `rankopt optimize`: O2, int8 tables), with the
// user-side result cache on and 2 threads per request, so the split graph, the cache and the
// chunked runner all see the fuzzed requests. The package path comes from RANKOPT_FUZZ_PACKAGE.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "rankopt/model.h"
#include "rankopt/request_json.h"

namespace {

const rankopt::Model& Fixture() {
  static const std::shared_ptr<const rankopt::Model> model = [] {
    const char* path = std::getenv("RANKOPT_FUZZ_PACKAGE");
    if (path == nullptr) {
      std::fprintf(stderr, "score_fuzz: set RANKOPT_FUZZ_PACKAGE to a .rkp (scripts/fuzz.sh does)\n");
      std::exit(2);
    }
    rankopt::ModelOptions options;
    options.threads = 2;
    options.max_candidates = 512;
    options.max_sequence_length = 1024;
    options.max_request_bytes = 64 << 20;
    options.user_cache.capacity_bytes = 1 << 20;
    absl::StatusOr<std::shared_ptr<const rankopt::Model>> loaded =
        rankopt::Model::Load(path, options);
    if (!loaded.ok()) {  // a broken fixture, not a finding
      std::fprintf(stderr, "score_fuzz: %s\n", loaded.status().ToString().c_str());
      std::exit(2);
    }
    return *std::move(loaded);
  }();
  return *model;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const rankopt::Model& model = Fixture();
  static rankopt::RequestJsonParser parser;
  static rankopt::Request request;
  static rankopt::Scores scores;
  if (!parser.Parse(absl::string_view(reinterpret_cast<const char*>(data), size), &request).ok()) {
    return 0;
  }
  model.ScoreInto(request, {}, &scores).IgnoreError();
  return 0;
}
