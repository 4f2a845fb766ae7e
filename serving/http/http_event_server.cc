// HttpEventServer (http_event_server.h): libevent loops (event_base + plain socket events; the
// framing is HttpRequestParser's), a FIFO worker pool, and answers posted back to the loops.
#include "serving/http/http_event_server.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace rankopt {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kReadChunk = 64 << 10;
constexpr int kReadsPerWakeup = 4;          // then other connections get their turn
constexpr size_t kOutputBacklog = 1 << 20;  // unsent answer bytes that pause reading
constexpr double kLingerSeconds = 2;        // reading (and dropping) after a closing answer
constexpr double kStopGraceSeconds = 10;    // Stop() waits this long for answers in flight

timeval ToTimeval(Clock::duration d) {
  if (d < Clock::duration::zero()) d = Clock::duration::zero();
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return timeval{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
}

Clock::duration Seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

void ReleaseMemory() { malloc_trim(0); }

// Runs a route's handler; an exception (std::bad_alloc from a request too large for this machine)
// becomes a 500 instead of ending the process.
void RunHandler(const HttpHandler& handler, const HttpRequest& request,
                const HttpRouteParams& params, const HttpEventServerHooks& hooks,
                HttpResponse* response) {
  try {
    handler(request, params, response);
  } catch (const std::exception& e) {
    *response = hooks.error(500, "exception", absl::StrCat("the request failed: ", e.what()));
  }
}

class Loop;
class Connection;

// A request handed to a worker.
struct Job {
  Loop* loop = nullptr;
  uint64_t connection = 0;
  const HttpRoute* route = nullptr;
  HttpRouteParams params;
  HttpRequest request;
};

struct Completion {
  uint64_t connection = 0;
  HttpResponse response;
};

}  // namespace

class HttpEventServer::Impl {
 public:
  Impl(const HttpEventServerOptions& options, const HttpRouter* router, HttpEventServerHooks hooks)
      : options_(options), router_(router), hooks_(std::move(hooks)) {}
  ~Impl();

  absl::Status Listen();
  void Start();
  void Stop();

  // Worker pool.
  void Push(std::unique_ptr<Job> job);
  void WorkerMain();

  // Called by loop 0 for the listening socket.
  void Accept();
  void PauseAccepting();

  void LoopEnded() {
    if (loops_running_.fetch_sub(1) == 1) done_.store(true);
  }

  const HttpEventServerOptions options_;
  const HttpRouter* const router_;
  const HttpEventServerHooks hooks_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> loop_threads_;
  size_t next_loop_ = 0;
  event* accept_event_ = nullptr;
  event* accept_resume_ = nullptr;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> started_{false};
  std::atomic<bool> done_{false};
  std::atomic<int> loops_running_{0};

  std::atomic<int64_t> accepted_{0};
  std::atomic<int64_t> refused_{0};
  std::atomic<int64_t> open_{0};
  std::atomic<int64_t> timed_out_{0};

  std::mutex jobs_mu_;
  std::condition_variable jobs_cv_;
  std::deque<std::unique_ptr<Job>> jobs_;
  bool workers_stop_ = false;
  std::vector<std::thread> workers_;
};

namespace {

// One event loop and the connections it owns. Post/Adopt/RequestStop are safe from any thread;
// everything else runs on the loop's thread.
class Loop {
 public:
  Loop(HttpEventServer::Impl* server, size_t index) : server_(server), index_(index) {
    base_ = event_base_new();
    wake_ = event_new(base_, -1, 0, &Loop::OnWakeCb, this);
    grace_ = evtimer_new(base_, &Loop::OnGraceCb, this);
  }
  ~Loop();

  bool ok() const { return base_ != nullptr && wake_ != nullptr && grace_ != nullptr; }
  event_base* base() const { return base_; }
  size_t index() const { return index_; }
  HttpEventServer::Impl* server() const { return server_; }
  bool stopping() const { return stopping_; }

  void Run() {
    event_base_loop(base_, EVLOOP_NO_EXIT_ON_EMPTY);
    server_->LoopEnded();
  }

