#include "tests/serving/remote/redis_cluster_fixture.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace rankopt {
namespace {

std::string Script() {
  return absl::StrCat(RANKOPT_TESTDATA_DIR, "/../../scripts/redis_cluster.sh");
}

bool started = false;
int port = 0;

std::string Dir() { return absl::StrCat("/tmp/rankopt_test_redis_", ::getpid()); }

}  // namespace

int TestRedisCluster::Shell(const std::string& command, std::string* out) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    if (out != nullptr) out->append(buffer, n);
  }
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int TestRedisCluster::base_port() {
  if (port == 0) port = 21000 + static_cast<int>(::getpid() % 400) * 10;  // <= 24990
  return port;
}

std::string TestRedisCluster::Start(bool* missing) {
  *missing = false;
  if (started) return "";
  if (Shell("command -v redis-server >/dev/null && command -v redis-cli >/dev/null") != 0) {
    *missing = true;
    return "redis-server / redis-cli are not installed (apt-get install redis-server "
           "redis-tools)";
  }
  std::string out;
  const int rc = Shell(absl::StrCat("bash ", Script(), " start --base-port ", base_port(),
                                    " --dir ", Dir(), " 2>&1"),
                       &out);
  if (rc != 0) return absl::StrCat("scripts/redis_cluster.sh start failed (", rc, "): ", out);
  started = true;
  std::atexit(&TestRedisCluster::Stop);
  return "";
}

void TestRedisCluster::Stop() {
  if (!started) return;
  Shell(absl::StrCat("bash ", Script(), " stop --base-port ", base_port(), " --dir ", Dir(),
                     " >/dev/null 2>&1"));
  started = false;
}

std::string TestRedisCluster::Seeds() {
  std::string seeds;
  for (int i = 0; i < 6; ++i) {
    absl::StrAppend(&seeds, i == 0 ? "" : ",", "127.0.0.1:", base_port() + i);
  }
  return seeds;
}

std::vector<int> TestRedisCluster::PrimaryPorts() {
  for (int i = 0; i < 6; ++i) {
    std::string out;
    if (Shell(absl::StrCat("timeout 5 redis-cli -p ", base_port() + i, " cluster nodes 2>/dev/null"),
              &out) != 0 ||
        out.empty()) {
      continue;
    }
    std::vector<int> ports;
    for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
      std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
      if (f.size() < 8) continue;
      if (f[2].find("master") == absl::string_view::npos || f[2].find("fail") != absl::string_view::npos) {
        continue;
      }
      if (f.size() < 9) continue;  // a primary without slots
      const absl::string_view addr = f[1].substr(0, f[1].find('@'));
      int p = 0;
      if (absl::SimpleAtoi(addr.substr(addr.rfind(':') + 1), &p)) ports.push_back(p);
    }
    return ports;
  }
  return {};
}

std::string TestRedisCluster::NodeId(int node_port) {
  std::string out;
  Shell(absl::StrCat("timeout 5 redis-cli -p ", node_port, " cluster myid"), &out);
  return std::string(absl::StripAsciiWhitespace(out));
}

int TestRedisCluster::Pid(int node_port) {
  std::ifstream in(absl::StrCat(Dir(), "/", node_port, "/redis.pid"));
  int pid = 0;
  in >> pid;
  return pid;
}

bool TestRedisCluster::WaitOk(double seconds) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int>(seconds * 1000));
  while (std::chrono::steady_clock::now() < deadline) {
    bool all = true;
    int live = 0;
    for (int i = 0; i < 6; ++i) {
      std::string out;
      if (Shell(absl::StrCat("timeout 2 redis-cli -p ", base_port() + i, " cluster info 2>/dev/null"),
                &out) != 0 ||
          out.empty()) {
        continue;
      }
      ++live;
      if (out.find("cluster_state:ok") == std::string::npos) all = false;
    }
    if (all && live > 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

bool TestRedisCluster::WaitReplicasInSync(double seconds) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int>(seconds * 1000));
  while (std::chrono::steady_clock::now() < deadline) {
    bool synced = true;
    for (const int p : PrimaryPorts()) {
      std::string out;
      Shell(absl::StrCat("timeout 2 redis-cli -p ", p, " info replication 2>/dev/null"), &out);
      // master_repl_offset:N and slave0:ip=...,state=online,offset=N,lag=0
      const size_t m = out.find("master_repl_offset:");
      const size_t r = out.find("slave0:");
      if (m == std::string::npos || r == std::string::npos) {
        synced = false;
        break;
      }
      const std::string master(absl::StripAsciiWhitespace(
          out.substr(m + 19, out.find('\n', m) - m - 19)));
      const std::string replica = out.substr(r, out.find('\n', r) - r);
      if (replica.find("state=online") == std::string::npos ||
          replica.find(absl::StrCat("offset=", master, ",")) == std::string::npos) {
        synced = false;
        break;
      }
    }
    if (synced) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace rankopt
