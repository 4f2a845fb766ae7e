// Protobuf messages as JSON when their strings come from untrusted models.
//
// Report messages (summaries, optimize and bench reports) carry node, op and tensor names copied
// from model files, which may hold any bytes. protobuf's JSON printer (3.21) drops the bytes of
// a string field that are not UTF-8 and logs an error for each such string, so two names that
// differ only there would print alike; ProtoToJson first replaces every byte that is not part
// of a valid UTF-8 sequence with the four characters \xNN (a copy is made only when some string
// needs it).
#ifndef RANKOPT_CORE_PROTO_JSON_H_
#define RANKOPT_CORE_PROTO_JSON_H_

#include <string>

#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"

namespace rankopt {

// protobuf's MessageToJsonString of `message` after the escaping above (string fields only;
// bytes fields print as base64 anyway), through every nested, repeated and map field.
std::string ProtoToJson(const google::protobuf::Message& message,
                        const google::protobuf::util::JsonPrintOptions& options);

}  // namespace rankopt

#endif  // RANKOPT_CORE_PROTO_JSON_H_
