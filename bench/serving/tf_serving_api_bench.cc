// What TF Serving's REST bodies cost against rankopt's own request JSON (serving/http/
// tf_serving_api.h): one request of REQUESTS.jsonl, its candidates tiled to --candidates, written
// as rankopt's JSON, as TF Serving's row format ("instances": user features repeated in every
// instance) and as its columnar format ("inputs": user features once), then parsed into a Request
// and scored by Model::ScoreInto.
//
//   tf_serving_api_bench PACKAGE REQUESTS.jsonl [--candidates 200] [--rounds 7] [--calls 200]
//
// Side by side in one run, alternating per round: the median per-call time of each parse and of
// the score, the ratios TF / native, and each parse's share of parse + score.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rankopt/model.h"
#include "rankopt/request_json.h"
#include "serving/http/tf_serving_api.h"

namespace {

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// "name": value members of `row`, through the native writer (one row as a request's "user").
std::string Members(const rankopt::FeatureRow& row) {
  rankopt::Request one;
  one.user = row;
  absl::StatusOr<std::string> json = rankopt::RequestToJson(one);
  if (!json.ok()) return "";
  // {"user":{...},"context":...}: the members between the first '{' of "user" and its '}'.
  const size_t open = json->find('{', 1);
  const size_t close = json->find("},\"context\"");
  if (open == std::string::npos || close == std::string::npos) return "";
  return json->substr(open + 1, close - open - 1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: tf_serving_api_bench PACKAGE REQUESTS.jsonl [--candidates 200] "
                 "[--rounds 7] [--calls 200]\n");
    return 2;
  }
  int candidates = 200, rounds = 7, calls = 200;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    int* target = flag == "--candidates" ? &candidates
                  : flag == "--rounds"   ? &rounds
                  : flag == "--calls"    ? &calls
                                         : nullptr;
    if (target == nullptr || !absl::SimpleAtoi(argv[i + 1], target) || *target < 1) {
      std::fprintf(stderr, "bad flag %s %s\n", argv[i], argv[i + 1]);
      return 2;
    }
  }
#ifdef RANKOPT_UNOPTIMIZED_BUILD
  std::printf("WARNING: built without optimization; the numbers below mean little\n");
#endif
  absl::StatusOr<std::shared_ptr<const rankopt::Model>> model = rankopt::Model::Load(argv[1]);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  absl::StatusOr<std::vector<rankopt::RequestLine>> lines = rankopt::ReadRequestJsonLines(argv[2]);
  if (!lines.ok() || lines->empty()) {
    std::fprintf(stderr, "%s: no requests\n", argv[2]);
    return 1;
  }
  rankopt::Request request = lines->front().request;
  const std::vector<rankopt::FeatureRow> rows = request.candidates;
  request.candidates.clear();
  for (int i = 0; i < candidates; ++i) request.candidates.push_back(rows[i % rows.size()]);

  absl::StatusOr<std::string> native = rankopt::RequestToJson(request);
  if (!native.ok()) return 1;
  std::string shared = Members(request.user);
  const std::string context = Members(request.context);
  if (!context.empty()) shared = shared.empty() ? context : absl::StrCat(shared, ",", context);
  std::vector<std::string> instances;
  for (const rankopt::FeatureRow& c : request.candidates) {
    instances.push_back(absl::StrCat("{", shared, shared.empty() ? "" : ",", Members(c), "}"));
  }
  const std::string row = absl::StrCat("{\"instances\":[", absl::StrJoin(instances, ","), "]}");
  std::vector<std::string> columns;
  if (!shared.empty()) columns.push_back(shared);
  for (const auto& [name, unused] : request.candidates[0].entries()) {
    std::vector<std::string> values;
    for (const rankopt::FeatureRow& c : request.candidates) {
      rankopt::FeatureRow one;
      one.Append(name, *c.Find(name));
      const std::string m = Members(one);
      values.push_back(m.substr(m.find(':') + 1));
    }
    columns.push_back(absl::StrCat("\"", name, "\":[", absl::StrJoin(values, ","), "]"));
  }
  const std::string columnar = absl::StrCat("{\"inputs\":{", absl::StrJoin(columns, ","), "}}");

  rankopt::RequestJsonParser parser;
  rankopt::TfServingRequest tf;
  rankopt::Request parsed;
  rankopt::Scores scores;
  const char* names[4] = {"native JSON parse", "TF row parse", "TF columnar parse", "score"};
  std::vector<double> us[4];
  for (int r = 0; r < rounds; ++r) {
    for (int k = 0; k < 4; ++k) {
      const Clock::time_point start = Clock::now();
      for (int c = 0; c < calls; ++c) {
        absl::Status s;
        switch (k) {
          case 0:
            s = parser.Parse(*native, &parsed);
            break;
          case 1:
            s = rankopt::ParseTfPredictRequest(row, **model, &tf);
            break;
          case 2:
            s = rankopt::ParseTfPredictRequest(columnar, **model, &tf);
            break;
          default:
            s = (*model)->ScoreInto(request, {}, &scores);
        }
        if (!s.ok()) {
          std::fprintf(stderr, "%s: %s\n", names[k], std::string(s.message()).c_str());
          return 1;
        }
      }
      us[k].push_back(std::chrono::duration<double>(Clock::now() - start).count() * 1e6 / calls);
    }
  }
  std::printf("%s: 1 user x %d candidates; bodies: native %zu B, TF row %zu B, TF columnar %zu B\n",
              (*model)->name().c_str(), candidates, native->size(), row.size(), columnar.size());
  std::printf("medians of %d rounds x %d calls (us per request):\n", rounds, calls);
  const double score = Median(us[3]);
  for (int k = 0; k < 4; ++k) {
    const double m = Median(us[k]);
    std::printf("  %-18s %9.1f", names[k], m);
    if (k < 3) {
      std::printf("   x%.2f of native parse   %4.1f%% of parse + score", m / Median(us[0]),
                  100 * m / (m + score));
    }
    std::printf("\n");
  }
  return 0;
}
