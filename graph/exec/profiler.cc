#include "graph/exec/profiler.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

class TimedKernel final : public OpKernel {
 public:
  TimedKernel(std::unique_ptr<OpKernel> inner, OpProfiler::Entry* entry)
      : inner_(std::move(inner)), entry_(entry) {}

  absl::Status Compute(KernelContext* ctx) const override {
    const auto start = std::chrono::steady_clock::now();
    absl::Status status = inner_->Compute(ctx);
    const auto end = std::chrono::steady_clock::now();
    entry_->calls.fetch_add(1, std::memory_order_relaxed);
    entry_->total_ns.fetch_add(
        std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count(),
        std::memory_order_relaxed);
    return status;
  }

 private:
  std::unique_ptr<OpKernel> inner_;
  OpProfiler::Entry* entry_;
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
            return std::unique_ptr<OpKernel>(new TimedKernel(std::move(kernel), entry));
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

void OpProfiler::Reset() {
  absl::MutexLock lock(&mu_);
  for (auto& [op, entry] : entries_) {
    entry->calls.store(0, std::memory_order_relaxed);
    entry->total_ns.store(0, std::memory_order_relaxed);
  }
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