  void Post(Completion c) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      completions_.push_back(std::move(c));
    }
    event_active(wake_, EV_READ, 0);
  }
  void Adopt(int fd) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      new_fds_.push_back(fd);
    }
    event_active(wake_, EV_READ, 0);
  }
  void RequestStop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_requested_ = true;
    }
    event_active(wake_, EV_READ, 0);
  }

  // Drops a closed connection (after its callback returned).
  void Erase(uint64_t id);
  void MaybeExit() {
    if (stopping_ && connections_.empty()) event_base_loopexit(base_, nullptr);
  }

 private:
  static void OnWakeCb(evutil_socket_t, short, void* arg) { static_cast<Loop*>(arg)->OnWake(); }
  static void OnGraceCb(evutil_socket_t, short, void* arg) {
    event_base_loopbreak(static_cast<Loop*>(arg)->base_);
  }
  void OnWake();
  void StartStopping();

  HttpEventServer::Impl* const server_;
  const size_t index_;
  event_base* base_ = nullptr;
  event* wake_ = nullptr;
  event* grace_ = nullptr;
  std::mutex mu_;
  std::vector<int> new_fds_;
  std::vector<Completion> completions_;
  bool stop_requested_ = false;
  bool stopping_ = false;
  uint64_t next_id_ = 1;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Connection>> connections_;
};

class Connection {
 public:
  Connection(Loop* loop, uint64_t id, int fd)
      : loop_(loop), server_(loop->server()), id_(id), fd_(fd), parser_(server_->options_.limits) {}
  ~Connection() { Close(); }

  uint64_t id() const { return id_; }
  bool closed() const { return fd_ < 0; }

  void Start() {
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    read_ev_ = event_new(loop_->base(), fd_, EV_READ | EV_PERSIST, &Connection::OnReadCb, this);
    write_ev_ = event_new(loop_->base(), fd_, EV_WRITE | EV_PERSIST, &Connection::OnWriteCb, this);
    timer_ev_ = evtimer_new(loop_->base(), &Connection::OnTimerCb, this);
    idle_since_ = Clock::now();
    Update();
  }

  // The answer of this connection's request in flight.
  void Complete(HttpResponse response) {
    in_flight_ = false;
    Respond(std::move(response));
    if (closed()) return;
    Process();
  }

  // Stop(): idle connections close now; one with an answer in flight or unsent closes after it.
  void Stop() {
    closing_ = true;
    if (!in_flight_ && out_.size() == out_sent_) {
      Close();
      return;
    }
    Update();
  }

  void Close() {
    if (fd_ < 0) return;
    for (event** e : {&read_ev_, &write_ev_, &timer_ev_}) {
      if (*e != nullptr) event_free(*e);
      *e = nullptr;
    }
    ::close(fd_);
    fd_ = -1;
    server_->open_.fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  static void OnReadCb(evutil_socket_t, short, void* arg) { Dispatch(arg, &Connection::OnRead); }
  static void OnWriteCb(evutil_socket_t, short, void* arg) { Dispatch(arg, &Connection::Flush); }
  static void OnTimerCb(evutil_socket_t, short, void* arg) { Dispatch(arg, &Connection::OnTimer); }
  static void Dispatch(void* arg, void (Connection::*method)()) {
    Connection* c = static_cast<Connection*>(arg);
    (c->*method)();
    if (c->closed()) c->loop_->Erase(c->id_);
  }

  const HttpEventServerOptions& options() const { return server_->options_; }
  bool output_pending() const { return out_sent_ < out_.size(); }

  void OnRead() {
    char buf[kReadChunk];
    for (int i = 0; i < kReadsPerWakeup; ++i) {
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
        Close();
        return;
      }
      if (n == 0) {
        peer_done_ = true;
        if (lingering_ || (!in_flight_ && !output_pending())) {
          Close();
          return;
        }
        break;
      }
      if (lingering_) continue;  // after a closing answer: drop what still comes
      in_.append(buf, static_cast<size_t>(n));
      Process();
      if (closed()) return;
      if (in_flight_ || closing_ || output_pending()) break;
    }
    Update();
  }

