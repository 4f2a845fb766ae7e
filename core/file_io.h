// Whole-file reads and writes with errors that name the path: model files, configs, reports.
#ifndef RANKOPT_CORE_FILE_IO_H_
#define RANKOPT_CORE_FILE_IO_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rankopt {

// Reads a whole file. Errors: missing ("<path>: no such file"), a directory, not a regular file
// (a FIFO or a device such as /dev/zero, refused before any read), unreadable.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);
// Writes `contents` to `path`, truncating it. Errors name the path.
absl::Status WriteStringToFile(const std::string& path, absl::string_view contents);

}  // namespace rankopt

#endif  // RANKOPT_CORE_FILE_IO_H_
