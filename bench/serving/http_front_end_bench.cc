// The HTTP front end under a keep-alive client pool, alone and beside slowloris connections,
// side by side with a thread-per-connection server (cpp-httplib's Server with the same worker
// count: the front end rankopt serve had before issue 20), both scoring through Model::ScoreInto:
//
//   http_front_end_bench PACKAGE REQUESTS.jsonl [--seconds 5] [--pool 8] [--slowloris 200]
//                        [--workers 2] [--repeats 3]
//
// e.g. rankopt optimize tests/data/peers/din.onnx --features configs/din.yaml -o /tmp/din.rkp;
//      http_front_end_bench /tmp/din.rkp tests/data/features/requests_din.jsonl
//
// Each cell: --pool client threads, one keep-alive connection each, POST the first request of
// REQUESTS.jsonl back to back for --seconds (a reply not read within 1 s counts as a stall and the
// client reconnects); with slowloris, --slowloris more connections send a request line and then a
// header byte every 100 ms. Reported per cell, the median over --repeats runs: answers/s, the
// least and most answers of one pool connection (fairness), p50/p99 latency of the answers, and
// stalls; then the ratio of rankopt's answers/s to the peer's.
#include <httplib.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "rankopt/model.h"
#include "rankopt/request_json.h"
#include "serving/http/http_server.h"
#include "tests/serving/http/raw_http_client.h"

namespace rankopt {
namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string package;
  std::string requests;
  double seconds = 5;
  int pool = 8;
  int slowloris = 200;
  int workers = 2;
  int repeats = 3;
};

