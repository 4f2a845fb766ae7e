// RESP2 replies parsed from a connection's read buffer (RedisCluster's reads; hiredis only
// connects). See ParseRespReply in redis_cluster.h.
#include <cstring>

#include "embedding/remote/redis_cluster.h"

namespace rankopt {

namespace {

// Redis refuses bulk strings above 512 MB (proto-max-bulk-len); anything larger is not a reply.
constexpr int64_t kMaxBulkBytes = int64_t{512} << 20;
// A status or error line this long without its CRLF is not a reply either.
constexpr size_t kMaxLineBytes = size_t{1} << 20;
constexpr int kMaxDepth = 8;

// The line starting at `p` (after the type byte): its end (the '\r') or null when the CRLF is
// not there yet; *bad when it cannot be a line.
const char* LineEnd(const char* p, const char* end, bool* bad) {
  const size_t avail = static_cast<size_t>(end - p);
  const void* cr = std::memchr(p, '\r', avail < kMaxLineBytes ? avail : kMaxLineBytes);
  if (cr == nullptr) {
    *bad = avail >= kMaxLineBytes;
    return nullptr;
  }
  const char* c = static_cast<const char*>(cr);
  if (c + 1 >= end) return nullptr;  // the '\n' has not arrived
  if (c[1] != '\n') *bad = true;
  return c;
}

// A RESP integer: optional '-', 1-19 digits.
bool ParseInteger(const char* p, const char* e, long long* out) {
  bool negative = false;
  if (p < e && *p == '-') {
    negative = true;
    ++p;
  }
  if (p == e || e - p > 19) return false;
  unsigned long long v = 0;
  for (; p < e; ++p) {
    if (*p < '0' || *p > '9') return false;
    v = v * 10 + static_cast<unsigned>(*p - '0');
  }
  if (v > static_cast<unsigned long long>(INT64_MAX)) return false;
  *out = negative ? -static_cast<long long>(v) : static_cast<long long>(v);
  return true;
}

// One reply at data[0, size): bytes taken, 0 when incomplete, -1 when not RESP. `out` null:
// skip it (an array's element).
int64_t Parse(const char* data, size_t size, RedisReply* out, uint8_t* value_out, size_t value_size,
              int depth) {
  if (size == 0) return 0;
  const char* const end = data + size;
  const char* p = data + 1;
  bool bad = false;
  const char* line_end = LineEnd(p, end, &bad);
  if (bad) return -1;
  if (line_end == nullptr) return 0;
  const int64_t line_bytes = line_end + 2 - data;
  long long n = 0;
  switch (data[0]) {
    case '+':
    case '-':
      if (out != nullptr) {
        out->kind = data[0] == '+' ? RedisReply::Kind::kStatus : RedisReply::Kind::kError;
        out->str.assign(p, static_cast<size_t>(line_end - p));
      }
      return line_bytes;
    case ':':
      if (!ParseInteger(p, line_end, &n)) return -1;
      if (out != nullptr) {
        out->kind = RedisReply::Kind::kInteger;
        out->integer = n;
      }
      return line_bytes;
    case '$': {
      if (!ParseInteger(p, line_end, &n) || n < -1 || n > kMaxBulkBytes) return -1;
      if (n == -1) {
        if (out != nullptr) out->kind = RedisReply::Kind::kNil;
        return line_bytes;
      }
      const size_t len = static_cast<size_t>(n);
      if (size - static_cast<size_t>(line_bytes) < len + 2) return 0;
      const char* bytes = data + line_bytes;
      if (bytes[len] != '\r' || bytes[len + 1] != '\n') return -1;
      if (out != nullptr) {
        out->kind = RedisReply::Kind::kString;
        if (value_out != nullptr && len == value_size) {
          std::memcpy(value_out, bytes, len);
          out->in_place = true;
        } else {
          out->str.assign(bytes, len);
        }
      }
      return line_bytes + static_cast<int64_t>(len) + 2;
    }
    case '*': {
      if (!ParseInteger(p, line_end, &n) || n < -1 || depth >= kMaxDepth) return -1;
      int64_t taken = line_bytes;
      for (long long i = 0; i < n; ++i) {
        const int64_t k =
            Parse(data + taken, size - static_cast<size_t>(taken), nullptr, nullptr, 0, depth + 1);
        if (k <= 0) return k;
        taken += k;
      }
      if (out != nullptr) out->kind = n == -1 ? RedisReply::Kind::kNil : RedisReply::Kind::kArray;
      return taken;
    }
    default:
      return -1;
  }
}

}  // namespace

int64_t ParseRespReply(const char* data, size_t size, RedisReply* out, uint8_t* value_out,
                       size_t value_size) {
  out->kind = RedisReply::Kind::kFailed;
  out->failure = RedisReply::Failure::kNone;
  out->in_place = false;
  out->str.clear();
  out->integer = 0;
  const int64_t taken = Parse(data, size, out, value_out, value_size, 0);
  if (taken <= 0) {
    out->kind = RedisReply::Kind::kFailed;
    out->in_place = false;
  }
  return taken;
}

}  // namespace rankopt