  // Frames requests from in_ while nothing is in flight and the answers are being taken.
  void Process() {
    if (processing_) return;  // an inline answer flushed from inside the loop below
    processing_ = true;
    while (!in_flight_ && !closing_ && !closed() && out_.size() - out_sent_ < kOutputBacklog) {
      size_t consumed = 0;
      const HttpRequestParser::Result r = parser_.Parse(in_, &consumed);
      in_.erase(0, consumed);
      const Clock::time_point now = Clock::now();
      if (parser_.started() && !head_started_) {
        head_started_ = true;
        head_deadline_ = now + Seconds(options().header_timeout_s);
      }
      if (parser_.head_done() && !body_started_) {
        body_started_ = true;
        body_deadline_ = now + Seconds(options().body_timeout_s);
      }
      if (r == HttpRequestParser::Result::kNeedMore) {
        if (parser_.expects_continue() && !sent_continue_) {
          sent_continue_ = true;
          out_.append("HTTP/1.1 100 Continue\r\n\r\n");
          Flush();
        }
        break;
      }
      if (r == HttpRequestParser::Result::kError) {
        const HttpParseError& e = parser_.error();
        path_ = parser_.request().path;
        HttpResponse response = server_->hooks_.error(e.status, e.reason, e.message);
        response.close = true;
        Respond(std::move(response));
        break;
      }
      StartRequest();
    }
    processing_ = false;
    if (closed()) return;
    if (peer_done_ && !in_flight_ && !output_pending() && !lingering_) {
      Close();
      return;
    }
    Update();
  }

  void StartRequest() {
    HttpRequest& request = parser_.request();
    path_ = request.path;
    keep_alive_ = request.keep_alive;
    http10_ = request.minor_version == 0;
    // HEAD is GET without the body (RFC 9110 9.3.2): routed as GET, answered with headers only.
    head_only_ = request.method == "HEAD";
    if (head_only_) request.method = "GET";
    big_ = request.body.size() >= options().trim_bytes;
    HttpRouteParams params;
    const HttpRoute* route = server_->router_->Match(request.method, request.path, &params);
    if (route == nullptr || route->run_inline) {
      HttpResponse response;
      RunHandler(route == nullptr ? server_->hooks_.not_found : route->handler, request, params,
                 server_->hooks_, &response);
      ResetRequest();
      Respond(std::move(response));
      return;
    }
    auto job = std::make_unique<Job>();
    job->loop = loop_;
    job->connection = id_;
    job->route = route;
    job->params = std::move(params);
    job->request = std::move(request);
    ResetRequest();
    in_flight_ = true;
    server_->Push(std::move(job));
  }

  void ResetRequest() {
    parser_.Reset(options().trim_bytes);
    head_started_ = body_started_ = sent_continue_ = false;
  }

  void Respond(HttpResponse response) {
    answered_ = true;
    if (server_->hooks_.observe) server_->hooks_.observe(path_, response);
    if (response.close || !keep_alive_ || loop_->stopping()) closing_ = true;
    absl::StrAppend(&out_, "HTTP/1.1 ", response.status, " ", HttpStatusText(response.status),
                    "\r\nContent-Type: ", response.content_type,
                    "\r\nContent-Length: ", response.body.size(),
                    closing_  ? "\r\nConnection: close\r\n\r\n"
                    : http10_ ? "\r\nConnection: keep-alive\r\n\r\n"
                              : "\r\n\r\n");
    if (!head_only_) out_.append(response.body);
    head_only_ = false;
    big_ = big_ || response.body.size() >= options().trim_bytes ||
           parser_.request().body.capacity() >= options().trim_bytes ||
           in_.capacity() >= options().trim_bytes;
    idle_since_ = Clock::now();
    last_write_ = idle_since_;
    Flush();
  }

  void Flush() {
    while (output_pending()) {
      const ssize_t n = ::send(fd_, out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        Close();
        return;
      }
      out_sent_ += static_cast<size_t>(n);
      last_write_ = Clock::now();
    }
    if (!output_pending()) {
      out_.clear();
      out_sent_ = 0;
      if (closing_ && !in_flight_ && !lingering_) {
        StartLinger();
        return;
      }
      if (big_ && !in_flight_) ReleaseBuffers();
      idle_since_ = Clock::now();
      if (!in_flight_ && !closing_ && !processing_) {
        Process();  // pipelined requests waiting for the answers to drain, or the client's FIN
        return;
      }
    }
    Update();
  }

  // After a closing answer: half-close, then read and drop what the client still sends (so it
  // sees the answer rather than a reset) for a short while.
  void StartLinger() {
    if (peer_done_ || loop_->stopping()) {
      Close();
      return;
    }
    ::shutdown(fd_, SHUT_WR);
    lingering_ = true;
    ReleaseBuffers();
    linger_deadline_ = Clock::now() + Seconds(kLingerSeconds);
    Update();
  }

