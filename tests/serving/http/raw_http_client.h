// A raw HTTP/1.1 client over loopback sockets for the front end's tests: what a slow, pipelining
// or hostile client sends, byte for byte, and the answers read back by Content-Length. Every
// socket call is bounded by a receive/send timeout. Also the requests the tests send and the
// /metrics samples they read.
#ifndef RANKOPT_TESTS_SERVING_HTTP_RAW_HTTP_CLIENT_H_
#define RANKOPT_TESTS_SERVING_HTTP_RAW_HTTP_CLIENT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace rankopt {

// One answer: status, headers (as text), body.
struct RawResponse {
  int status = 0;
  std::string head;
  std::string body;
  bool closes() const { return absl::StrContains(head, "Connection: close"); }
};

class RawConnection {
 public:
  // Connects to 127.0.0.1:port; ok() false on failure.
  explicit RawConnection(int port, double timeout_s = 30) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{static_cast<time_t>(timeout_s),
               static_cast<suseconds_t>((timeout_s - static_cast<time_t>(timeout_s)) * 1e6)};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) Close();
  }
  ~RawConnection() { Close(); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // Sends all of `data`; false when the server closed or reset the connection.
  bool Send(absl::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one answer (a 100 Continue is skipped); false on close, reset or timeout first.
  bool Read(RawResponse* out) {
    while (true) {
      size_t end;
      while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
        if (!Fill()) return false;
      }
      out->head = buffer_.substr(0, end + 2);
      buffer_.erase(0, end + 4);
      const std::vector<absl::string_view> first = absl::StrSplit(out->head, ' ');
      if (first.size() < 2 || !absl::SimpleAtoi(first[1], &out->status)) return false;
      if (out->status == 100) continue;
      size_t length = 0;
      for (absl::string_view line : absl::StrSplit(out->head, "\r\n")) {
        if (absl::StartsWithIgnoreCase(line, "Content-Length:")) {
          if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(15)), &length)) {
            return false;
          }
        }
      }
      while (buffer_.size() < length) {
        if (!Fill()) return false;
      }
      out->body = buffer_.substr(0, length);
      buffer_.erase(0, length);
      return true;
    }
  }

  // True when the server closed the connection (read returns 0 or a reset) within the timeout.
  bool ClosedByServer() {
    char c;
    const ssize_t n = ::recv(fd_, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  bool Fill() {
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buffer_;
};

// This process's resident set (VmRSS), in bytes; -1 when unreadable.
inline int64_t ResidentBytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view v = line;
    if (!absl::ConsumePrefix(&v, "VmRSS:")) continue;
    v = absl::StripAsciiWhitespace(v);
    absl::ConsumeSuffix(&v, " kB");
    int64_t kb = 0;
    return absl::SimpleAtoi(v, &kb) ? kb * 1024 : -1;
  }
  return -1;
}

// A POST of `body` to /v1/models/<model>:predict, with `extra_headers` ("Name: value\r\n"...).
inline std::string PostPredict(const std::string& model, const std::string& body,
                               const std::string& extra_headers = "") {
  return absl::StrCat("POST /v1/models/", model, ":predict HTTP/1.1\r\nHost: t\r\n", extra_headers,
                      "Content-Length: ", body.size(), "\r\n\r\n", body);
}

inline std::string Get(const std::string& path) {
  return absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: t\r\n\r\n");
}

// The value of the sample line that starts with `prefix` in Prometheus text; -1 when absent.
inline int64_t Sample(const std::string& metrics, const std::string& prefix) {
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    if (!absl::ConsumePrefix(&line, prefix) || !absl::ConsumePrefix(&line, " ")) continue;
    int64_t v = 0;
    return absl::SimpleAtoi(line, &v) ? v : -1;
  }
  return -1;
}

// The sum of the sample lines that start with `prefix` (e.g. a family and its opening brace).
inline int64_t SampleSum(const std::string& metrics, const std::string& prefix) {
  int64_t sum = 0;
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    if (!absl::ConsumePrefix(&line, prefix)) continue;
    const size_t space = line.rfind(' ');
    int64_t v = 0;
    if (space != absl::string_view::npos && absl::SimpleAtoi(line.substr(space + 1), &v)) sum += v;
  }
  return sum;
}

// GET /metrics of the server on 127.0.0.1:port over a fresh connection; empty on failure.
inline std::string Metrics(int port) {
  RawConnection c(port);
  RawResponse r;
  if (!c.Send(Get("/metrics")) || !c.Read(&r)) return "";
  return r.body;
}

}  // namespace rankopt

#endif  // RANKOPT_TESTS_SERVING_HTTP_RAW_HTTP_CLIENT_H_
