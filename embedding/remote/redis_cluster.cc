#include "embedding/remote/redis_cluster.h"

#include <hiredis/hiredis.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "rankopt/status_macros.h"

namespace rankopt {

namespace {

// CRC16-XMODEM a byte at a time from a 256-entry table (the bitwise loop, once per entry): the
// bitwise form cost ~8 shifts per key byte and was the client's top symbol in a fetch profile.
struct Crc16Table {
  uint16_t entry[256];
  constexpr Crc16Table() : entry() {
    for (int byte = 0; byte < 256; ++byte) {
      uint16_t crc = static_cast<uint16_t>(byte << 8);
      for (int bit = 0; bit < 8; ++bit) {
        crc = (crc & 0x8000) != 0 ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                                  : static_cast<uint16_t>(crc << 1);
      }
      entry[byte] = crc;
    }
  }
};
constexpr Crc16Table kCrc16Table;

}  // namespace

uint16_t RedisCrc16(absl::string_view bytes) { return RedisCrc16Update(0, bytes); }

uint16_t RedisCrc16Update(uint16_t crc, absl::string_view bytes) {
  for (const char ch : bytes) {
    crc = static_cast<uint16_t>((crc << 8) ^
                                kCrc16Table.entry[((crc >> 8) ^ static_cast<uint8_t>(ch)) & 0xff]);
  }
  return crc;
}

int RedisKeySlot(absl::string_view key) {
  const size_t open = key.find('{');
  if (open != absl::string_view::npos) {
    const size_t close = key.find('}', open + 1);
    if (close != absl::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return RedisCrc16(key) & (kRedisClusterSlots - 1);
}

std::string RedisEndpoint::ToString() const { return absl::StrCat(host, ":", port); }

absl::StatusOr<std::vector<RedisEndpoint>> ParseRedisEndpoints(absl::string_view spec) {
  std::vector<RedisEndpoint> out;
  for (absl::string_view entry : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    const size_t colon = entry.rfind(':');
    int port = 0;
    if (colon == absl::string_view::npos || colon == 0 ||
        !absl::SimpleAtoi(entry.substr(colon + 1), &port) || port < 1 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("redis endpoint '", entry, "' in '", spec,
                       "' is not HOST:PORT with a port in [1, 65535] (e.g. 127.0.0.1:7000)"));
    }
    out.push_back(RedisEndpoint{std::string(entry.substr(0, colon)), port});
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no redis endpoint in '", spec, "'; expected HOST:PORT[,HOST:PORT...]"));
  }
  return out;
}

namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

timeval TimevalOf(absl::Duration d) {
  const int64_t us = std::max<int64_t>(1000, absl::ToInt64Microseconds(d));
  timeval tv;
  tv.tv_sec = static_cast<time_t>(us / 1000000);
  tv.tv_usec = static_cast<suseconds_t>(us % 1000000);
  return tv;
}

// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381" -> the endpoint.
bool ParseRedirect(absl::string_view error, RedisEndpoint* to) {
  std::vector<absl::string_view> parts = absl::StrSplit(error, ' ', absl::SkipEmpty());
  if (parts.size() != 3) return false;
  const size_t colon = parts[2].rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(parts[2].substr(colon + 1), &port)) {
    return false;
  }
  to->host = std::string(parts[2].substr(0, colon));
  to->port = port;
  return true;
}

}  // namespace

namespace internal_redis {
// A connection: hiredis connects it and sets its timeouts; the bytes are read and written here.
struct Socket {
  redisContext* ctx = nullptr;
  std::unique_ptr<char[]> in;  // bytes read and not yet parsed: in[begin, end)
  size_t capacity = 0, begin = 0, end = 0;
  ~Socket() {
    if (ctx != nullptr) redisFree(ctx);
  }
};
}  // namespace internal_redis

struct RedisCluster::Connection : internal_redis::Socket {};

struct RedisCluster::Node {
  RedisEndpoint endpoint;
  std::mutex mu;
  std::vector<std::unique_ptr<Connection>> idle;  // guarded by mu
  std::atomic<int64_t> down_until_ns{0};
  // Why it is down: the failure its commands report while it is skipped.
  std::atomic<uint8_t> down_reason{static_cast<uint8_t>(RedisReply::Failure::kConnection)};
};