struct Cell {
  double answers_per_s = 0;
  int64_t least = 0, most = 0;
  double p50_ms = 0, p99_ms = 0;
  int64_t stalls = 0;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// The thread-per-connection peer: cpp-httplib's Server, `workers` threads, the same predict.
class PeerServer {
 public:
  PeerServer(std::shared_ptr<const Model> model, int workers) : model_(std::move(model)) {
    http_.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
    http_.set_tcp_nodelay(true);
    http_.Post(R"(/v1/models/([^/:]+):predict)",
               [this](const httplib::Request& req, httplib::Response& res) {
                 thread_local RequestJsonParser parser;
                 thread_local Request request;
                 thread_local Scores scores;
                 absl::Status s = parser.Parse(req.body, &request);
                 if (s.ok()) s = model_->ScoreInto(request, ScoreOptions(), &scores);
                 if (!s.ok()) {
                   res.status = 400;
                   return;
                 }
                 std::string out = "{\"heads\": {";
                 for (size_t h = 0; h < scores.heads.size(); ++h) {
                   absl::StrAppend(&out, h > 0 ? ", \"" : "\"", scores.heads[h], "\": [");
                   for (size_t i = 0; i < scores.values[h].size(); ++i) {
                     absl::StrAppend(&out, i > 0 ? "," : "", scores.values[h][i]);
                   }
                   out.append("]");
                 }
                 out.append("}}\n");
                 res.set_content(out, "application/json");
               });
    port_ = http_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { http_.listen_after_bind(); });
  }
  ~PeerServer() {
    while (!http_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    http_.stop();
    thread_.join();
  }
  int port() const { return port_; }

 private:
  std::shared_ptr<const Model> model_;
  httplib::Server http_;
  int port_ = 0;
  std::thread thread_;
};

Cell RunCell(int port, const std::string& predict, const Args& args, int slowloris) {
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < slowloris; ++i) {
    slow.push_back(std::make_unique<RawConnection>(port, 1));
    slow.back()->Send("POST /v1/models/din:predict HTTP/1.1\r\nX-Slow");
  }
  std::atomic<bool> stop{false};
  std::thread trickler([&] {
    while (!stop.load()) {
      for (auto& c : slow) c->Send("w");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  std::vector<int64_t> answered(static_cast<size_t>(args.pool), 0);
  std::vector<std::vector<double>> latency(static_cast<size_t>(args.pool));
  std::atomic<int64_t> stalls{0};
  const Clock::time_point start = Clock::now();
  const Clock::time_point end = start + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(args.seconds));
  std::vector<std::thread> clients;
  for (int t = 0; t < args.pool; ++t) {
    clients.emplace_back([&, t] {
      auto c = std::make_unique<RawConnection>(port, 1);
      while (Clock::now() < end) {
        const Clock::time_point sent = Clock::now();
        RawResponse r;
        if (!c->Send(predict) || !c->Read(&r) || r.status != 200) {
          ++stalls;
          c = std::make_unique<RawConnection>(port, 1);
          continue;
        }
        latency[t].push_back(std::chrono::duration<double>(Clock::now() - sent).count());
        ++answered[t];
      }
    });
  }
  for (std::thread& t : clients) t.join();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  stop.store(true);
  trickler.join();
  Cell cell;
  std::vector<double> all;
  int64_t total = 0;
  for (int t = 0; t < args.pool; ++t) {
    all.insert(all.end(), latency[t].begin(), latency[t].end());
    total += answered[t];
  }
  cell.answers_per_s = static_cast<double>(total) / wall;
  cell.least = *std::min_element(answered.begin(), answered.end());
  cell.most = *std::max_element(answered.begin(), answered.end());
  cell.p50_ms = 1e3 * Percentile(all, 0.5);
  cell.p99_ms = 1e3 * Percentile(all, 0.99);
  cell.stalls = stalls.load();
  return cell;
}

Cell Median(std::vector<Cell> runs) {
  std::sort(runs.begin(), runs.end(),
            [](const Cell& a, const Cell& b) { return a.answers_per_s < b.answers_per_s; });
  return runs[runs.size() / 2];
}

int Main(int argc, char** argv) {
  Args args;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--seconds" && has_value) {
      if (!absl::SimpleAtod(argv[++i], &args.seconds)) return 2;
    } else if (a == "--pool" && has_value) {
      if (!absl::SimpleAtoi(argv[++i], &args.pool) || args.pool < 1) return 2;
    } else if (a == "--slowloris" && has_value) {
      if (!absl::SimpleAtoi(argv[++i], &args.slowloris)) return 2;
    } else if (a == "--workers" && has_value) {
      if (!absl::SimpleAtoi(argv[++i], &args.workers) || args.workers < 1) return 2;
    } else if (a == "--repeats" && has_value) {
      if (!absl::SimpleAtoi(argv[++i], &args.repeats) || args.repeats < 1) return 2;
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2) {
    std::fprintf(stderr,
                 "usage: http_front_end_bench PACKAGE REQUESTS.jsonl [--seconds 5] [--pool 8] "
                 "[--slowloris 200] [--workers 2] [--repeats 3]\n");
    return 2;
  }
#ifdef RANKOPT_UNOPTIMIZED_BUILD
  std::printf("WARNING: built without optimization; the numbers below are not meaningful\n");
#endif
  args.package = positional[0];
  args.requests = positional[1];
  std::ifstream in(args.requests);
  std::string json;
  while (std::getline(in, json) && json.find_first_not_of(" \t\r") == std::string::npos) {
  }
  if (json.empty()) {
    std::fprintf(stderr, "no request in %s\n", args.requests.c_str());
    return 1;
  }
  const std::string predict = absl::StrCat(
      "POST /v1/models/din:predict HTTP/1.1\r\nHost: b\r\nContent-Length: ", json.size(),
      "\r\n\r\n", json);

  ServeOptions options;
  options.path = args.package;
  options.port = 0;
  options.http_threads = args.workers;
  absl::StatusOr<std::unique_ptr<HttpServer>> ours = HttpServer::Create(options);
  if (!ours.ok()) {
    std::fprintf(stderr, "%s\n", ours.status().ToString().c_str());
    return 1;
  }
  (*ours)->Start();
  PeerServer peer((*ours)->CurrentModel(), args.workers);

  std::printf("%d keep-alive clients, %d workers, %.0f s per run, median of %d runs\n", args.pool,
              args.workers, args.seconds, args.repeats);
  std::printf("%-34s %10s %8s %8s %9s %9s %7s\n", "cell", "answers/s", "least", "most", "p50 ms",
              "p99 ms", "stalls");
  for (int slowloris : {0, args.slowloris}) {
    Cell cells[2];
    for (int server = 0; server < 2; ++server) {
      std::vector<Cell> runs;
      for (int r = 0; r < args.repeats; ++r) {
        runs.push_back(
            RunCell(server == 0 ? (*ours)->port() : peer.port(), predict, args, slowloris));
      }
      cells[server] = Median(runs);
      const std::string name =
          absl::StrCat(server == 0 ? "rankopt (event loop)" : "peer (thread/conn)",
                       slowloris > 0 ? absl::StrCat(" +", slowloris, " slowloris") : "");
      std::printf("%-34s %10.0f %8lld %8lld %9.2f %9.2f %7lld\n", name.c_str(),
                  cells[server].answers_per_s, static_cast<long long>(cells[server].least),
                  static_cast<long long>(cells[server].most), cells[server].p50_ms,
                  cells[server].p99_ms, static_cast<long long>(cells[server].stalls));
    }
    std::printf("  ratio rankopt/peer answers/s: %.2fx\n",
                cells[1].answers_per_s > 0 ? cells[0].answers_per_s / cells[1].answers_per_s : 0.0);
  }
  (*ours)->Stop();
  return 0;
}

}  // namespace
}  // namespace rankopt

int main(int argc, char** argv) { return rankopt::Main(argc, argv); }
