#include "graph/exec/chunked_runner.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rankopt/status_macros.h"
#include "tbb/blocked_range.h"
#include "tbb/info.h"
#include "tbb/parallel_for.h"
#include "tbb/partitioner.h"
#include "tbb/task_arena.h"

// TBB's spawn/run and finish/wait happen inside libtbb, which is not built with ThreadSanitizer:
// under TSan, say where they order our memory accesses.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RANKOPT_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define RANKOPT_TSAN 1
#endif
#ifdef RANKOPT_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace rankopt {

struct ChunkedRunner::Arena {
  // More slots than the machine has threads only makes TBB warn; the work is the same.
  explicit Arena(int threads)
      : arena(std::max(1, std::min(threads, tbb::info::default_concurrency()))) {}
  tbb::task_arena arena;
};

namespace {

// TBB hands work to other threads and joins them inside libtbb, which is not built with
// ThreadSanitizer; these tell TSan what TBB guarantees: the caller's writes before a parallel
// loop are seen by every task, and every task's writes by the caller after it. Tasks stay
// unordered among themselves, so races between chunks are still found. The tags are shared by
// all runs because the closures TBB hands over are read before a per-run tag could be; that only
// orders concurrent RunChunked calls more than TBB does.
#ifdef RANKOPT_TSAN
char tsan_spawn_tag;
char tsan_join_tag;
inline void TbbSpawn() { __tsan_release(&tsan_spawn_tag); }
inline void TbbTaskStart() { __tsan_acquire(&tsan_spawn_tag); }
inline void TbbTaskEnd() { __tsan_release(&tsan_join_tag); }
inline void TbbJoined() { __tsan_acquire(&tsan_join_tag); }
#else
inline void TbbSpawn() {}
inline void TbbTaskStart() {}
inline void TbbTaskEnd() {}
inline void TbbJoined() {}
#endif

constexpr int64_t kMaxAutoChunkRows = 64;
constexpr int64_t kMinAutoChunkRows = 16;
constexpr size_t kBufferAlignment = 64;

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Rows [begin, begin + rows) of axis 0 of `v`: a view, no copy.
void RowSlice(const TensorView& v, int64_t begin, int64_t rows, TensorView* slice) {
  const int64_t full_rows = v.dims[0];
  const size_t row_bytes = full_rows == 0 ? 0 : v.ByteSize() / full_rows;
  *slice = v;
  slice->dims[0] = rows;
  if (v.data != nullptr) slice->data = static_cast<char*>(v.data) + row_bytes * begin;
}

// Whether `o` can be a chunk of `rows` rows of a concatenated output.
bool RowAligned(const TensorView& o, int64_t rows) {
  return IsFixedWidth(o.dtype) && o.rank() >= 1 && o.dims[0] == rows;
}

// Same dtype and dims past the first.
bool SameRowShape(const TensorView& a, const TensorView& b) {
  return a.dtype == b.dtype && a.rank() == b.rank() &&
         std::equal(a.dims.begin() + 1, a.dims.end(), b.dims.begin() + 1);
}

size_t RowBytes(const TensorView& v) {
  size_t bytes = DTypeSize(v.dtype);
  for (int d = 1; d < v.rank(); ++d) bytes *= static_cast<size_t>(v.dims[d]);
  return bytes;
}

// `chunk_feeds` named as `feeds`; names already equal are not copied again.
void NameFeeds(absl::Span<const NamedTensorView> feeds, std::vector<NamedTensorView>* chunk_feeds) {
  chunk_feeds->resize(feeds.size());
  for (size_t f = 0; f < feeds.size(); ++f) {
    std::string& name = (*chunk_feeds)[f].name;
    if (name != feeds[f].name) name = feeds[f].name;
  }
}

struct FreeAligned {
  void operator()(char* p) const { ::operator delete(p, std::align_val_t(kBufferAlignment)); }
};

// Bytes kept between requests; grows, never shrinks.
struct Buffer {
  std::unique_ptr<char, FreeAligned> data;
  size_t capacity = 0;

