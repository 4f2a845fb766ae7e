// Validation (once per call, outside the hot loops) and dispatch to the per-ISA kernels.
#include "embedding/kernels/lookup.h"

#include <cstdint>

#include "embedding/kernels/lookup_internal.h"

namespace rankopt {
namespace {

using lookup_internal::BagFn;
using lookup_internal::GatherFn;

struct Kernels {
  Isa isa;
  GatherFn gather;
  BagFn bag;
};

Kernels KernelsFor(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return {isa, lookup_internal::kAvx512Kernels.gather, lookup_internal::kAvx512Kernels.bag};
    case Isa::kAvx2:
      return {isa, lookup_internal::kAvx2Kernels.gather, lookup_internal::kAvx2Kernels.bag};
    case Isa::kScalar:
      break;
  }
  return {Isa::kScalar, lookup_internal::GatherScalar, lookup_internal::BagScalar};
}

const Kernels& Dispatched() {
  static const Kernels kernels = KernelsFor(BestIsa());
  return kernels;
}

bool ValidView(const TableView& t) {
  switch (t.dtype) {
    case TableDType::kFloat32:
    case TableDType::kFloat16:
    case TableDType::kInt8RowWise:
      break;
    default:
      return false;
  }
  if (t.rows < 0 || t.dim < 0) return false;
  if (t.row_bytes < RowBytes(t.dtype, t.dim)) return false;
  return t.data != nullptr || t.rows == 0;
}

bool ValidGather(const TableView& t, absl::Span<const int64_t> ids, const float* out) {
  return ValidView(t) && (out != nullptr || ids.empty() || t.dim == 0);
}

bool ValidBag(const TableView& t, absl::Span<const int64_t> ids, absl::Span<const int32_t> lengths,
              const float* weights, Pooling pooling, const float* out) {
  if (!ValidView(t)) return false;
  if (pooling != Pooling::kSum && pooling != Pooling::kMean && pooling != Pooling::kWeightedSum) {
    return false;
  }
  int64_t total = 0;
  for (int32_t len : lengths) {
    if (len < 0) return false;
    total += len;
  }
  if (total != static_cast<int64_t>(ids.size())) return false;
  if (pooling == Pooling::kWeightedSum && weights == nullptr && !ids.empty()) return false;
  return out != nullptr || lengths.empty() || t.dim == 0;
}

bool RunGather(const Kernels& k, const TableView& t, absl::Span<const int64_t> ids, float* out) {
  if (!ValidGather(t, ids, out)) return false;
  return k.gather(t, ids.data(), static_cast<int64_t>(ids.size()), out);
}

bool RunBag(const Kernels& k, const TableView& t, absl::Span<const int64_t> ids,
            absl::Span<const int32_t> lengths, const float* weights, Pooling pooling, float* out) {
  if (!ValidBag(t, ids, lengths, weights, pooling, out)) return false;
  return k.bag(t, ids.data(), static_cast<int64_t>(ids.size()), lengths.data(),
               static_cast<int64_t>(lengths.size()), weights, pooling, out);
}

}  // namespace

bool Gather(const TableView& t, absl::Span<const int64_t> ids, float* out) {
  return RunGather(Dispatched(), t, ids, out);
}

bool Bag(const TableView& t, absl::Span<const int64_t> ids, absl::Span<const int32_t> lengths,
         const float* weights, Pooling pooling, float* out) {
  return RunBag(Dispatched(), t, ids, lengths, weights, pooling, out);
}

bool GatherRef(const TableView& t, absl::Span<const int64_t> ids, float* out) {
  return RunGather(KernelsFor(Isa::kScalar), t, ids, out);
}

bool BagRef(const TableView& t, absl::Span<const int64_t> ids, absl::Span<const int32_t> lengths,
            const float* weights, Pooling pooling, float* out) {
  return RunBag(KernelsFor(Isa::kScalar), t, ids, lengths, weights, pooling, out);
}

bool GatherWithIsa(Isa isa, const TableView& t, absl::Span<const int64_t> ids, float* out) {
  if (!CpuSupports(isa)) return false;
  return RunGather(KernelsFor(isa), t, ids, out);
}

bool BagWithIsa(Isa isa, const TableView& t, absl::Span<const int64_t> ids,
                absl::Span<const int32_t> lengths, const float* weights, Pooling pooling,
                float* out) {
  if (!CpuSupports(isa)) return false;
  return RunBag(KernelsFor(isa), t, ids, lengths, weights, pooling, out);
}

absl::string_view LookupIsaName() { return IsaName(Dispatched().isa); }

}  // namespace rankopt