struct RedisCluster::SlotMap {
  std::vector<Node*> slots = std::vector<Node*>(kRedisClusterSlots, nullptr);
  std::vector<Node*> primaries;
};

RedisCluster::RedisCluster(RedisClusterOptions options) : options_(std::move(options)) {}
RedisCluster::~RedisCluster() = default;

absl::StatusOr<std::unique_ptr<RedisCluster>> RedisCluster::Connect(RedisClusterOptions options) {
  if (options.seeds.empty()) {
    return absl::InvalidArgumentError("no redis cluster node given; expected HOST:PORT[,...]");
  }
  if (options.max_attempts < 1) options.max_attempts = 1;
  std::unique_ptr<RedisCluster> cluster(new RedisCluster(std::move(options)));
  RANKOPT_RETURN_IF_ERROR(cluster->Refresh());
  return cluster;
}

RedisCluster::Node* RedisCluster::NodeFor(const RedisEndpoint& endpoint) {
  std::lock_guard<std::mutex> lock(nodes_mu_);
  for (const std::unique_ptr<Node>& node : nodes_) {
    if (node->endpoint == endpoint) return node.get();
  }
  nodes_.push_back(std::make_unique<Node>());
  nodes_.back()->endpoint = endpoint;
  return nodes_.back().get();
}

std::shared_ptr<const RedisCluster::SlotMap> RedisCluster::Map() const {
  std::lock_guard<std::mutex> lock(map_mu_);
  return map_;
}

void RedisCluster::MarkDown(Node* node, RedisReply::Failure why) {
  node->down_reason.store(static_cast<uint8_t>(why), std::memory_order_relaxed);
  node->down_until_ns.store(NowNs() + absl::ToInt64Nanoseconds(options_.down_interval),
                            std::memory_order_relaxed);
}

bool RedisCluster::IsDown(const Node* node) const {
  return node->down_until_ns.load(std::memory_order_relaxed) > NowNs();
}

absl::StatusOr<std::unique_ptr<RedisCluster::Connection>> RedisCluster::Acquire(Node* node) {
  {
    std::lock_guard<std::mutex> lock(node->mu);
    if (!node->idle.empty()) {
      std::unique_ptr<Connection> c = std::move(node->idle.back());
      node->idle.pop_back();
      return c;
    }
  }
  auto c = std::make_unique<Connection>();
  c->ctx = redisConnectWithTimeout(node->endpoint.host.c_str(), node->endpoint.port,
                                   TimevalOf(options_.connect_timeout));
  if (c->ctx == nullptr || c->ctx->err != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to redis node ", node->endpoint.ToString(), ": ",
                     c->ctx == nullptr ? "out of memory" : c->ctx->errstr));
  }
  if (redisSetTimeout(c->ctx, TimevalOf(options_.timeout)) != REDIS_OK) {
    return absl::UnavailableError(
        absl::StrCat("cannot set the timeout on redis node ", node->endpoint.ToString()));
  }
  return c;
}

void RedisCluster::Release(Node* node, std::unique_ptr<Connection> connection) {
  // Bytes left unread would be taken for the next exchange's replies: never reuse such a one.
  if (connection->begin != connection->end) return;
  std::lock_guard<std::mutex> lock(node->mu);
  if (static_cast<int>(node->idle.size()) < options_.max_idle_per_node) {
    node->idle.push_back(std::move(connection));
  }
}

