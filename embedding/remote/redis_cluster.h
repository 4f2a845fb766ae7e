// A Redis Cluster client over hiredis (blocking API), for embedding rows kept in a cluster.
//
// Routing: a key's slot is CRC16-XMODEM(key) mod 16384, or of the text between the first '{' and
// the next '}' when that text is non-empty (hash tags, as the cluster spec says). The slot map
// comes from CLUSTER SHARDS (Redis 7), or CLUSTER SLOTS on older servers, asked of any node that
// answers; it is refreshed when a reply says MOVED, when a node cannot be reached, and at most
// every `min_refresh_interval`.
//
// One batch: Execute takes the commands of a whole request (each names the one key it routes
// by), groups them by node, writes every node's pipeline before reading any reply (so the nodes
// work in parallel: one round trip per node), then retries only the commands that came back
// MOVED (to the new owner, map refreshed), ASK (ASKING + the command, to the importing node),
// TRYAGAIN/CLUSTERDOWN, or hit a node that failed, in at most `max_attempts` rounds.
//
// Connections: a pool per node, shared by all threads: a call takes idle connections and returns
// them after a clean exchange; a connection that timed out or broke is closed, never reused (its
// replies could be out of step). Every read and write has `timeout` (SO_RCVTIMEO/SO_SNDTIMEO), so
// a stalled node (SIGSTOP, a full network) costs at most about that per attempt. A node that timed
// out or refused is skipped for `down_interval` (its commands fail at once) until the slot map
// moves its slots elsewhere or the interval passes.
//
// Thread-safety: all methods are safe to call concurrently.
#ifndef RANKOPT_EMBEDDING_REMOTE_REDIS_CLUSTER_H_
#define RANKOPT_EMBEDDING_REMOTE_REDIS_CLUSTER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace rankopt {

inline constexpr int kRedisClusterSlots = 16384;

// The cluster slot of `key` (CRC16-XMODEM, hash tags honoured).
int RedisKeySlot(absl::string_view key);
// CRC16-XMODEM (poly 0x1021, init 0), the checksum Redis Cluster routes by.
uint16_t RedisCrc16(absl::string_view bytes);
// The CRC of a || b from RedisCrc16(a) and b: RedisCrc16Update(RedisCrc16(a), b). Keys that
// share a prefix without '{' route by the prefix's CRC carried over their own bytes.
uint16_t RedisCrc16Update(uint16_t crc, absl::string_view bytes);

struct RedisEndpoint {
  std::string host;
  int port = 0;
  std::string ToString() const;
  friend bool operator==(const RedisEndpoint& a, const RedisEndpoint& b) {
    return a.host == b.host && a.port == b.port;
  }
};

// "HOST:PORT[,HOST:PORT...]" -> endpoints. Errors name the entry and what was expected.
absl::StatusOr<std::vector<RedisEndpoint>> ParseRedisEndpoints(absl::string_view spec);

struct RedisClusterOptions {
  // Nodes to learn the slot map from (any one that answers will do).
  std::vector<RedisEndpoint> seeds;
  // Per connect, and per read/write of one call (a node's pipelined batch).
  absl::Duration connect_timeout = absl::Milliseconds(200);
  absl::Duration timeout = absl::Milliseconds(100);
  // Rounds of one Execute: the first plus retries after redirects or failed nodes.
  int max_attempts = 4;
  // A node that timed out or refused is not tried again for this long.
  absl::Duration down_interval = absl::Milliseconds(500);
  // Slot map refreshes are at least this far apart (unless a MOVED names a new owner).
  absl::Duration min_refresh_interval = absl::Milliseconds(100);
  // Idle connections kept per node.
  int max_idle_per_node = 64;
};

// One command, routed by `key` (which the command's arguments normally include).
struct RedisCommand {
  absl::string_view key;
  absl::InlinedVector<absl::string_view, 3> args;  // e.g. {"GET", key}
  int slot = -1;  // RedisKeySlot(key) when the caller has it, else -1
  // Where a bulk-string reply of exactly value_size bytes goes (RedisReply::in_place), read
  // straight from the connection's buffer; null: into RedisReply::str.
  uint8_t* value_out = nullptr;
  size_t value_size = 0;
};

// The outcome of one command.
struct RedisReply {
  enum class Kind : uint8_t {
    kString,   // a bulk string (GET's value): `str`
    kStatus,   // +OK and the like: `str`
    kInteger,  // `integer`
    kNil,      // GET of a missing key
    kArray,    // not expected by the callers here: `str` empty
    kError,    // the server answered an error (not a redirect): `str` has it
    kFailed,   // no answer: timeout, connection lost, node down, redirects exhausted: `str` why
  };
  Kind kind = Kind::kFailed;
  // Why the command failed (kFailed): a timeout, a lost or refused connection, other.
  enum class Failure : uint8_t { kNone, kTimeout, kConnection, kRedirects, kOther };
  Failure failure = Failure::kNone;
  // kString whose bytes went to the command's value_out (value_size of them); `str` is empty.
  bool in_place = false;
  std::string str;
  long long integer = 0;
};

