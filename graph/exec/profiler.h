// Per-op-type kernel timing without executor changes: a KernelRegistry whose factories wrap a
// base registry's factories and time every Compute (TF benchmark_model's "Summary by node type").
//
// Example:
//   RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<OpProfiler> profiler, OpProfiler::Create());
//   PlanOptions options;
//   options.registry = &profiler->registry();
//   RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<const ExecutionPlan> plan,
//                            ExecutionPlan::Create(graph, options));
//   ... run the plan `runs` times ...
//   for (const OpTypeProfile& p : profiler->ByOpType()) ...  // p.total_ns / runs per run
#ifndef RANKOPT_GRAPH_EXEC_PROFILER_H_
#define RANKOPT_GRAPH_EXEC_PROFILER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "graph/exec/op_kernel.h"

namespace rankopt {

struct OpTypeProfile {
  std::string op;        // the node's op type
  int64_t nodes = 0;     // kernels built for this op type (nodes of the plan)
  int64_t calls = 0;     // Compute calls since the last Reset
  int64_t total_ns = 0;  // wall time inside Compute since the last Reset, summed over threads
};

// One node whose kernel names its implementation (OpKernel::KernelName: the dense layers).
struct NodeKernelProfile {
  std::string node;
  std::string op;
  std::string kernel;
  int64_t calls = 0;
  int64_t total_ns = 0;
};

// Safe for concurrent use: the timed kernels may run on many threads at once. Build one plan per
// profiler (node counts add up over every plan built with its registry); the profiler must
// outlive those plans.
class OpProfiler {
 public:
  // Wraps every factory of `base` (nullptr: KernelRegistry::Default()). `base` must outlive the
  // profiler.
  static absl::StatusOr<std::unique_ptr<OpProfiler>> Create(const KernelRegistry* base = nullptr);

  // The timing registry, for PlanOptions::registry.
  const KernelRegistry& registry() const { return registry_; }

  // Zeroes calls and times (not node counts), e.g. after warm-up runs.
  void Reset();

  // One row per op type that has kernels, by total time descending, then op name.
  std::vector<OpTypeProfile> ByOpType() const;

  // One row per node whose kernel has a KernelName, in the order the kernels were built.
  std::vector<NodeKernelProfile> ByNode() const;

  struct Entry {
    std::atomic<int64_t> nodes{0};
    std::atomic<int64_t> calls{0};
    std::atomic<int64_t> total_ns{0};
  };

 private:
  OpProfiler() = default;
  Entry* EntryFor(const std::string& op);
  Entry* NodeEntryFor(const Node& node, std::string kernel);

  KernelRegistry registry_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  struct NodeEntry {
    std::string node, op, kernel;
    Entry entry;
  };
  std::vector<std::unique_ptr<NodeEntry>> nodes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_EXEC_PROFILER_H_
