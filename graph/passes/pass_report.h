// What a graph pass did, for the human table and the JSON report: shared by every pass
// (prune, fold, fuse, split) so the report prints them alike.
#ifndef RANKOPT_GRAPH_PASSES_PASS_REPORT_H_
#define RANKOPT_GRAPH_PASSES_PASS_REPORT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "graph/ir/graph.h"

namespace rankopt {

// Op type -> node count, sorted by op type.
using OpCounts = std::vector<std::pair<std::string, int64_t>>;

// The outcome of one pass over one graph.
struct PassReport {
  std::string pass;      // the pass's name: "prune", "fold", ...
  bool changed = false;  // true when the pass removed, added or rewired anything
  int64_t nodes_before = 0;
  int64_t nodes_after = 0;
  int64_t params_before = 0;  // elements of the numeric constants (weights, tables, ...)
  int64_t params_after = 0;
  OpCounts ops_before;             // op type -> count, sorted by op
  OpCounts ops_after;              // op type -> count, sorted by op
  std::vector<std::string> notes;  // one line each: what was removed, what was created, ...
};

// Node count per op type of `graph`, sorted by op type.
OpCounts CountOpsByType(const Graph& graph);

// Elements of every numeric Const of `graph` (what the model's parameters take).
int64_t CountParams(const Graph& graph);

// Fills nodes_, params_ and ops_before/after of `report` from the two graphs.
void RecordNodeCounts(const Graph& before, const Graph& after, PassReport* report);

// The notes of a fusion pass that fused nothing: "not applicable: NONE" when nothing came close,
// else "not applicable: N MISSED; near misses below" (MISSED e.g. "chain(s) did not fuse"), then
// the near misses, moved out of `near_misses` (left empty).
void AddNotApplicableNotes(absl::string_view none, absl::string_view missed,
                           std::vector<std::string>* near_misses, PassReport* report);

// The "nodes before/after by op type" table: one row per op type present on either side
// (sorted by op), columns before, after and delta, then a total row. Example:
//   op type    before  after  delta
//   Identity       12      0    -12
//   MatMul          3      3      0
//   total          15      3    -12
std::string FormatOpCountTable(const PassReport& report);

// A header line ("prune: changed, nodes 7056 -> 212, params 9727042 -> 9727042"), the notes
// indented, then the table.
std::string FormatPassReport(const PassReport& report);

}  // namespace rankopt

#endif  // RANKOPT_GRAPH_PASSES_PASS_REPORT_H_