  // A large request or answer: give its buffers and the heap's free pages back.
  void ReleaseBuffers() {
    const bool big = big_;
    big_ = false;
    if (!output_pending()) std::string().swap(out_);
    if (lingering_) {
      std::string().swap(in_);
    } else if (in_.capacity() > options().trim_bytes) {
      std::string(in_).swap(in_);
    }
    if (lingering_ || !parser_.started()) {
      parser_.Reset(options().trim_bytes);
      head_started_ = body_started_ = sent_continue_ = false;
    }
    if (big) ReleaseMemory();
  }

  void OnTimer() {
    const Clock::time_point now = Clock::now();
    if (lingering_) {
      if (now >= linger_deadline_) return Close();
    } else if (in_flight_) {
      // A worker has the request; the timeouts start again with its answer.
    } else if (output_pending()) {
      if (now >= last_write_ + Seconds(options().idle_timeout_s)) return TimedOut();
    } else if (body_started_) {
      if (now >= body_deadline_) {
        return Refuse(408, "body_timeout",
                      absl::StrCat("the request body did not arrive within ",
                                   options().body_timeout_s, " s (--body-timeout-s)"));
      }
    } else if (head_started_) {
      if (now >= head_deadline_) {
        return Refuse(408, "header_timeout",
                      absl::StrCat("the request line and headers did not arrive within ",
                                   options().header_timeout_s, " s (--header-timeout-s)"));
      }
    } else if (now >= idle_since_ + IdleTimeout()) {
      return TimedOut();
    }
    Update();
  }

  void TimedOut() {
    server_->timed_out_.fetch_add(1, std::memory_order_relaxed);
    Close();
  }

  void Refuse(int status, const std::string& reason, const std::string& message) {
    server_->timed_out_.fetch_add(1, std::memory_order_relaxed);
    path_ = parser_.request().path;
    HttpResponse response = server_->hooks_.error(status, reason, message);
    response.close = true;
    Respond(std::move(response));
  }

  // Before its first request a connection gets the header time, not the (longer) idle time.
  Clock::duration IdleTimeout() const {
    return Seconds(answered_ ? options().idle_timeout_s
                             : std::min(options().idle_timeout_s, options().header_timeout_s));
  }

  // Sets the read and write interest and the timer from the state.
  void Update() {
    if (closed()) return;
    const bool want_read =
        lingering_ || (!in_flight_ && !closing_ && !peer_done_ && !output_pending());
    if (want_read != reading_) {
      want_read ? event_add(read_ev_, nullptr) : event_del(read_ev_);
      reading_ = want_read;
    }
    const bool want_write = output_pending();
    if (want_write != writing_) {
      want_write ? event_add(write_ev_, nullptr) : event_del(write_ev_);
      writing_ = want_write;
    }
    Clock::time_point deadline;
    if (lingering_) {
      deadline = linger_deadline_;
    } else if (in_flight_) {
      event_del(timer_ev_);
      return;
    } else if (output_pending()) {
      deadline = last_write_ + Seconds(options().idle_timeout_s);
    } else if (body_started_) {
      deadline = body_deadline_;
    } else if (head_started_) {
      deadline = head_deadline_;
    } else {
      deadline = idle_since_ + IdleTimeout();
    }
    const timeval tv = ToTimeval(deadline - Clock::now());
    event_add(timer_ev_, &tv);
  }

  Loop* const loop_;
  HttpEventServer::Impl* const server_;
  const uint64_t id_;
  int fd_;
  event* read_ev_ = nullptr;
  event* write_ev_ = nullptr;
  event* timer_ev_ = nullptr;
  bool reading_ = false;
  bool writing_ = false;

  HttpRequestParser parser_;
  std::string in_;
  std::string out_;
  size_t out_sent_ = 0;
  std::string path_;  // of the request being answered, for the observer
  bool keep_alive_ = true;
  bool in_flight_ = false;
  bool closing_ = false;  // no request after the one being answered
  bool lingering_ = false;
  bool peer_done_ = false;  // the client sent FIN
  bool big_ = false;
  bool head_started_ = false;
  bool body_started_ = false;
  bool sent_continue_ = false;
  bool processing_ = false;
  bool answered_ = false;
  bool http10_ = false;
  bool head_only_ = false;  // the request being answered is a HEAD
  Clock::time_point idle_since_;
  Clock::time_point last_write_;
  Clock::time_point head_deadline_;
  Clock::time_point body_deadline_;
  Clock::time_point linger_deadline_;
};

