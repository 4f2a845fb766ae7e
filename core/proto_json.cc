#include "core/proto_json.h"

#include <memory>
#include <vector>

#include "absl/strings/str_format.h"
#include "google/protobuf/descriptor.h"

namespace rankopt {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Length of the valid UTF-8 sequence starting at text[i], or 0 if none does.
size_t SequenceLength(absl::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // past U+10FFFF
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return len;
}

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

bool IsValidUtf8(absl::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t len = SequenceLength(text, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string EscapeInvalidUtf8(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t len = SequenceLength(text, i);
    if (len == 0) {
      absl::StrAppendFormat(&out, "\\x%02X", static_cast<unsigned char>(text[i]));
      ++i;
    } else {
      out.append(text.data() + i, len);
      i += len;
    }
  }
  return out;
}

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
