#include "rankopt/request.h"

namespace rankopt {

absl::string_view FeatureValueTypeName(const FeatureValue& value) {
  static constexpr absl::string_view kNames[] = {"missing",  "int",        "float",      "string",
                                                 "int list", "float list", "string list"};
  static_assert(std::variant_size_v<FeatureValue> == std::size(kNames));
  return kNames[value.index()];
}

FeatureRow::FeatureRow(std::initializer_list<Entry> entries) {
  entries_.reserve(entries.size());
  for (const Entry& entry : entries) Set(entry.first, entry.second);
}

void FeatureRow::Set(absl::string_view name, FeatureValue value) {
  if (FeatureValue* existing = FindMutable(name)) {
    *existing = std::move(value);
    return;
  }
  entries_.emplace_back(std::string(name), std::move(value));
}

const FeatureValue* FeatureRow::Find(absl::string_view name) const {
  for (const Entry& entry : entries_) {
    if (entry.first == name) return &entry.second;
  }
  return nullptr;
}

FeatureValue* FeatureRow::FindMutable(absl::string_view name) {
  for (Entry& entry : entries_) {
    if (entry.first == name) return &entry.second;
  }
  return nullptr;
}

}  // namespace rankopt
