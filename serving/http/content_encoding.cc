// DecodeContentEncoding (content_encoding.h) on zlib.
#include "serving/http/content_encoding.h"

#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace rankopt {

absl::Status DecodeContentEncoding(absl::string_view encoding, size_t max_bytes,
                                   absl::string_view* body, std::string* buffer) {
  encoding = absl::StripAsciiWhitespace(encoding);
  if (encoding.empty() || absl::EqualsIgnoreCase(encoding, "identity")) return absl::OkStatus();
  if (!absl::EqualsIgnoreCase(encoding, "gzip") && !absl::EqualsIgnoreCase(encoding, "x-gzip") &&
      !absl::EqualsIgnoreCase(encoding, "deflate")) {
    return absl::UnimplementedError(absl::StrCat(
        "Content-Encoding '", encoding, "' is not served; send gzip, deflate or identity"));
  }
  z_stream z{};
  // 15 window bits + 32: a zlib or a gzip header, detected.
  if (inflateInit2(&z, 15 + 32) != Z_OK) {
    return absl::InternalError("cannot start zlib's inflate");
  }
  buffer->clear();
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body->data()));
  z.avail_in = static_cast<uInt>(std::min<size_t>(body->size(), UINT32_MAX));
  int r = Z_OK;
  char out[64 << 10];
  while (r != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(out);
    z.avail_out = sizeof(out);
    r = inflate(&z, Z_NO_FLUSH);
    if (r != Z_OK && r != Z_STREAM_END) break;
    const size_t n = sizeof(out) - z.avail_out;
    if (n > max_bytes - buffer->size()) {
      inflateEnd(&z);
      return absl::ResourceExhaustedError(
          absl::StrCat("the decoded request body is over ", max_bytes, " bytes"));
    }
    buffer->append(out, n);
    if (r == Z_OK && n == 0 && z.avail_in == 0) break;  // truncated stream
  }
  const bool whole = r == Z_STREAM_END && z.avail_in == 0;
  inflateEnd(&z);
  if (!whole) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the request body is not a whole ", encoding, " stream (Content-Encoding: ", encoding,
        "); it is corrupt, truncated or has bytes after its end"));
  }
  *body = *buffer;
  return absl::OkStatus();
}

}  // namespace rankopt