  absl::Status Reserve(size_t bytes) {
    if (bytes <= capacity) return absl::OkStatus();
    char* p =
        static_cast<char*>(::operator new(bytes, std::align_val_t(kBufferAlignment), std::nothrow));
    if (p == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("out of memory: cannot allocate ", bytes, " bytes for a chunked output"));
    }
    data.reset(p);
    capacity = bytes;
    return absl::OkStatus();
  }
};

}  // namespace

struct ChunkedOutputs::State {
  // The outputs: views[i] covers buffers[i].
  std::vector<TensorView> views;
  std::vector<Buffer> buffers;
  // The plan whose run last set views' dtypes and trailing dims, which then predict the next
  // request's (chunks check them); null when they predict nothing.
  const ExecutionPlan* layout_plan = nullptr;

  // Per-request scratch, kept for its capacity.
  std::vector<char> split;                               // per feed: rows are chunked
  std::vector<absl::Status> chunk_status;                // per chunk
  std::vector<std::vector<NamedTensorView>> slot_feeds;  // per arena slot: a chunk's feeds
  std::atomic<bool> misaligned{false};                   // a chunk output is not row-aligned
  std::atomic<bool> mismatched{false};                   // a chunk disagrees with the layout

  // Output i gets `v`'s dtype and dims (leading dim n) and room for them.
  absl::Status Shape(size_t i, const TensorView& v, int64_t n) {
    TensorView& out = views[i];
    out.dtype = v.dtype;
    out.dims = v.dims;
    out.dims[0] = n;
    return Size(i);
  }

  // Room for output i's dims; points its view at it.
  absl::Status Size(size_t i) {
    RANKOPT_RETURN_IF_ERROR(buffers[i].Reserve(views[i].ByteSize()));
    views[i].data = buffers[i].data.get();
    return absl::OkStatus();
  }
};

ChunkedOutputs::ChunkedOutputs() : state_(std::make_unique<State>()) {}
ChunkedOutputs::~ChunkedOutputs() = default;
ChunkedOutputs::ChunkedOutputs(ChunkedOutputs&&) noexcept = default;
ChunkedOutputs& ChunkedOutputs::operator=(ChunkedOutputs&&) noexcept = default;

absl::Span<const TensorView> ChunkedOutputs::views() const {
  if (state_ == nullptr) return {};
  return state_->views;
}

absl::Status ChunkedOutputs::CopyTo(std::vector<Tensor>* tensors) const {
  if (tensors == nullptr) return absl::InvalidArgumentError("ChunkedOutputs::CopyTo: null");
  tensors->clear();
  for (const TensorView& v : views()) {
    RANKOPT_ASSIGN_OR_RETURN(
        Tensor t,
        Tensor::FromBytes(v.dtype, std::vector<int64_t>(v.dims.begin(), v.dims.end()),
                          absl::string_view(static_cast<const char*>(v.data), v.ByteSize())));
    tensors->push_back(std::move(t));
  }
  return absl::OkStatus();
}

ChunkedRunner::ChunkedRunner(const ExecutionPlan* plan, ChunkedRunnerOptions options)
    : plan_(plan), options_(std::move(options)), arena_(std::make_unique<Arena>(options_.threads)) {
  if (options_.separability == Separability::kNever) {
    state_.store(SeparabilityState::kNotSeparable, std::memory_order_relaxed);
  }
}

ChunkedRunner::~ChunkedRunner() = default;

absl::StatusOr<std::unique_ptr<ChunkedRunner>> ChunkedRunner::Create(const ExecutionPlan* plan,
                                                                     ChunkedRunnerOptions options) {
  if (plan == nullptr) return absl::InvalidArgumentError("ChunkedRunner: the plan is null");
  if (options.threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("ChunkedRunner: threads is ", options.threads, "; expected at least 1"));
  }
  if (options.chunk_rows < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ChunkedRunner: chunk_rows is ", options.chunk_rows, "; expected > 0, or 0 for automatic"));
  }
  return std::unique_ptr<ChunkedRunner>(new ChunkedRunner(plan, std::move(options)));
}