namespace {

// Reads one reply from the connection (hiredis connected it; the bytes are read here, into the
// connection's buffer, and parsed in place: no reply object per command). False, with out's
// failure and str set, when the connection failed (it is then unusable).
bool ReadReply(internal_redis::Socket* c, RedisReply* out, uint8_t* value_out = nullptr,
               size_t value_size = 0) {
  for (;;) {
    if (c->end > c->begin) {
      const int64_t taken =
          ParseRespReply(c->in.get() + c->begin, c->end - c->begin, out, value_out, value_size);
      if (taken > 0) {
        c->begin += static_cast<size_t>(taken);
        if (c->begin == c->end) c->begin = c->end = 0;
        return true;
      }
      if (taken < 0) {
        out->kind = RedisReply::Kind::kFailed;
        out->failure = RedisReply::Failure::kOther;
        out->str = "the server's reply is not RESP (protocol error)";
        return false;
      }
    }
    if (c->begin > 0) {
      std::memmove(c->in.get(), c->in.get() + c->begin, c->end - c->begin);
      c->end -= c->begin;
      c->begin = 0;
    }
    if (c->capacity - c->end < 4096) {
      const size_t capacity = std::max<size_t>(16384, c->capacity * 2);
      std::unique_ptr<char[]> grown(new char[capacity]);
      std::memcpy(grown.get(), c->in.get(), c->end);
      c->in = std::move(grown);
      c->capacity = capacity;
    }
    const ssize_t n = recv(c->ctx->fd, c->in.get() + c->end, c->capacity - c->end, 0);
    if (n > 0) {
      c->end += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const bool timeout = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    out->kind = RedisReply::Kind::kFailed;
    out->in_place = false;
    out->failure = timeout ? RedisReply::Failure::kTimeout : RedisReply::Failure::kConnection;
    out->str = timeout ? "timed out"
                       : (n == 0 ? "connection closed by the server"
                                 : absl::StrCat("read: ", std::strerror(errno)));
    return false;
  }
}

// Writes all of `bytes`; false with *failure and *why set when the connection failed.
bool SendAll(internal_redis::Socket* c, absl::string_view bytes, RedisReply::Failure* failure,
             std::string* why) {
  while (!bytes.empty()) {
    const ssize_t n = send(c->ctx->fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const bool timeout = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    *failure = timeout ? RedisReply::Failure::kTimeout : RedisReply::Failure::kConnection;
    *why = timeout ? "write timed out" : absl::StrCat("write: ", std::strerror(errno));
    return false;
  }
  return true;
}

// Appends one command in RESP: *<argc> then $<len> <bytes> per argument.
void AppendResp(absl::Span<const absl::string_view> args, std::string* out) {
  char number[24];
  auto append_count = [&](char tag, size_t n) {
    char* end = number + sizeof(number);
    char* p = end;
    do {
      *--p = static_cast<char>('0' + n % 10);
      n /= 10;
    } while (n != 0);
    *--p = tag;
    out->append(p, static_cast<size_t>(end - p));
    out->append("\r\n", 2);
  };
  append_count('*', args.size());
  for (const absl::string_view a : args) {
    append_count('$', a.size());
    out->append(a.data(), a.size());
    out->append("\r\n", 2);
  }
}

}  // namespace

// What one thread's Execute works in, kept between calls so that a warm call allocates nothing
// per command (Execute does not call itself).
struct RedisCluster::ExecuteScratch {
  struct Group {
    Node* node = nullptr;
    bool down = false;  // the node is skipped (IsDown, asked once per group)
    bool ok = true;
    std::vector<int> commands;
    std::unique_ptr<Connection> connection;
  };
  std::vector<Node*> override_node;
  std::vector<uint8_t> asking;
  std::vector<int> pending, retry;
  std::vector<Group> groups;  // groups[0, used)
  size_t used = 0;
  std::string pipeline;
  RedisReply ask_reply;
};

void RedisCluster::Execute(absl::Span<const RedisCommand> commands,
                           std::vector<RedisReply>* replies) {
  thread_local ExecuteScratch scratch;
  ExecuteScratch& s = scratch;
  const size_t n = commands.size();
  replies->resize(n);
  for (RedisReply& r : *replies) {
    r.kind = RedisReply::Kind::kFailed;
    r.failure = RedisReply::Failure::kNone;
    r.in_place = false;
    r.str.clear();
    r.integer = 0;
  }
  s.override_node.assign(n, nullptr);
  s.asking.assign(n, 0);
  s.pending.resize(n);
  for (size_t i = 0; i < n; ++i) s.pending[i] = static_cast<int>(i);

  for (int attempt = 0; attempt < options_.max_attempts && !s.pending.empty(); ++attempt) {
    const std::shared_ptr<const SlotMap> map = Map();
    for (size_t g = 0; g < s.used; ++g) s.groups[g].connection.reset();
    s.used = 0;
    s.retry.clear();
    bool refresh = false;
    bool force_refresh = false;
    bool backoff = false;
    for (const int i : s.pending) {
      RedisReply& reply = (*replies)[i];
      const int slot = commands[i].slot >= 0 && commands[i].slot < kRedisClusterSlots
                           ? commands[i].slot
                           : RedisKeySlot(commands[i].key);
      Node* node = s.override_node[i] != nullptr ? s.override_node[i] : map->slots[slot];
      s.override_node[i] = nullptr;
      if (node == nullptr) {
        reply.kind = RedisReply::Kind::kFailed;
        reply.failure = RedisReply::Failure::kOther;
        reply.str = "no node serves the key's slot";
        s.retry.push_back(i);
        refresh = true;
        continue;
      }
      size_t g = 0;
      while (g < s.used && s.groups[g].node != node) ++g;
      if (g == s.used) {
        if (s.used == s.groups.size()) s.groups.emplace_back();
        ExecuteScratch::Group& group = s.groups[s.used++];
        group.node = node;
        group.down = IsDown(node);
        group.ok = true;
        group.commands.clear();
      }
      ExecuteScratch::Group& group = s.groups[g];
      if (group.down) {
        reply.kind = RedisReply::Kind::kFailed;
        reply.failure =
            static_cast<RedisReply::Failure>(node->down_reason.load(std::memory_order_relaxed));
        reply.str = absl::StrCat(
            "redis node ", node->endpoint.ToString(), " is skipped for a while after a ",
            reply.failure == RedisReply::Failure::kTimeout ? "timeout" : "connection failure");
        counters_.down_skips.fetch_add(1, std::memory_order_relaxed);
        s.retry.push_back(i);
        refresh = true;
        continue;
      }
      group.commands.push_back(i);
    }
    // Write every node's pipeline first, so the nodes work in parallel.
    for (size_t gi = 0; gi < s.used; ++gi) {
      ExecuteScratch::Group& g = s.groups[gi];
      if (g.down || g.commands.empty()) {
        g.ok = false;
        continue;
      }
      absl::StatusOr<std::unique_ptr<Connection>> c = Acquire(g.node);
      if (!c.ok()) {
        g.ok = false;
        counters_.connection_errors.fetch_add(1, std::memory_order_relaxed);
        MarkDown(g.node, RedisReply::Failure::kConnection);
        for (const int i : g.commands) {
          (*replies)[i].kind = RedisReply::Kind::kFailed;
          (*replies)[i].failure = RedisReply::Failure::kConnection;
          (*replies)[i].str = std::string(c.status().message());
          s.retry.push_back(i);
        }
        refresh = true;
        continue;
      }
      g.connection = *std::move(c);
      // The node's whole pipeline in one buffer, written straight to the socket.
      s.pipeline.clear();
      for (const int i : g.commands) {
        if (s.asking[i] != 0) s.pipeline.append("*1\r\n$6\r\nASKING\r\n");
        AppendResp(commands[i].args, &s.pipeline);
      }
      counters_.round_trips.fetch_add(1, std::memory_order_relaxed);
      counters_.commands.fetch_add(static_cast<int64_t>(g.commands.size()),
                                   std::memory_order_relaxed);
      RedisReply::Failure failure = RedisReply::Failure::kNone;
      std::string why;
      if (!SendAll(g.connection.get(), s.pipeline, &failure, &why)) {
        g.ok = false;
        (failure == RedisReply::Failure::kTimeout ? counters_.timeouts
                                                  : counters_.connection_errors)
            .fetch_add(1, std::memory_order_relaxed);
        MarkDown(g.node, failure);
        refresh = true;
        for (const int i : g.commands) {
          (*replies)[i].kind = RedisReply::Kind::kFailed;
          (*replies)[i].failure = failure;
          (*replies)[i].str = absl::StrCat("writing to ", g.node->endpoint.ToString(), ": ", why);
          s.retry.push_back(i);
        }
        g.connection.reset();
      }
    }
    for (size_t gi = 0; gi < s.used; ++gi) {
      ExecuteScratch::Group& g = s.groups[gi];
      if (!g.ok) continue;
      bool broken = false;
      for (const int i : g.commands) {
        RedisReply& reply = (*replies)[i];
        if (broken) {
          reply.kind = RedisReply::Kind::kFailed;
          continue;  // failure and str set below with the first one's
        }
        if (s.asking[i] != 0 && !ReadReply(g.connection.get(), &s.ask_reply)) {
          reply = s.ask_reply;
          broken = true;
        }
        if (!broken &&
            !ReadReply(g.connection.get(), &reply, commands[i].value_out, commands[i].value_size)) {
          broken = true;
        }
        s.asking[i] = 0;
        if (broken) {
          (reply.failure == RedisReply::Failure::kTimeout ? counters_.timeouts
                                                          : counters_.connection_errors)
              .fetch_add(1, std::memory_order_relaxed);
          reply.str = absl::StrCat("redis node ", g.node->endpoint.ToString(), ": ", reply.str);
          MarkDown(g.node, reply.failure);
          refresh = true;
          // The rest of this node's commands fail the same way.
          const RedisReply::Failure failure = reply.failure;
          const std::string why = reply.str;
          for (const int j : g.commands) {
            RedisReply& r = (*replies)[j];
            if (j == i || r.kind == RedisReply::Kind::kFailed) {
              r.kind = RedisReply::Kind::kFailed;
              r.failure = failure;
              r.in_place = false;
              r.str = why;
            }
          }
          s.retry.push_back(i);
          continue;
        }
        if (reply.kind != RedisReply::Kind::kError) continue;
        const absl::string_view error = reply.str;
        RedisEndpoint to;
        if (absl::StartsWith(error, "MOVED ") && ParseRedirect(error, &to)) {
          counters_.moved.fetch_add(1, std::memory_order_relaxed);
          s.override_node[i] = NodeFor(to);
          refresh = force_refresh = true;
          reply.kind = RedisReply::Kind::kFailed;
          reply.failure = RedisReply::Failure::kRedirects;
          s.retry.push_back(i);
        } else if (absl::StartsWith(error, "ASK ") && ParseRedirect(error, &to)) {
          counters_.ask.fetch_add(1, std::memory_order_relaxed);
          s.override_node[i] = NodeFor(to);
          s.asking[i] = 1;
          reply.kind = RedisReply::Kind::kFailed;
          reply.failure = RedisReply::Failure::kRedirects;
          s.retry.push_back(i);
        } else if (absl::StartsWith(error, "TRYAGAIN") || absl::StartsWith(error, "CLUSTERDOWN") ||
                   absl::StartsWith(error, "LOADING")) {
          reply.kind = RedisReply::Kind::kFailed;
          reply.failure = RedisReply::Failure::kOther;
          s.retry.push_back(i);
          backoff = refresh = true;
        }
      }
      // Broken connections already failed their remaining commands; collect those for retry.
      if (broken) {
        for (const int j : g.commands) {
          if ((*replies)[j].kind == RedisReply::Kind::kFailed &&
              std::find(s.retry.begin(), s.retry.end(), j) == s.retry.end()) {
            s.retry.push_back(j);
          }
        }
        g.connection.reset();
      } else {
        Release(g.node, std::move(g.connection));
      }
    }
    for (size_t g = 0; g < s.used; ++g) s.groups[g].connection.reset();
    if (refresh) MaybeRefresh(force_refresh);
    if (backoff) std::this_thread::sleep_for(std::chrono::milliseconds(1 << attempt));
    s.pending.swap(s.retry);
  }
  s.pending.clear();
}

void RedisCluster::Get(absl::Span<const std::string> keys, std::vector<RedisReply>* replies) {
  std::vector<absl::string_view> views(keys.begin(), keys.end());
  Get(absl::MakeConstSpan(views), replies);
}

void RedisCluster::Get(absl::Span<const absl::string_view> keys, std::vector<RedisReply>* replies,
                       absl::Span<const uint16_t> slots) {
  thread_local std::vector<RedisCommand> commands;  // reused: a warm call allocates nothing here
  commands.resize(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    commands[i].key = keys[i];
    commands[i].slot = slots.size() == keys.size() ? static_cast<int>(slots[i]) : -1;
    commands[i].args = {"GET", keys[i]};
    commands[i].value_out = nullptr;
  }
  Execute(commands, replies);
}

void RedisCluster::MaybeRefresh(bool force) {
  const int64_t now = NowNs();
  const int64_t min_gap = absl::ToInt64Nanoseconds(options_.min_refresh_interval);
  if (!force && now - last_refresh_ns_.load(std::memory_order_relaxed) < min_gap) return;
  std::unique_lock<std::mutex> lock(refresh_mu_, std::try_to_lock);
  if (!lock.owns_lock()) return;  // another thread refreshes now
  // A forced refresh (MOVED) is still rate limited to a few per interval: a reshard produces a
  // MOVED per key.
  if (now - last_refresh_ns_.load(std::memory_order_relaxed) < min_gap / 8) return;
  (void)Refresh();
}

absl::StatusOr<std::shared_ptr<const RedisCluster::SlotMap>> RedisCluster::LoadMap(
    const RedisEndpoint& from) {
  redisContext* ctx =
      redisConnectWithTimeout(from.host.c_str(), from.port, TimevalOf(options_.connect_timeout));
  std::unique_ptr<Connection> c = std::make_unique<Connection>();
  c->ctx = ctx;
  if (ctx == nullptr || ctx->err != 0) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", from.ToString(), ": ",
                                               ctx == nullptr ? "out of memory" : ctx->errstr));
  }
  redisSetTimeout(ctx, TimevalOf(std::max(options_.timeout, absl::Milliseconds(500))));
  auto map = std::make_shared<SlotMap>();
  std::vector<RedisEndpoint> primaries;
  auto assign = [&](long long start, long long end, const RedisEndpoint& ep) -> absl::Status {
    if (start < 0 || end >= kRedisClusterSlots || start > end) {
      return absl::DataLossError(absl::StrCat("slot range [", start, ", ", end, "] from ",
                                              from.ToString(), " is not within [0, 16383]"));
    }
    Node* node = NodeFor(ep);
    for (long long s = start; s <= end; ++s) map->slots[static_cast<size_t>(s)] = node;
    if (std::find(map->primaries.begin(), map->primaries.end(), node) == map->primaries.end()) {
      map->primaries.push_back(node);
    }
    return absl::OkStatus();
  };
  redisReply* r = static_cast<redisReply*>(redisCommand(ctx, "CLUSTER SHARDS"));
  std::unique_ptr<redisReply, void (*)(void*)> shards(r, freeReplyObject);
  if (r != nullptr && r->type == REDIS_REPLY_ARRAY) {
    // [["slots", [s, e, ...], "nodes", [[key, value, ...], ...]], ...]
    for (size_t s = 0; s < r->elements; ++s) {
      const redisReply* shard = r->element[s];
      if (shard->type != REDIS_REPLY_ARRAY) continue;
      const redisReply* slots = nullptr;
      const redisReply* nodes = nullptr;
      for (size_t k = 0; k + 1 < shard->elements; k += 2) {
        if (shard->element[k]->type != REDIS_REPLY_STRING) continue;
        const absl::string_view key(shard->element[k]->str, shard->element[k]->len);
        if (key == "slots") slots = shard->element[k + 1];
        if (key == "nodes") nodes = shard->element[k + 1];
      }
      if (slots == nullptr || nodes == nullptr || slots->elements == 0) continue;
      // The shard's primary: a "master" whose health is "online" (a failed old primary may still
      // be listed as master next to the replica that replaced it).
      RedisEndpoint primary;
      bool primary_online = false;
      for (size_t m = 0; m < nodes->elements; ++m) {
        const redisReply* node = nodes->element[m];
        RedisEndpoint ep;
        bool is_primary = false;
        bool online = false;
        for (size_t k = 0; k + 1 < node->elements; k += 2) {
          const redisReply* name = node->element[k];
          const redisReply* value = node->element[k + 1];
          if (name->type != REDIS_REPLY_STRING) continue;
          const absl::string_view field(name->str, name->len);
          if (field == "ip" && value->type == REDIS_REPLY_STRING)
            ep.host.assign(value->str, value->len);
          if (field == "port" && value->type == REDIS_REPLY_INTEGER)
            ep.port = static_cast<int>(value->integer);
          if (field == "role" && value->type == REDIS_REPLY_STRING) {
            is_primary = absl::string_view(value->str, value->len) == "master";
          }
          if (field == "health" && value->type == REDIS_REPLY_STRING) {
            online = absl::string_view(value->str, value->len) == "online";
          }
        }
        if (is_primary && !ep.host.empty() && ep.port > 0 && (online || !primary_online)) {
          primary = ep;
          primary_online = online;
        }
      }
      if (primary.port == 0) continue;
      for (size_t k = 0; k + 1 < slots->elements; k += 2) {
        RANKOPT_RETURN_IF_ERROR(
            assign(slots->element[k]->integer, slots->element[k + 1]->integer, primary));
      }
    }
  } else {
    // Before Redis 7: CLUSTER SLOTS, [[start, end, [ip, port, id], replicas...], ...].
    redisReply* s = static_cast<redisReply*>(redisCommand(ctx, "CLUSTER SLOTS"));
    std::unique_ptr<redisReply, void (*)(void*)> slots(s, freeReplyObject);
    if (s == nullptr || s->type != REDIS_REPLY_ARRAY) {
      return absl::UnavailableError(
          absl::StrCat("redis node ", from.ToString(),
                       " answered neither CLUSTER SHARDS nor "
                       "CLUSTER SLOTS (is it started with --cluster-enabled yes?)"));
    }
    for (size_t i = 0; i < s->elements; ++i) {
      const redisReply* range = s->element[i];
      if (range->elements < 3 || range->element[2]->elements < 2) continue;
      const redisReply* primary = range->element[2];
      RANKOPT_RETURN_IF_ERROR(
          assign(range->element[0]->integer, range->element[1]->integer,
                 RedisEndpoint{std::string(primary->element[0]->str, primary->element[0]->len),
                               static_cast<int>(primary->element[1]->integer)}));
    }
  }
  for (int slot = 0; slot < kRedisClusterSlots; ++slot) {
    if (map->slots[slot] == nullptr) {
      return absl::UnavailableError(absl::StrCat("redis node ", from.ToString(),
                                                 " reports no primary for slot ", slot,
                                                 ": the cluster is not ready (cluster_state:ok?)"));
    }
  }
  return std::shared_ptr<const SlotMap>(std::move(map));
}