Loop::~Loop() {
  connections_.clear();
  for (event* e : {wake_, grace_}) {
    if (e != nullptr) event_free(e);
  }
  if (base_ != nullptr) event_base_free(base_);
}

void Loop::Erase(uint64_t id) {
  connections_.erase(id);
  MaybeExit();
}

void Loop::OnWake() {
  std::vector<int> fds;
  std::vector<Completion> completions;
  bool stop = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fds.swap(new_fds_);
    completions.swap(completions_);
    stop = stop_requested_;
  }
  for (int fd : fds) {
    if (stopping_) {
      ::close(fd);
      server_->open_.fetch_sub(1, std::memory_order_relaxed);
      continue;
    }
    const uint64_t id = next_id_++;
    auto c = std::make_unique<Connection>(this, id, fd);
    Connection* raw = c.get();
    connections_.emplace(id, std::move(c));
    raw->Start();
  }
  for (Completion& done : completions) {
    auto it = connections_.find(done.connection);
    if (it == connections_.end()) continue;  // the client went away meanwhile
    Connection* c = it->second.get();
    c->Complete(std::move(done.response));
    if (c->closed()) connections_.erase(done.connection);
  }
  if (stop && !stopping_) StartStopping();
  MaybeExit();
}

void Loop::StartStopping() {
  stopping_ = true;
  if (index_ == 0) {
    if (server_->accept_event_ != nullptr) event_del(server_->accept_event_);
    if (server_->accept_resume_ != nullptr) event_del(server_->accept_resume_);
  }
  std::vector<uint64_t> ids;
  for (const auto& [id, c] : connections_) ids.push_back(id);
  for (uint64_t id : ids) {
    Connection* c = connections_[id].get();
    c->Stop();
    if (c->closed()) connections_.erase(id);
  }
  const timeval grace = ToTimeval(Seconds(kStopGraceSeconds));
  evtimer_add(grace_, &grace);
}

}  // namespace

HttpEventServer::Impl::~Impl() {
  Stop();
  for (event* e : {accept_event_, accept_resume_}) {
    if (e != nullptr) event_free(e);
  }
  loops_.clear();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

absl::Status HttpEventServer::Impl::Listen() {
  static std::once_flag threads_once;
  std::call_once(threads_once, [] { evthread_use_pthreads(); });
  // Room for max_connections descriptors (and some for the rest of the process), as far as the
  // hard limit allows; past it accept() fails with EMFILE and accepting pauses briefly.
  rlimit files{};
  const rlim_t want = static_cast<rlim_t>(options_.max_connections) + 256;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < want) {
    files.rlim_cur = std::min(want, files.rlim_max);
    setrlimit(RLIMIT_NOFILE, &files);
  }
  const std::string where = absl::StrCat(options_.host, " port ", options_.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(options_.port);
  if (getaddrinfo(options_.host.c_str(), service.c_str(), &hints, &found) != 0 ||
      found == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", where, ": '", options_.host,
                                               "' is not an address of this machine"));
  }
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, 1024) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", where,
        ": the port is in use, or the address is not one of this machine's (try --port 0 "
        "for a free port)"));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  listen_fd_ = fd;

  const int io_threads = std::max(1, options_.io_threads);
  for (int i = 0; i < io_threads; ++i) {
    loops_.push_back(std::make_unique<Loop>(this, static_cast<size_t>(i)));
    if (!loops_.back()->ok()) return absl::InternalError("cannot create a libevent event loop");
  }
  accept_event_ = event_new(
      loops_[0]->base(), listen_fd_, EV_READ | EV_PERSIST,
      [](evutil_socket_t, short, void* arg) { static_cast<Impl*>(arg)->Accept(); }, this);
  accept_resume_ = evtimer_new(
      loops_[0]->base(),
      [](evutil_socket_t, short, void* arg) {
        Impl* impl = static_cast<Impl*>(arg);
        if (!impl->stopping_.load()) event_add(impl->accept_event_, nullptr);
      },
      this);
  if (accept_event_ == nullptr || accept_resume_ == nullptr) {
    return absl::InternalError("cannot create the libevent accept event");
  }
  return absl::OkStatus();
}