int64_t ChunkedRunner::ChunkRowsFor(int64_t candidates) const {
  if (candidates <= 0) return 1;
  if (options_.chunk_rows > 0) return options_.chunk_rows;
  const int64_t threads = options_.threads;
  const int64_t max_rows =
      options_.max_auto_chunk_rows > 0 ? options_.max_auto_chunk_rows : kMaxAutoChunkRows;
  int64_t chunks = CeilDiv(CeilDiv(candidates, max_rows), threads) * threads;
  int64_t rows = CeilDiv(candidates, chunks);
  if (rows < kMinAutoChunkRows) rows = std::min(candidates, kMinAutoChunkRows);
  return rows;
}

bool ChunkedRunner::IsSplittable(const NamedTensorView& feed) const {
  if (feed.view.rank() < 1) return false;
  for (const std::string& name : options_.request_level_inputs) {
    if (name == feed.name) return false;
  }
  for (const ExecutionPlan::Input& in : plan_->inputs()) {
    if (in.name != feed.name) continue;
    return !(in.shape.known_rank() && in.shape.rank() >= 1 &&
             in.shape.dim(0) != Shape::kUnknownDim);
  }
  return true;  // unknown to the plan: Run reports it
}

int64_t ChunkedRunner::CandidateCount(absl::Span<const NamedTensorView> feeds) const {
  int64_t n = 0;
  for (const NamedTensorView& feed : feeds) {
    if (IsSplittable(feed)) n = std::max(n, feed.view.dims[0]);
  }
  return n;
}

absl::Status ChunkedRunner::Run(absl::Span<const NamedTensorView> feeds,
                                std::vector<Tensor>* outputs) const {
  if (outputs == nullptr) return absl::InvalidArgumentError("ChunkedRunner::Run: outputs is null");
  std::unique_ptr<ChunkedOutputs> kept;
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!pool_.empty()) {
      kept = std::move(pool_.back());
      pool_.pop_back();
    }
  }
  if (kept == nullptr) kept = std::make_unique<ChunkedOutputs>();
  absl::Status status = RunInto(feeds, kept.get());
  if (status.ok()) status = kept->CopyTo(outputs);
  std::lock_guard<std::mutex> lock(pool_mu_);
  pool_.push_back(std::move(kept));
  return status;
}

absl::Status ChunkedRunner::RunInto(absl::Span<const NamedTensorView> feeds,
                                    ChunkedOutputs* outputs) const {
  if (outputs == nullptr) {
    return absl::InvalidArgumentError("ChunkedRunner::RunInto: outputs is null");
  }
  if (outputs->state_ == nullptr) outputs->state_ = std::make_unique<ChunkedOutputs::State>();
  ChunkedOutputs::State* out = outputs->state_.get();
  const SeparabilityState state = separability();
  if (state == SeparabilityState::kNotSeparable) return RunWhole(feeds, out);
  const int64_t n = CandidateCount(feeds);
  const int64_t c = ChunkRowsFor(n);
  if (n <= 1 || c >= n) return RunWhole(feeds, out);

  bool aligned = true;
  if (options_.separability == Separability::kVerifyOnFirstRun &&
      state == SeparabilityState::kUnknown) {
    ChunkedOutputs::State chunked;
    RANKOPT_RETURN_IF_ERROR(RunChunked(feeds, n, c, &chunked, &aligned));
    RANKOPT_RETURN_IF_ERROR(RunWhole(feeds, out));
    bool same = aligned && chunked.views.size() == out->views.size();
    for (size_t i = 0; same && i < out->views.size(); ++i) {
      const TensorView& a = chunked.views[i];
      const TensorView& b = out->views[i];
      same = a.dtype == b.dtype && a.dims == b.dims &&
             (a.ByteSize() == 0 || std::memcmp(a.data, b.data, a.ByteSize()) == 0);
    }
    state_.store(same ? SeparabilityState::kSeparable : SeparabilityState::kNotSeparable,
                 std::memory_order_release);
    return absl::OkStatus();
  }
  RANKOPT_RETURN_IF_ERROR(RunChunked(feeds, n, c, out, &aligned));
  if (aligned) return absl::OkStatus();
  if (options_.separability == Separability::kAssume) {
    return absl::FailedPreconditionError(absl::StrCat(
        "chunked run of ", n, " candidates in chunks of ", c,
        " rows: an output's leading dim is not the chunk's row count, so the model is not "
        "row-separable; use Separability::kVerifyOnFirstRun or kNever for it"));
  }
  state_.store(SeparabilityState::kNotSeparable, std::memory_order_release);
  return RunWhole(feeds, out);
}

