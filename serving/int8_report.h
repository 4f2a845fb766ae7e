// The int8 step as a report message: one filler from QuantizeGraphTables' result into
// serving::Int8Report, for every command that stores embedding tables int8. Its human table is
// FormatGraphQuantizationReport (serving/table_quantization.h).
#ifndef RANKOPT_SERVING_INT8_REPORT_H_
#define RANKOPT_SERVING_INT8_REPORT_H_

#include "serving/optimize_report.pb.h"
#include "serving/table_quantization.h"

namespace rankopt {

// Sets `out`'s mode, table counts and bytes, the combined gate (when any table is kept) and one
// Int8Table per table of `q`. Leaves step, labels and sample to the caller.
void FillInt8Report(const GraphQuantizationReport& q, serving::Int8Report* out);

}  // namespace rankopt

#endif  // RANKOPT_SERVING_INT8_REPORT_H_