absl::Status RedisCluster::Refresh() {
  // Ask the nodes we know (primaries of the current map first), then the seeds.
  std::vector<RedisEndpoint> candidates;
  if (const std::shared_ptr<const SlotMap> map = Map(); map != nullptr) {
    for (const Node* node : map->primaries) {
      if (!IsDown(node)) candidates.push_back(node->endpoint);
    }
  }
  {
    std::lock_guard<std::mutex> lock(nodes_mu_);
    for (const std::unique_ptr<Node>& node : nodes_) {
      if (!IsDown(node.get()) &&
          std::find(candidates.begin(), candidates.end(), node->endpoint) == candidates.end()) {
        candidates.push_back(node->endpoint);
      }
    }
  }
  for (const RedisEndpoint& seed : options_.seeds) {
    if (std::find(candidates.begin(), candidates.end(), seed) == candidates.end()) {
      candidates.push_back(seed);
    }
  }
  std::string errors;
  for (const RedisEndpoint& from : candidates) {
    absl::StatusOr<std::shared_ptr<const SlotMap>> map = LoadMap(from);
    if (!map.ok()) {
      absl::StrAppend(&errors, errors.empty() ? "" : "; ", map.status().message());
      continue;
    }
    // Nodes that now own slots are up again as far as we know.
    for (Node* node : (*map)->primaries) {
      if (node->endpoint == from) node->down_until_ns.store(0, std::memory_order_relaxed);
    }
    {
      std::lock_guard<std::mutex> lock(map_mu_);
      map_ = *std::move(map);
    }
    last_refresh_ns_.store(NowNs(), std::memory_order_relaxed);
    counters_.refreshes.fetch_add(1, std::memory_order_relaxed);
    return absl::OkStatus();
  }
  last_refresh_ns_.store(NowNs(), std::memory_order_relaxed);
  return absl::UnavailableError(
      absl::StrCat("no redis cluster node gave a slot map covering all 16384 slots: ", errors));
}

