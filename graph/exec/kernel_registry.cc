#include <algorithm>

#include "absl/strings/str_cat.h"
#include "graph/exec/op_kernel.h"

namespace rankopt {

OpSet OpSetOf(ModelFormat format) {
  return format == ModelFormat::kOnnx ? OpSet::kOnnx : OpSet::kTensorFlow;
}

absl::string_view OpSetName(OpSet set) { return set == OpSet::kOnnx ? "ONNX" : "TensorFlow"; }

absl::Status KernelRegistry::Register(OpSet set, std::string op, KernelFactory factory) {
  auto& table = set == OpSet::kOnnx ? onnx_ : tf_;
  if (!factory) {
    return absl::InvalidArgumentError(absl::StrCat("empty kernel factory for ", op));
  }
  if (!table.emplace(op, std::move(factory)).second) {
    return absl::AlreadyExistsError(
        absl::StrCat(OpSetName(set), " op '", op, "' already has a kernel"));
  }
  return absl::OkStatus();
}

const KernelFactory* KernelRegistry::Find(OpSet set, absl::string_view op) const {
  const auto& table = set == OpSet::kOnnx ? onnx_ : tf_;
  auto it = table.find(op);
  return it == table.end() ? nullptr : &it->second;
}

std::vector<std::string> KernelRegistry::Ops(OpSet set) const {
  const auto& table = set == OpSet::kOnnx ? onnx_ : tf_;
  std::vector<std::string> ops;
  ops.reserve(table.size());
  for (const auto& [op, factory] : table) ops.push_back(op);
  std::sort(ops.begin(), ops.end());
  return ops;
}

absl::Status KernelRegistry::RegisterOpInfo(std::string op, OpInfo info) {
  if (info.shape == nullptr && info.flops == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("empty op info for ", op));
  }
  if (!op_infos_.emplace(op, info).second) {
    return absl::AlreadyExistsError(absl::StrCat("op '", op, "' already has shape/FLOP functions"));
  }
  return absl::OkStatus();
}

const OpInfo* KernelRegistry::FindOpInfo(absl::string_view op) const {
  auto it = op_infos_.find(op);
  return it == op_infos_.end() ? nullptr : &it->second;
}

}  // namespace rankopt
