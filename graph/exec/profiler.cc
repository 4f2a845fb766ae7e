#include "graph/exec/profiler.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

class TimedKernel final : public OpKernel {
 public:
  TimedKernel(std::unique_ptr<OpKernel> inner, OpProfiler::Entry* entry,
              OpProfiler::Entry* node_entry)
      : inner_(std::move(inner)), entry_(entry), node_entry_(node_entry) {}

  std::string KernelName() const override { return inner_->KernelName(); }

  absl::Status Compute(KernelContext* ctx) const override {
    const auto start = std::chrono::steady_clock::now();
    absl::Status status = inner_->Compute(ctx);
    const auto end = std::chrono::steady_clock::now();
    entry_->calls.fetch_add(1, std::memory_order_relaxed);
    const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count();
    entry_->total_ns.fetch_add(ns, std::memory_order_relaxed);
    if (node_entry_ != nullptr) {
      node_entry_->calls.fetch_add(1, std::memory_order_relaxed);
      node_entry_->total_ns.fetch_add(ns, std::memory_order_relaxed);
    }
    return status;
  }

 private:
  std::unique_ptr<OpKernel> inner_;
  OpProfiler::Entry* entry_;
  OpProfiler::Entry* node_entry_;  // null unless the kernel has a KernelName
};

}  // namespace

absl::StatusOr<std::unique_ptr<OpProfiler>> OpProfiler::Create(const KernelRegistry* base) {
  if (base == nullptr) base = &KernelRegistry::Default();
  std::unique_ptr<OpProfiler> profiler(new OpProfiler());
  OpProfiler* self = profiler.get();
  for (OpSet set : {OpSet::kTensorFlow, OpSet::kOnnx}) {
    for (const std::string& op : base->Ops(set)) {
      const KernelFactory* inner = base->Find(set, op);
      if (inner == nullptr) continue;
      RANKOPT_RETURN_IF_ERROR(self->registry_.Register(
          set, op,
          [self,
           inner](const KernelBuildContext& ctx) -> absl::StatusOr<std::unique_ptr<OpKernel>> {
            RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, (*inner)(ctx));
            Entry* entry = self->EntryFor(ctx.node != nullptr ? ctx.node->op : "?");
            entry->nodes.fetch_add(1, std::memory_order_relaxed);
            std::string name = kernel->KernelName();
            Entry* node_entry = !name.empty() && ctx.node != nullptr
                                    ? self->NodeEntryFor(*ctx.node, std::move(name))
                                    : nullptr;
            return std::unique_ptr<OpKernel>(
                new TimedKernel(std::move(kernel), entry, node_entry));
          }));
    }
  }
  return profiler;
}

OpProfiler::Entry* OpProfiler::EntryFor(const std::string& op) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Entry>& entry = entries_[op];
  if (entry == nullptr) entry = std::make_unique<Entry>();
  return entry.get();
}

OpProfiler::Entry* OpProfiler::NodeEntryFor(const Node& node, std::string kernel) {
  absl::MutexLock lock(&mu_);
  auto entry = std::make_unique<NodeEntry>();
  entry->node = node.name;
  entry->op = node.op;
  entry->kernel = std::move(kernel);
  nodes_.push_back(std::move(entry));
  return &nodes_.back()->entry;
}

void OpProfiler::Reset() {
  absl::MutexLock lock(&mu_);
  for (auto& [op, entry] : entries_) {
    entry->calls.store(0, std::memory_order_relaxed);
    entry->total_ns.store(0, std::memory_order_relaxed);
  }
  for (auto& node : nodes_) {
    node->entry.calls.store(0, std::memory_order_relaxed);
    node->entry.total_ns.store(0, std::memory_order_relaxed);
  }
}

std::vector<NodeKernelProfile> OpProfiler::ByNode() const {
  std::vector<NodeKernelProfile> rows;
  absl::MutexLock lock(&mu_);
  for (const auto& node : nodes_) {
    rows.push_back({node->node, node->op, node->kernel,
                    node->entry.calls.load(std::memory_order_relaxed),
                    node->entry.total_ns.load(std::memory_order_relaxed)});
  }
  return rows;
}

std::vector<OpTypeProfile> OpProfiler::ByOpType() const {
  std::vector<OpTypeProfile> rows;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [op, entry] : entries_) {
      rows.push_back({op, entry->nodes.load(std::memory_order_relaxed),
                      entry->calls.load(std::memory_order_relaxed),
                      entry->total_ns.load(std::memory_order_relaxed)});
    }
  }
  std::sort(rows.begin(), rows.end(), [](const OpTypeProfile& a, const OpTypeProfile& b) {
    return a.total_ns != b.total_ns ? a.total_ns > b.total_ns : a.op < b.op;
  });
  return rows;
}

}  // namespace rankopt
