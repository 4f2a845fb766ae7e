// What keeping served packages immutable costs (issue 20): a package copied into private memory
// at load (the default below ModelOptions::copy_package_below_bytes) against the same package
// mapped (copy_package_below_bytes = 0), whose every Score also checks its file (one fstat).
//
//   package_guard_bench PACKAGE [--rounds 7] [--calls 300]
//
// Side by side in one run, alternating: load time (checksums verified) of each mode, then rounds
// of --calls Model::ScoreInto calls over the package's warm-up requests on each model. Reported:
// medians over the rounds, and the ratio mapped / copied.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "rankopt/model.h"
#include "rankopt/request_json.h"

namespace {

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: package_guard_bench PACKAGE [--rounds 7] [--calls 300]\n");
    return 2;
  }
  const std::string path = argv[1];
  int rounds = 7, calls = 300;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    int* target = flag == "--rounds" ? &rounds : flag == "--calls" ? &calls : nullptr;
    if (target == nullptr || !absl::SimpleAtoi(argv[i + 1], target) || *target < 1) {
      std::fprintf(stderr, "bad flag %s %s\n", argv[i], argv[i + 1]);
      return 2;
    }
  }
#ifdef RANKOPT_UNOPTIMIZED_BUILD
  std::printf("WARNING: built without optimization; the numbers below mean little\n");
#endif
  rankopt::ModelOptions options[2];
  options[1].copy_package_below_bytes = 0;  // mapped
  const char* names[2] = {"copied", "mapped"};
  std::vector<double> load_ms[2], call_us[2];
  std::shared_ptr<const rankopt::Model> models[2];
  for (int r = 0; r < rounds; ++r) {
    for (int m = 0; m < 2; ++m) {
      const Clock::time_point start = Clock::now();
      absl::StatusOr<std::shared_ptr<const rankopt::Model>> model =
          rankopt::Model::Load(path, options[m]);
      if (!model.ok()) {
        std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
        return 1;
      }
      load_ms[m].push_back(Seconds(start) * 1e3);
      models[m] = *std::move(model);
    }
  }
  std::vector<rankopt::Request> requests;
  rankopt::RequestJsonParser parser;
  for (const std::string& json : models[0]->warmup_requests()) {
    rankopt::Request request;
    if (parser.Parse(json, &request).ok()) requests.push_back(std::move(request));
  }
  if (requests.empty()) {
    std::fprintf(stderr, "%s: the package has no warm-up requests to score\n", path.c_str());
    return 1;
  }
  rankopt::Scores scores;
  for (int r = 0; r < rounds; ++r) {
    for (int m = 0; m < 2; ++m) {
      const Clock::time_point start = Clock::now();
      for (int c = 0; c < calls; ++c) {
        const absl::Status s = models[m]->ScoreInto(requests[c % requests.size()], {}, &scores);
        if (!s.ok()) {
          std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
          return 1;
        }
      }
      call_us[m].push_back(Seconds(start) * 1e6 / calls);
    }
  }
  std::printf("%s: %zu warm-up requests, %d rounds of %d calls, medians\n", path.c_str(),
              requests.size(), rounds, calls);
  std::printf("%-8s %12s %14s\n", "mode", "load ms", "Score us/call");
  for (int m = 0; m < 2; ++m) {
    std::printf("%-8s %12.3f %14.2f\n", names[m], Median(load_ms[m]), Median(call_us[m]));
  }
  std::printf("mapped / copied: load %.2fx, Score %.3fx\n", Median(load_ms[1]) / Median(load_ms[0]),
              Median(call_us[1]) / Median(call_us[0]));
  return 0;
}