std::vector<RedisEndpoint> RedisCluster::Primaries() const {
  std::vector<RedisEndpoint> out;
  const std::shared_ptr<const SlotMap> map = Map();
  if (map == nullptr) return out;
  for (const Node* node : map->primaries) out.push_back(node->endpoint);
  return out;
}

absl::StatusOr<RedisReply> RedisCluster::RunOnNode(const RedisEndpoint& endpoint,
                                                   absl::Span<const absl::string_view> args) {
  Node* node = NodeFor(endpoint);
  RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<Connection> c, Acquire(node));
  std::string request;
  AppendResp(args, &request);
  counters_.round_trips.fetch_add(1, std::memory_order_relaxed);
  RedisReply reply;
  if (!SendAll(c.get(), request, &reply.failure, &reply.str) || !ReadReply(c.get(), &reply)) {
    return absl::UnavailableError(
        absl::StrCat("redis node ", endpoint.ToString(), ": ", reply.str));
  }
  Release(node, std::move(c));
  if (reply.kind == RedisReply::Kind::kError) {
    return absl::FailedPreconditionError(
        absl::StrCat("redis node ", endpoint.ToString(), " answered: ", reply.str));
  }
  return reply;
}

absl::Status RedisCluster::ScanNode(const RedisEndpoint& endpoint, absl::string_view pattern,
                                    int count, std::vector<std::string>* keys) {
  Node* node = NodeFor(endpoint);
  RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<Connection> c, Acquire(node));
  std::string cursor = "0";
  const std::string count_text = absl::StrCat(count);
  do {
    redisReply* r =
        static_cast<redisReply*>(redisCommand(c->ctx, "SCAN %s MATCH %b COUNT %s", cursor.c_str(),
                                              pattern.data(), pattern.size(), count_text.c_str()));
    std::unique_ptr<redisReply, void (*)(void*)> reply(r, freeReplyObject);
    counters_.round_trips.fetch_add(1, std::memory_order_relaxed);
    if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
      return absl::UnavailableError(absl::StrCat(
          "SCAN on redis node ", endpoint.ToString(), " failed: ",
          r == nullptr ? c->ctx->errstr
                       : (r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply")));
    }
    cursor.assign(r->element[0]->str, r->element[0]->len);
    for (size_t i = 0; i < r->element[1]->elements; ++i) {
      const redisReply* k = r->element[1]->element[i];
      if (k->type == REDIS_REPLY_STRING) keys->emplace_back(k->str, k->len);
    }
  } while (cursor != "0");
  Release(node, std::move(c));
  return absl::OkStatus();
}

RedisClusterCounters RedisCluster::counters() const {
  RedisClusterCounters c;
  c.round_trips = counters_.round_trips.load(std::memory_order_relaxed);
  c.commands = counters_.commands.load(std::memory_order_relaxed);
  c.moved = counters_.moved.load(std::memory_order_relaxed);
  c.ask = counters_.ask.load(std::memory_order_relaxed);
  c.timeouts = counters_.timeouts.load(std::memory_order_relaxed);
  c.connection_errors = counters_.connection_errors.load(std::memory_order_relaxed);
  c.refreshes = counters_.refreshes.load(std::memory_order_relaxed);
  c.down_skips = counters_.down_skips.load(std::memory_order_relaxed);
  return c;
}

}  // namespace rankopt
