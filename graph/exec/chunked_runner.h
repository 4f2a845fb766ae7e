// Candidate-chunked parallel execution of an ExecutionPlan: a request of N candidates is split
// into chunks of C rows along axis 0 of every candidate feed, the chunks run in parallel (TBB
// parallel_for inside a task arena of the caller's concurrency), and the outputs are concatenated
// along axis 0 in chunk order.
//
// Correctness needs a row-separable model: output row i depends only on input row i and on the
// request-level inputs (true for DIN, ESMM, DeepFM; false for anything that mixes rows, such as a
// softmax or a sum over the candidate axis). Because the kernels are row-deterministic, the
// scores of a separable model are bitwise identical for any chunk size and thread count. The
// runner guards separability (see Separability): by default the first request that would be split
// is also run whole and the two results compared bitwise; any difference, or an output whose
// leading dim is not the chunk's row count, makes the runner run every later request unchunked.
// That check cannot see a row-mixing op whose effect vanishes on that request (e.g. a mean over
// identical rows), so a model that mixes rows should be run with Separability::kNever.
//
// A serving thread keeps one ChunkedOutputs and calls RunInto: after warm-up, a request of no
// more candidates than before costs no heap allocation beyond what the kernels make (chunk feeds
// are views into the caller's feeds, each chunk writes its rows straight into the kept output
// buffers, the plan runs on its per-thread state, TBB's tasks come from its pools). "Warm" is per
// thread: the executor's state of each thread that runs chunks grows on that thread's first
// chunks. Run, which returns owned Tensors, allocates those Tensors and nothing else of its own.
//
// Example:
//   RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<ChunkedRunner> runner,
//                            ChunkedRunner::Create(plan.get(), {.chunk_rows = 64, .threads = 2}));
//   ChunkedOutputs scores;  // kept across requests
//   RANKOPT_RETURN_IF_ERROR(runner->RunInto(feeds, &scores));
//   absl::Span<const float> prob = scores.views()[0].values<float>();
#ifndef RANKOPT_GRAPH_EXEC_CHUNKED_RUNNER_H_
#define RANKOPT_GRAPH_EXEC_CHUNKED_RUNNER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "core/tensor.h"
#include "graph/exec/execution_plan.h"
#include "graph/exec/tensor_view.h"

namespace rankopt {

enum class Separability {
  // Verify on the first request that is split (chunked == whole, bitwise); fall back for good
  // to unchunked runs when it is not.
  kVerifyOnFirstRun,
  // Trust the caller: always chunk (still checks every output's leading dim per chunk).
  kAssume,
  // Never chunk: every request runs whole on the calling thread.
  kNever,
};

struct ChunkedRunnerOptions {
  // Rows per chunk; 0 = automatic (ChunkRowsFor).
  int64_t chunk_rows = 0;
  // The most rows of an automatic chunk; 0 = 64. Every chunk runs every node of the plan, so a
  // plan of many cheap nodes (feature-column plumbing: sparse reshapes, gathers, combiners)
  // wants fewer, larger chunks: Scorer sets it from the plan's size (AutoChunkRowsCap).
  int64_t max_auto_chunk_rows = 0;
  // Concurrency of the runner's task arena (threads that run chunks, the caller included),
  // capped at the machine's.
  int threads = 1;
  Separability separability = Separability::kVerifyOnFirstRun;
  // Inputs never split even when their leading dim equals the candidate count (request-level
  // tensors whose size happens to equal N). Inputs whose declared leading dim is fixed are
  // request-level anyway.
  std::vector<std::string> request_level_inputs;
};

// What the runner knows about its model's row separability.
enum class SeparabilityState { kUnknown, kSeparable, kNotSeparable };

// The outputs of ChunkedRunner::RunInto in buffers kept between requests, with the runner's
// per-request scratch. Reuse one per caller: a request of no more candidates than an earlier
// one, with the same feed shapes otherwise, then needs no heap allocation.
// Not thread-safe: one per concurrent caller. Movable.
class ChunkedOutputs {
 public:
  ChunkedOutputs();
  ~ChunkedOutputs();
  ChunkedOutputs(ChunkedOutputs&&) noexcept;
  ChunkedOutputs& operator=(ChunkedOutputs&&) noexcept;