// Parses one RESP2 reply from data[0, size) into `out`. Returns the bytes it spans (> 0), 0 when
// `data` holds only part of it (read more, call again from the same start; nothing was written
// to value_out), or -1 when the bytes are not RESP (the connection is unusable). A bulk string
// of exactly value_size bytes goes to value_out when that is set (out->in_place); any other is
// copied to out->str. Arrays are skipped (kArray, nested at most 8 deep); a bulk length above
// 512 MB or a line above 1 MB without its CRLF is not RESP.
int64_t ParseRespReply(const char* data, size_t size, RedisReply* out, uint8_t* value_out = nullptr,
                       size_t value_size = 0);

// Counters since Create (relaxed; approximate under concurrent updates).
struct RedisClusterCounters {
  int64_t round_trips = 0;        // node pipelines sent (one per node per round)
  int64_t commands = 0;           // commands sent (retries included)
  int64_t moved = 0;              // MOVED redirects
  int64_t ask = 0;                // ASK redirects
  int64_t timeouts = 0;           // node exchanges that timed out
  int64_t connection_errors = 0;  // refused / reset / closed connections
  int64_t refreshes = 0;          // slot map refreshes that succeeded
  int64_t down_skips = 0;         // commands failed at once: their node was marked down
};

class RedisCluster {
 public:
  // Connects to a seed and loads the slot map. Errors: no seed, no seed answers, a map that does
  // not cover all 16384 slots.
  static absl::StatusOr<std::unique_ptr<RedisCluster>> Connect(RedisClusterOptions options);
  ~RedisCluster();
  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;

  // Runs `commands` (one reply each, in `replies`, resized) as described above. Returns OK even
  // when some commands failed: look at each reply.
  void Execute(absl::Span<const RedisCommand> commands, std::vector<RedisReply>* replies);

  // GET of every key; replies as Execute's.
  void Get(absl::Span<const std::string> keys, std::vector<RedisReply>* replies);
  // `slots`: empty, or RedisKeySlot of each key (saves hashing keys the caller routed already).
  void Get(absl::Span<const absl::string_view> keys, std::vector<RedisReply>* replies,
           absl::Span<const uint16_t> slots = {});
  // The primaries of the current map ("host:port"), for commands that go to every primary.
  std::vector<RedisEndpoint> Primaries() const;
  // Runs one command on one node (no routing); for SCAN, CLUSTER INFO and the like. Errors:
  // connection, timeout, an error reply.
  absl::StatusOr<RedisReply> RunOnNode(const RedisEndpoint& node,
                                       absl::Span<const absl::string_view> args);
  // SCAN of `node` for keys matching `pattern`, COUNT `count` per call, appended to `keys`.
  absl::Status ScanNode(const RedisEndpoint& node, absl::string_view pattern, int count,
                        std::vector<std::string>* keys);

  // Reloads the slot map now. Errors when no known node answers with a full map.
  absl::Status Refresh();

  RedisClusterCounters counters() const;
  const RedisClusterOptions& options() const { return options_; }

 private:
  struct Node;
  struct SlotMap;
  struct Connection;
  struct ExecuteScratch;

  explicit RedisCluster(RedisClusterOptions options);

  std::shared_ptr<const SlotMap> Map() const;
  // The node of `endpoint`, created on first use (nodes live as long as the client).
  Node* NodeFor(const RedisEndpoint& endpoint);
  // A refresh unless one happened within min_refresh_interval.
  void MaybeRefresh(bool force);
  absl::StatusOr<std::shared_ptr<const SlotMap>> LoadMap(const RedisEndpoint& from);
  // A connection to `node` (idle or new); errors when the connect fails or times out.
  absl::StatusOr<std::unique_ptr<Connection>> Acquire(Node* node);
  void Release(Node* node, std::unique_ptr<Connection> connection);
  void MarkDown(Node* node, RedisReply::Failure why);
  bool IsDown(const Node* node) const;

  RedisClusterOptions options_;
  mutable std::mutex nodes_mu_;
  std::vector<std::unique_ptr<Node>> nodes_;  // guarded by nodes_mu_; never shrinks
  mutable std::mutex map_mu_;
  std::shared_ptr<const SlotMap> map_;  // guarded by map_mu_
  std::mutex refresh_mu_;               // one refresh at a time
  std::atomic<int64_t> last_refresh_ns_{0};

  struct AtomicCounters {
    std::atomic<int64_t> round_trips{0}, commands{0}, moved{0}, ask{0}, timeouts{0},
        connection_errors{0}, refreshes{0}, down_skips{0};
  };
  mutable AtomicCounters counters_;
};

}  // namespace rankopt

#endif  // RANKOPT_EMBEDDING_REMOTE_REDIS_CLUSTER_H_
