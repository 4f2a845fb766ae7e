// A small ranking service loop on rankopt's public API: load a model package, then score the
// requests of a JSON-lines file from 4 threads (as a service's request threads would), each
// thread keeping its own Scores so that warm calls do not allocate. Prints each request's first
// scores, checks that every thread got bitwise the same scores, and prints latency and the
// model's Prometheus stats.
//
//   ranking_service MODEL.rkp REQUESTS.jsonl [THREADS=4] [ROUNDS=50]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "rankopt/model.h"
#include "rankopt/request_json.h"

namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "ranking_service: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: ranking_service MODEL.rkp REQUESTS.jsonl [THREADS=4] [ROUNDS=50]\n");
    return 2;
  }
  const int threads = argc > 3 ? std::atoi(argv[3]) : 4;
  const int rounds = argc > 4 ? std::atoi(argv[4]) : 50;
  if (threads < 1 || rounds < 1) {
    std::fprintf(stderr, "ranking_service: THREADS and ROUNDS must be >= 1\n");
    return 2;
  }

  absl::StatusOr<std::shared_ptr<const rankopt::Model>> model = rankopt::Model::Load(argv[1]);
  if (!model.ok()) return Fail(model.status());
  absl::StatusOr<std::vector<rankopt::RequestLine>> lines =
      rankopt::ReadRequestJsonLines(argv[2]);
  if (!lines.ok()) return Fail(lines.status());
  std::printf("model %s version %s: %zu head(s), %zu request(s), %d threads x %d rounds\n",
              (*model)->name().c_str(), (*model)->version().c_str(), (*model)->heads().size(),
              lines->size(), threads, rounds);

  // Thread t's scores of request r (last round), and every call's latency.
  std::vector<std::vector<rankopt::Scores>> results(threads,
                                                    std::vector<rankopt::Scores>(lines->size()));
  std::vector<std::vector<double>> latencies(threads);
  std::vector<absl::Status> errors(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      latencies[t].reserve(static_cast<size_t>(rounds) * lines->size());
      for (int round = 0; round < rounds && errors[t].ok(); ++round) {
        for (size_t r = 0; r < lines->size(); ++r) {
          const auto start = std::chrono::steady_clock::now();
          absl::Status status = (*model)->ScoreInto((*lines)[r].request, {}, &results[t][r]);
          latencies[t].push_back(
              std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                  .count());
          if (!status.ok()) {
            errors[t] = status;
            break;
          }
        }
      }
    });
  }
  for (std::thread& w : workers) w.join();
  for (const absl::Status& e : errors) {
    if (!e.ok()) return Fail(e);
  }

  for (size_t r = 0; r < lines->size(); ++r) {
    const rankopt::Scores& s = results[0][r];
    std::printf("request line %d: %zu candidates;", (*lines)[r].line,
                (*lines)[r].request.candidates.size());
    for (size_t h = 0; h < s.heads.size(); ++h) {
      std::printf(" %s:", s.heads[h].c_str());
      for (size_t i = 0; i < std::min<size_t>(4, s.values[h].size()); ++i) {
        std::printf(" %.6f", s.values[h][i]);
      }
      if (s.values[h].size() > 4) std::printf(" ...");
    }
    std::printf("\n");
    for (int t = 1; t < threads; ++t) {
      if (results[t][r].values != s.values) {
        std::fprintf(stderr, "ranking_service: thread %d scored request %zu differently\n", t, r);
        return 1;
      }
    }
  }
  std::vector<double> all;
  for (const std::vector<double>& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  std::printf("%zu calls, every thread bitwise equal; latency p50 %.1f us, p99 %.1f us\n",
              all.size(), all[all.size() / 2], all[all.size() * 99 / 100]);
  std::printf("%s", (*model)->stats().PrometheusText("model=\"example\"").c_str());
  return 0;
}