void HttpEventServer::Impl::Start() {
  if (started_.exchange(true)) return;
  event_add(accept_event_, nullptr);
  loops_running_.store(static_cast<int>(loops_.size()));
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this] { WorkerMain(); });
  }
  for (auto& loop : loops_) {
    Loop* l = loop.get();
    loop_threads_.emplace_back([l] { l->Run(); });
  }
}

void HttpEventServer::Impl::Stop() {
  if (!started_.load()) return;
  stopping_.store(true);
  for (auto& loop : loops_) loop->RequestStop();
  for (std::thread& t : loop_threads_) {
    if (t.joinable()) t.join();
  }
  // Connections still in the listen backlog are refused (reset) rather than left waiting.
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
  {
    std::lock_guard<std::mutex> lock(jobs_mu_);
    workers_stop_ = true;
  }
  jobs_cv_.notify_all();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  done_.store(true);
}

void HttpEventServer::Impl::Push(std::unique_ptr<Job> job) {
  {
    std::lock_guard<std::mutex> lock(jobs_mu_);
    jobs_.push_back(std::move(job));
  }
  jobs_cv_.notify_one();
}

void HttpEventServer::Impl::WorkerMain() {
  while (true) {
    std::unique_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(jobs_mu_);
      jobs_cv_.wait(lock, [this] { return workers_stop_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    Completion done;
    done.connection = job->connection;
    RunHandler(job->route->handler, job->request, job->params, hooks_, &done.response);
    const bool big = job->request.body.capacity() >= options_.trim_bytes;
    Loop* loop = job->loop;
    job.reset();
    if (big) ReleaseMemory();
    loop->Post(std::move(done));
  }
}

void HttpEventServer::Impl::Accept() {
  for (int i = 0; i < 64; ++i) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        PauseAccepting();
        return;
      }
      if (hooks_.log) {
        hooks_.log(absl::StrCat("the listening socket failed: ", std::strerror(errno)));
      }
      for (auto& loop : loops_) loop->RequestStop();
      return;
    }
    accepted_.fetch_add(1, std::memory_order_relaxed);
    if (open_.load(std::memory_order_relaxed) >= static_cast<int64_t>(options_.max_connections)) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      HttpResponse response =
          hooks_.error(503, "too_many_connections",
                       absl::StrCat("the server has ", options_.max_connections,
                                    " connections open (--max-connections); retry later"));
      if (hooks_.observe) hooks_.observe("", response);
      const std::string text =
          absl::StrCat("HTTP/1.1 503 Service Unavailable\r\nContent-Type: ", response.content_type,
                       "\r\nContent-Length: ", response.body.size(),
                       "\r\nConnection: close\r\n\r\n", response.body);
      (void)::send(fd, text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::shutdown(fd, SHUT_WR);
      ::close(fd);
      continue;
    }
    open_.fetch_add(1, std::memory_order_relaxed);
    loops_[next_loop_++ % loops_.size()]->Adopt(fd);
  }
}

void HttpEventServer::Impl::PauseAccepting() {
  // Out of descriptors: stop watching the socket for a moment instead of spinning on it.
  event_del(accept_event_);
  const timeval pause = ToTimeval(std::chrono::milliseconds(100));
  evtimer_add(accept_resume_, &pause);
}

absl::StatusOr<std::unique_ptr<HttpEventServer>> HttpEventServer::Create(
    const HttpEventServerOptions& options, const HttpRouter* router, HttpEventServerHooks hooks) {
  auto impl = std::make_unique<Impl>(options, router, std::move(hooks));
  const absl::Status listening = impl->Listen();
  if (!listening.ok()) return listening;
  return std::unique_ptr<HttpEventServer>(new HttpEventServer(std::move(impl)));
}

HttpEventServer::HttpEventServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpEventServer::~HttpEventServer() = default;
int HttpEventServer::port() const { return impl_->port_; }
void HttpEventServer::Start() { impl_->Start(); }
void HttpEventServer::Stop() { impl_->Stop(); }
bool HttpEventServer::done() const { return impl_->done_.load(); }

HttpConnectionStats HttpEventServer::connection_stats() const {
  HttpConnectionStats s;
  s.accepted = impl_->accepted_.load(std::memory_order_relaxed);
  s.refused = impl_->refused_.load(std::memory_order_relaxed);
  s.open = impl_->open_.load(std::memory_order_relaxed);
  s.timed_out = impl_->timed_out_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace rankopt
