// UTF-8 validity, for text that leaves rankopt as JSON (reports, HTTP answers) after coming from
// models or clients, which may hold any bytes.
#ifndef RANKOPT_CORE_UTF8_H_
#define RANKOPT_CORE_UTF8_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace rankopt {

// Length (1-4) of the well-formed UTF-8 sequence starting at text[i], or 0 if none starts there:
// no overlong forms, surrogates or code points past U+10FFFF, as JSON parsers require.
// REQUIRES: i < text.size().
size_t Utf8SequenceLength(absl::string_view text, size_t i);

// Whether all of `text` is well-formed UTF-8.
bool IsValidUtf8(absl::string_view text);

// `text` with each byte outside a well-formed sequence written as the four characters \xNN
// (hex, upper case).
std::string EscapeInvalidUtf8(absl::string_view text);

}  // namespace rankopt

#endif  // RANKOPT_CORE_UTF8_H_