absl::Status ChunkedRunner::RunWhole(absl::Span<const NamedTensorView> feeds,
                                     ChunkedOutputs::State* out) const {
  return plan_->RunWithSink(feeds, [&](absl::Span<const TensorView> outs) -> absl::Status {
    out->views.resize(outs.size());
    out->buffers.resize(outs.size());
    // A whole run's dtypes and trailing dims are what row-aligned chunks would give.
    out->layout_plan = plan_;
    for (size_t i = 0; i < outs.size(); ++i) {
      const TensorView& o = outs[i];
      if (o.rank() < 1) out->layout_plan = nullptr;
      out->views[i].dtype = o.dtype;
      out->views[i].dims = o.dims;
      RANKOPT_RETURN_IF_ERROR(out->Size(i));
      if (o.ByteSize() > 0) std::memcpy(out->views[i].data, o.data, o.ByteSize());
    }
    return absl::OkStatus();
  });
}

absl::Status ChunkedRunner::RunChunk(absl::Span<const NamedTensorView> feeds, int64_t n,
                                     int64_t begin, int64_t rows, bool learn, int slot,
                                     ChunkedOutputs::State* out) const {
  // The chunk's feeds: the slot's, named by RunChunked, viewing `feeds`. A slot out of range
  // (TBB promises none) gets a fresh vector.
  std::vector<NamedTensorView> fresh;
  const bool in_range = slot >= 0 && static_cast<size_t>(slot) < out->slot_feeds.size();
  if (!in_range) NameFeeds(feeds, &fresh);
  std::vector<NamedTensorView>& chunk_feeds = in_range ? out->slot_feeds[slot] : fresh;
  for (size_t f = 0; f < feeds.size(); ++f) {
    NamedTensorView& feed = chunk_feeds[f];
    if (out->split[f]) {
      RowSlice(feeds[f].view, begin, rows, &feed.view);
    } else {
      feed.view = feeds[f].view;
    }
  }
  return plan_->RunWithSink(chunk_feeds, [&](absl::Span<const TensorView> outs) -> absl::Status {
    if (learn) {
      out->views.resize(outs.size());
      out->buffers.resize(outs.size());
      out->layout_plan = plan_;
    } else if (outs.size() != out->views.size()) {
      out->mismatched.store(true, std::memory_order_relaxed);
      return absl::OkStatus();
    }
    for (size_t i = 0; i < outs.size(); ++i) {
      if (!RowAligned(outs[i], rows)) {
        out->misaligned.store(true, std::memory_order_relaxed);
        return absl::OkStatus();
      }
      if (learn) {
        RANKOPT_RETURN_IF_ERROR(out->Shape(i, outs[i], n));
      } else if (!SameRowShape(outs[i], out->views[i])) {
        out->mismatched.store(true, std::memory_order_relaxed);
        return absl::OkStatus();
      }
    }
    for (size_t i = 0; i < outs.size(); ++i) {
      const size_t bytes = outs[i].ByteSize();
      if (bytes == 0) continue;
      std::memcpy(static_cast<char*>(out->views[i].data) + RowBytes(outs[i]) * begin, outs[i].data,
                  bytes);
    }
    return absl::OkStatus();
  });
}

