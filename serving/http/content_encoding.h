// Request bodies sent with a Content-Encoding (gzip, deflate), decoded with a cap on the decoded
// size so that a small compressed body cannot expand without bound.
#ifndef RANKOPT_SERVING_HTTP_CONTENT_ENCODING_H_
#define RANKOPT_SERVING_HTTP_CONTENT_ENCODING_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace rankopt {

// Decodes *body as `encoding` says ("" or "identity": left as it is; "gzip", "x-gzip",
// "deflate": inflated into *buffer, and *body then views it). Errors: ResourceExhausted when the
// decoded body is over `max_bytes`, Unimplemented for another encoding, InvalidArgument for a
// corrupt stream.
absl::Status DecodeContentEncoding(absl::string_view encoding, size_t max_bytes,
                                   absl::string_view* body, std::string* buffer);

}  // namespace rankopt

#endif  // RANKOPT_SERVING_HTTP_CONTENT_ENCODING_H_
