#include "core/proto_json.h"

#include <memory>
#include <vector>

#include "core/utf8.h"
#include "google/protobuf/descriptor.h"

namespace rankopt {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

bool IsUtf8String(const FieldDescriptor* field) {
  return field->type() == FieldDescriptor::TYPE_STRING;
}

// Whether some string field of `message` (recursively) is not valid UTF-8.
bool NeedsEscaping(const Message& message) {
  const Reflection* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (field->is_repeated()) {
      const int n = reflection->FieldSize(message, field);
      for (int i = 0; i < n; ++i) {
        if (IsUtf8String(field) &&
            !IsValidUtf8(reflection->GetRepeatedString(message, field, i))) {
          return true;
        }
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
            NeedsEscaping(reflection->GetRepeatedMessage(message, field, i))) {
          return true;
        }
      }
    } else if (IsUtf8String(field)) {
      if (!IsValidUtf8(reflection->GetString(message, field))) return true;
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (NeedsEscaping(reflection->GetMessage(message, field))) return true;
    }
  }
  return false;
}

void EscapeStrings(Message* message) {
  const Reflection* reflection = message->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(*message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (field->is_repeated()) {
      const int n = reflection->FieldSize(*message, field);
      for (int i = 0; i < n; ++i) {
        if (IsUtf8String(field)) {
          const std::string value = reflection->GetRepeatedString(*message, field, i);
          if (!IsValidUtf8(value)) {
            reflection->SetRepeatedString(message, field, i, EscapeInvalidUtf8(value));
          }
        } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          EscapeStrings(reflection->MutableRepeatedMessage(message, field, i));
        }
      }
    } else if (IsUtf8String(field)) {
      const std::string value = reflection->GetString(*message, field);
      if (!IsValidUtf8(value)) reflection->SetString(message, field, EscapeInvalidUtf8(value));
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      EscapeStrings(reflection->MutableMessage(message, field));
    }
  }
}

}  // namespace

std::string ProtoToJson(const Message& message,
                        const google::protobuf::util::JsonPrintOptions& options) {
  std::string json;
  if (!NeedsEscaping(message)) {
    // Valid UTF-8 throughout: nothing to escape, no copy.
    if (google::protobuf::util::MessageToJsonString(message, &json, options).ok()) return json;
    return "{}";
  }
  std::unique_ptr<Message> copy(message.New());
  copy->CopyFrom(message);
  EscapeStrings(copy.get());
  if (!google::protobuf::util::MessageToJsonString(*copy, &json, options).ok()) return "{}";
  return json;
}

}  // namespace rankopt
