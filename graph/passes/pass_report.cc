#include "graph/passes/pass_report.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rankopt {

OpCounts CountOpsByType(const Graph& graph) {
  std::map<std::string, int64_t> counts;
  for (const Node& node : graph.nodes()) ++counts[node.op];
  return OpCounts(counts.begin(), counts.end());
}

int64_t CountParams(const Graph& graph) {
  int64_t params = 0;
  for (const Node& node : graph.nodes()) {
    if (node.op != kConstOp) continue;
    const Tensor* value = node.attrs.Get<Tensor>("value");
    if (value != nullptr && value->dtype() != DType::kString) params += value->num_elements();
  }
  return params;
}

void RecordNodeCounts(const Graph& before, const Graph& after, PassReport* report) {
  report->nodes_before = static_cast<int64_t>(before.num_nodes());
  report->nodes_after = static_cast<int64_t>(after.num_nodes());
  report->params_before = CountParams(before);
  report->params_after = &before == &after ? report->params_before : CountParams(after);
  report->ops_before = CountOpsByType(before);
  report->ops_after = CountOpsByType(after);
}

void AddNotApplicableNotes(absl::string_view none, absl::string_view missed,
                           std::vector<std::string>* near_misses, PassReport* report) {
  report->notes.push_back(near_misses->empty()
                              ? absl::StrCat("not applicable: ", none)
                              : absl::StrCat("not applicable: ", near_misses->size(), " ", missed,
                                             "; near misses below"));
  for (std::string& m : *near_misses) report->notes.push_back(std::move(m));
  near_misses->clear();
}

std::string FormatOpCountTable(const PassReport& report) {
  // op -> {before, after}; std::map keeps the rows sorted by op type.
  std::map<std::string, std::pair<int64_t, int64_t>> rows;
  for (const auto& [op, count] : report.ops_before) rows[op].first += count;
  for (const auto& [op, count] : report.ops_after) rows[op].second += count;

  size_t op_width = std::string("op type").size();
  for (const auto& [op, counts] : rows) op_width = std::max(op_width, op.size());
  const int w = static_cast<int>(op_width);

  std::string table =
      absl::StrFormat("%-*s %8s %8s %8s\n", w, "op type", "before", "after", "delta");
  for (const auto& [op, counts] : rows) {
    absl::StrAppendFormat(&table, "%-*s %8d %8d %+8d\n", w, op, counts.first, counts.second,
                          counts.second - counts.first);
  }
  absl::StrAppendFormat(&table, "%-*s %8d %8d %+8d\n", w, "total", report.nodes_before,
                        report.nodes_after, report.nodes_after - report.nodes_before);
  return table;
}

std::string FormatPassReport(const PassReport& report) {
  std::string text =
      absl::StrCat(report.pass, ": ", report.changed ? "changed" : "unchanged", ", nodes ",
                   report.nodes_before, " -> ", report.nodes_after, ", params ",
                   report.params_before, " -> ", report.params_after, "\n");
  for (const std::string& note : report.notes) absl::StrAppend(&text, "  ", note, "\n");
  absl::StrAppend(&text, FormatOpCountTable(report));
  return text;
}

}  // namespace rankopt
