#include "serving/int8_report.h"

#include <cstdint>
#include <string>

namespace rankopt {

void FillInt8Report(const GraphQuantizationReport& q, serving::Int8Report* out) {
  out->set_mode(std::string(TableQuantizationModeName(q.mode)));
  out->set_kept(q.kept);
  out->set_tables(static_cast<int32_t>(q.tables.size()));
  out->set_outputs(q.outputs);
  out->set_samples(q.samples);
  out->set_predictions(q.predictions);
  out->set_table_bytes_fp32(static_cast<int64_t>(q.bytes_fp32));
  out->set_table_bytes_stored(static_cast<int64_t>(q.bytes_stored));
  if (q.combined.has_value()) {
    out->set_gate_max_abs_diff(q.combined->max_abs_diff);
    out->set_gate_mean_abs_diff(q.combined->mean_abs_diff);
    out->set_gate_result(q.combined->reason);
    if (q.combined->auc_delta.has_value()) out->set_auc_delta(*q.combined->auc_delta);
    if (q.combined->logloss_delta.has_value()) out->set_logloss_delta(*q.combined->logloss_delta);
  }
  for (const GraphTableQuantization& t : q.tables) {
    serving::Int8Table* table = out->add_table_details();
    table->set_table(t.table);
    table->set_rows(t.rows);
    table->set_dim(t.dim);
    table->set_stored(std::string(TableDTypeName(t.stored)));
    table->set_bytes_fp32(static_cast<int64_t>(t.bytes_fp32));
    table->set_bytes_stored(static_cast<int64_t>(t.bytes_stored));
    if (t.figures.has_value()) {
      table->set_nmse(t.figures->nmse);
      table->set_max_abs_error(t.figures->max_abs_error);
    }
    if (t.gate.has_value()) {
      table->set_gate_max_abs_diff(t.gate->max_abs_diff);
      table->set_gate_passed(t.gate->passed);
    }
    table->set_reason(t.reason);
  }
}

}  // namespace rankopt