  // The outputs of the last successful RunInto, in plan().outputs() order, as views into this
  // object: valid until its next RunInto. Unspecified after a failed one; empty before the first.
  absl::Span<const TensorView> views() const;
  // Copies views() into owned Tensors (allocates).
  absl::Status CopyTo(std::vector<Tensor>* tensors) const;

 private:
  friend class ChunkedRunner;
  struct State;
  std::unique_ptr<State> state_;
};

// Runs a plan chunked. Run and RunInto are safe for concurrent use (RunInto with a ChunkedOutputs
// per caller; the arena's threads are shared); the plan must outlive the runner.
class ChunkedRunner {
 public:
  // Errors: a null plan, threads < 1, chunk_rows < 0.
  static absl::StatusOr<std::unique_ptr<ChunkedRunner>> Create(const ExecutionPlan* plan,
                                                               ChunkedRunnerOptions options);
  ~ChunkedRunner();

  // Computes the plan's outputs for a request of N candidates. N is the largest leading dim of
  // the candidate feeds (inputs with a dynamic leading dim, not listed as request-level); feeds
  // with another leading dim, rank 0 or a fixed declared leading dim are passed whole to every
  // chunk. Errors: those of ExecutionPlan::Run (prefixed with the failing chunk's rows), and an
  // output that is not row-aligned under Separability::kAssume.
  absl::Status Run(absl::Span<const NamedTensorView> feeds, std::vector<Tensor>* outputs) const;

  // Run, with the outputs left in `outputs` (see ChunkedOutputs) instead of new Tensors: the
  // allocation-free path. Same errors, chunking and separability guard as Run.
  absl::Status RunInto(absl::Span<const NamedTensorView> feeds, ChunkedOutputs* outputs) const;

  // The rows per chunk for `candidates` under these options: chunk_rows when set; else chunks of
  // at most max_auto_chunk_rows (64) rows (at least 16), their number a multiple of the thread
  // count.
  int64_t ChunkRowsFor(int64_t candidates) const;

  SeparabilityState separability() const { return state_.load(std::memory_order_acquire); }
  const ChunkedRunnerOptions& options() const { return options_; }
  const ExecutionPlan& plan() const { return *plan_; }

 private:
  struct Arena;
  ChunkedRunner(const ExecutionPlan* plan, ChunkedRunnerOptions options);

  // Runs the chunks of `feeds` (candidate count n, chunk rows c), each writing its rows of the
  // outputs in `out`; *aligned = false (outputs unspecified) when some chunk output is not
  // row-aligned or chunks disagree on an output's dtype or trailing dims.
  absl::Status RunChunked(absl::Span<const NamedTensorView> feeds, int64_t n, int64_t c,
                          ChunkedOutputs::State* out, bool* aligned) const;
  // Runs rows [begin, begin + rows) of the split feeds (out->split) and copies the chunk's
  // outputs to their rows in `out`. learn: the chunk's outputs set the outputs' dtype and
  // trailing dims; else a chunk that disagrees with them sets out->mismatched.
  absl::Status RunChunk(absl::Span<const NamedTensorView> feeds, int64_t n, int64_t begin,
                        int64_t rows, bool learn, int slot, ChunkedOutputs::State* out) const;
  // Runs `feeds` whole, unchunked, into `out`.
  absl::Status RunWhole(absl::Span<const NamedTensorView> feeds, ChunkedOutputs::State* out) const;
  // The candidate count of `feeds`, or 0 when no feed is split.
  int64_t CandidateCount(absl::Span<const NamedTensorView> feeds) const;
  bool IsSplittable(const NamedTensorView& feed) const;

  const ExecutionPlan* plan_;
  ChunkedRunnerOptions options_;
  std::unique_ptr<Arena> arena_;
  mutable std::atomic<SeparabilityState> state_{SeparabilityState::kUnknown};
  // Run's ChunkedOutputs, kept for later calls (one per concurrent caller at most).
  // std::mutex, not Abseil's: Debian's Abseil is not built for TSan, which could not see it.
  mutable std::mutex pool_mu_;
  mutable std::vector<std::unique_ptr<ChunkedOutputs>> pool_;  // guarded by pool_mu_
};

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_EXEC_CHUNKED_RUNNER_H_
