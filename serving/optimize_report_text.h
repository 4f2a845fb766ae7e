// OptimizeModel's report (serving/optimize.h) as text: the human table `rankopt optimize`
// prints and the JSON it prints with --json and stores in the package.
#ifndef RANKOPT_SERVING_OPTIMIZE_REPORT_TEXT_H_
#define RANKOPT_SERVING_OPTIMIZE_REPORT_TEXT_H_

#include <string>

#include "serving/optimize_report.pb.h"

namespace rankopt {

// The machine and build, the inputs, one row per step (with its notes or why it did nothing),
// `int8_text` (OptimizeResult::int8_text) when not empty, overall, and the package written.
std::string FormatOptimizeReport(const serving::OptimizeReport& report,
                                 const std::string& int8_text);

// Protobuf's JSON mapping with the .proto's field names and every non-optional field printed
// (int64 values as JSON strings); `pretty` adds whitespace. Empty when it cannot be printed.
std::string OptimizeReportToJson(const serving::OptimizeReport& report, bool pretty);

}  // namespace rankopt

#endif  // RANKOPT_SERVING_OPTIMIZE_REPORT_TEXT_H_