absl::Status ChunkedRunner::RunChunked(absl::Span<const NamedTensorView> feeds, int64_t n,
                                       int64_t c, ChunkedOutputs::State* out, bool* aligned) const {
  const int64_t num_chunks = CeilDiv(n, c);
  out->split.resize(feeds.size());
  for (size_t f = 0; f < feeds.size(); ++f) {
    out->split[f] = IsSplittable(feeds[f]) && feeds[f].view.dims[0] == n;
  }
  out->chunk_status.assign(static_cast<size_t>(num_chunks), absl::OkStatus());
  // Every slot's feeds named here, whichever slots TBB then uses: a slot that sat out the
  // warm-up costs no allocation later.
  const int slots = options_.threads == 1 ? 1 : arena_->arena.max_concurrency();
  if (out->slot_feeds.size() < static_cast<size_t>(slots)) out->slot_feeds.resize(slots);
  for (std::vector<NamedTensorView>& slot_feeds : out->slot_feeds) NameFeeds(feeds, &slot_feeds);

  // The outputs' dtypes and trailing dims: from the last run of this plan into `out` when there
  // is one (every chunk checks them), else from chunk 0, run first on its own.
  bool learn = out->layout_plan != plan_ || out->views.size() != plan_->outputs().size();
  for (;;) {
    out->misaligned.store(false, std::memory_order_relaxed);
    out->mismatched.store(false, std::memory_order_relaxed);
    int64_t first = 0;
    if (learn) {
      out->chunk_status[0] = RunChunk(feeds, n, 0, std::min(c, n), /*learn=*/true, 0, out);
      first = 1;
    } else {
      for (size_t i = 0; i < out->views.size(); ++i) {
        out->views[i].dims[0] = n;
        RANKOPT_RETURN_IF_ERROR(out->Size(i));
      }
    }
    auto run_chunk = [&](int64_t k, int slot) {
      const int64_t begin = k * c;
      out->chunk_status[k] =
          RunChunk(feeds, n, begin, std::min(c, n - begin), /*learn=*/false, slot, out);
    };
    if (!out->chunk_status[0].ok() || out->misaligned.load(std::memory_order_relaxed)) {
      // Chunk 0 failed: its error, or its misalignment, is the answer.
    } else if (options_.threads == 1) {
      for (int64_t k = first; k < num_chunks; ++k) run_chunk(k, 0);
    } else {
      TbbSpawn();
      arena_->arena.execute([&] {
        TbbTaskStart();
        tbb::parallel_for(
            tbb::blocked_range<int64_t>(first, num_chunks, 1),
            [&](const tbb::blocked_range<int64_t>& range) {
              TbbTaskStart();
              const int slot = tbb::this_task_arena::current_thread_index();
              for (int64_t k = range.begin(); k < range.end(); ++k) run_chunk(k, slot);
              TbbTaskEnd();
            },
            tbb::simple_partitioner());
        TbbJoined();
        TbbTaskEnd();
      });
      TbbJoined();
    }
    for (int64_t k = 0; k < num_chunks; ++k) {
      const absl::Status& status = out->chunk_status[k];
      if (status.ok()) continue;
      const int64_t begin = k * c;
      out->layout_plan = nullptr;
      return absl::Status(status.code(),
                          absl::StrCat("candidate rows ", begin, "..", std::min(n, begin + c) - 1,
                                       " of ", n, ": ", status.message()));
    }
    if (out->misaligned.load(std::memory_order_relaxed)) {
      out->layout_plan = nullptr;
      *aligned = false;
      return absl::OkStatus();
    }
    if (out->mismatched.load(std::memory_order_relaxed)) {
      // Chunks disagree with each other, or with a stale prediction: run again, learning.
      if (learn) {
        out->layout_plan = nullptr;
        *aligned = false;
        return absl::OkStatus();
      }
      learn = true;
      continue;
    }
    *aligned = true;
    return absl::OkStatus();
  }
}

}  // namespace rankopt
