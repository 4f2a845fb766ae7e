// Test fixture: a real 6-node Redis Cluster on 127.0.0.1 (scripts/redis_cluster.sh), started once
// per test binary on ports of its own and stopped at exit, plus the node controls the fault tests
// need (kill, SIGSTOP/SIGCONT, reshard). Tests skip, saying why, only when redis-server is missing.
#ifndef RANKOPT_TESTS_SERVING_REMOTE_REDIS_CLUSTER_FIXTURE_H_
#define RANKOPT_TESTS_SERVING_REMOTE_REDIS_CLUSTER_FIXTURE_H_

#include <string>
#include <vector>

namespace rankopt {

class TestRedisCluster {
 public:
  // Starts the cluster (idempotent within the process). Returns "" when up, else why not; sets
  // *missing when the reason is that redis-server is not installed.
  static std::string Start(bool* missing);
  static void Stop();
  static int base_port();
  // "127.0.0.1:P,127.0.0.1:P+1,..."
  static std::string Seeds();
  // The ports of the nodes that are primaries now (CLUSTER NODES of a live node).
  static std::vector<int> PrimaryPorts();
  static std::string NodeId(int port);
  static int Pid(int port);
  // Runs a shell command; returns its exit status and appends its stdout to *out (may be null).
  static int Shell(const std::string& command, std::string* out = nullptr);
  // Waits (up to `seconds`) until every live node reports cluster_state:ok.
  static bool WaitOk(double seconds);
  // Waits (up to `seconds`) until every live primary's replica has all its writes (replication
  // offsets equal), so that a failover loses nothing.
  static bool WaitReplicasInSync(double seconds);
};

}  // namespace rankopt

#endif  // RANKOPT_TESTS_SERVING_REMOTE_REDIS_CLUSTER_FIXTURE_H_
