#include "features/request/tf_example.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"

namespace rankopt {
namespace {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// A bounds-checked cursor over protobuf wire bytes. `what` names the message in errors.
class Reader {
 public:
  // `what` is a literal ("Features"); `feature`, when set, a feature name inside the example's
  // bytes (both outlive the Reader): the error message is built only on error.
  Reader(absl::string_view bytes, absl::string_view what, absl::string_view feature = {})
      : bytes_(bytes), what_(what), feature_(feature) {}

  bool done() const { return pos_ >= bytes_.size(); }

  absl::Status Error(absl::string_view problem) const {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed tf.Example: ", what_,
                     feature_.data() == nullptr ? "" : absl::StrCat(" '", feature_, "'"),
                     " at byte ", pos_, ": ", problem));
  }

  absl::Status Varint(uint64_t* out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= bytes_.size()) return Error("truncated varint");
      const uint8_t b = static_cast<uint8_t>(bytes_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *out = v;
        return absl::OkStatus();
      }
    }
    return Error("varint longer than 10 bytes");
  }

  absl::Status Tag(uint32_t* field, uint32_t* wire) {
    uint64_t tag = 0;
    if (absl::Status s = Varint(&tag); !s.ok()) return s;
    *field = static_cast<uint32_t>(tag >> 3);
    *wire = static_cast<uint32_t>(tag & 7);
    if (*field == 0) return Error("field number 0");
    return absl::OkStatus();
  }

  absl::Status Bytes(absl::string_view* out) {
    uint64_t len = 0;
    if (absl::Status s = Varint(&len); !s.ok()) return s;
    if (len > bytes_.size() - pos_) {
      return Error(absl::StrCat("length ", len, " runs past the end (", bytes_.size() - pos_,
                                " bytes left)"));
    }
    *out = bytes_.substr(pos_, static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return absl::OkStatus();
  }

  absl::Status Fixed(size_t n, uint64_t* out) {
    if (n > bytes_.size() - pos_) return Error("truncated fixed-width value");
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) {
      v |= static_cast<uint64_t>(static_cast<uint8_t>(bytes_[pos_ + i])) << (8 * i);
    }
    pos_ += n;
    *out = v;
    return absl::OkStatus();
  }

  absl::Status Skip(uint32_t wire) {
    uint64_t ignored = 0;
    absl::string_view ignored_bytes;
    switch (wire) {
      case kVarint:
        return Varint(&ignored);
      case kFixed64:
        return Fixed(8, &ignored);
      case kLengthDelimited:
        return Bytes(&ignored_bytes);
      case kFixed32:
        return Fixed(4, &ignored);
      default:
        return Error(absl::StrCat("unsupported wire type ", wire));
    }
  }

 private:
  absl::string_view bytes_;
  absl::string_view what_;
  absl::string_view feature_;
  size_t pos_ = 0;
};

float FloatOfBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// One Feature's values; `kind` 0 = none, 1 bytes, 2 float, 3 int64.
// One feature's values; strings are views into the example's bytes. Inline storage for the one
// value most features carry, so decoding asks the heap for nothing but the row's own strings.
struct FeatureValues {
  int kind = 0;
  absl::InlinedVector<absl::string_view, 1> strings;
  absl::InlinedVector<double, 1> floats;
  absl::InlinedVector<int64_t, 1> ints;
};

absl::Status ParseList(absl::string_view bytes, int kind, absl::string_view name,
                       FeatureValues* out) {
  Reader r(bytes, "feature", name);
  while (!r.done()) {
    uint32_t field = 0, wire = 0;
    if (absl::Status s = r.Tag(&field, &wire); !s.ok()) return s;
    if (field != 1) {
      if (absl::Status s = r.Skip(wire); !s.ok()) return s;
      continue;
    }
    if (kind == 1) {
      absl::string_view v;
      if (wire != kLengthDelimited) return r.Error("bytes_list value is not length-delimited");
      if (absl::Status s = r.Bytes(&v); !s.ok()) return s;
      out->strings.emplace_back(v);
    } else if (kind == 2) {
      uint64_t bits = 0;
      if (wire == kFixed32) {
        if (absl::Status s = r.Fixed(4, &bits); !s.ok()) return s;
        out->floats.push_back(FloatOfBits(static_cast<uint32_t>(bits)));
      } else if (wire == kLengthDelimited) {
        absl::string_view packed;
        if (absl::Status s = r.Bytes(&packed); !s.ok()) return s;
        if (packed.size() % 4 != 0)
          return r.Error("packed float_list length is not a multiple of 4");
        Reader p(packed, "feature", name);
        while (!p.done()) {
          if (absl::Status s = p.Fixed(4, &bits); !s.ok()) return s;
          out->floats.push_back(FloatOfBits(static_cast<uint32_t>(bits)));
        }
      } else {
        return r.Error("float_list value has the wrong wire type");
      }
    } else {
      uint64_t v = 0;
      if (wire == kVarint) {
        if (absl::Status s = r.Varint(&v); !s.ok()) return s;
        out->ints.push_back(static_cast<int64_t>(v));
      } else if (wire == kLengthDelimited) {
        absl::string_view packed;
        if (absl::Status s = r.Bytes(&packed); !s.ok()) return s;
        Reader p(packed, "feature", name);
        while (!p.done()) {
          if (absl::Status s = p.Varint(&v); !s.ok()) return s;
          out->ints.push_back(static_cast<int64_t>(v));
        }
      } else {
        return r.Error("int64_list value has the wrong wire type");
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ParseFeature(absl::string_view bytes, absl::string_view name, FeatureValues* out) {
  Reader r(bytes, "feature", name);
  while (!r.done()) {
    uint32_t field = 0, wire = 0;
    if (absl::Status s = r.Tag(&field, &wire); !s.ok()) return s;
    if (field < 1 || field > 3) {
      if (absl::Status s = r.Skip(wire); !s.ok()) return s;
      continue;
    }
    if (wire != kLengthDelimited) return r.Error("a value list that is not length-delimited");
    absl::string_view list;
    if (absl::Status s = r.Bytes(&list); !s.ok()) return s;
    const int kind = static_cast<int>(field);
    if (kind != out->kind) {  // oneof: the last kind wins
      *out = FeatureValues();
      out->kind = kind;
    }
    if (absl::Status s = ParseList(list, kind, name, out); !s.ok()) return s;
  }
  return absl::OkStatus();
}

FeatureValue ToValue(const FeatureValues& v) {
  switch (v.kind) {
    case 1:
      if (v.strings.empty()) return std::monostate{};
      if (v.strings.size() == 1) return std::string(v.strings[0]);
      return std::vector<std::string>(v.strings.begin(), v.strings.end());
    case 2:
      if (v.floats.empty()) return std::monostate{};
      if (v.floats.size() == 1) return v.floats[0];
      return std::vector<double>(v.floats.begin(), v.floats.end());
    case 3:
      if (v.ints.empty()) return std::monostate{};
      if (v.ints.size() == 1) return v.ints[0];
      return std::vector<int64_t>(v.ints.begin(), v.ints.end());
    default:
      return std::monostate{};
  }
}

absl::Status ParseFeatures(absl::string_view bytes, FeatureRow* row) {
  Reader r(bytes, "Features");
  while (!r.done()) {
    uint32_t field = 0, wire = 0;
    if (absl::Status s = r.Tag(&field, &wire); !s.ok()) return s;
    if (field != 1 || wire != kLengthDelimited) {
      if (field == 1) return r.Error("feature map entry is not length-delimited");
      if (absl::Status s = r.Skip(wire); !s.ok()) return s;
      continue;
    }
    absl::string_view entry;
    if (absl::Status s = r.Bytes(&entry); !s.ok()) return s;
    Reader e(entry, "feature map entry");
    absl::string_view key;
    absl::string_view value;
    bool has_value = false;
    while (!e.done()) {
      uint32_t f = 0, w = 0;
      if (absl::Status s = e.Tag(&f, &w); !s.ok()) return s;
      if ((f == 1 || f == 2) && w != kLengthDelimited) {
        return e.Error("map entry key or value is not length-delimited");
      }
      if (f == 1) {
        if (absl::Status s = e.Bytes(&key); !s.ok()) return s;
      } else if (f == 2) {
        if (absl::Status s = e.Bytes(&value); !s.ok()) return s;
        has_value = true;
      } else if (absl::Status s = e.Skip(w); !s.ok()) {
        return s;
      }
    }
    FeatureValues values;
    if (has_value) {
      if (absl::Status s = ParseFeature(value, key, &values); !s.ok()) return s;
    }
    row->Set(key, ToValue(values));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseTfExample(absl::string_view bytes, FeatureRow* row) {
  Reader r(bytes, "Example");
  while (!r.done()) {
    uint32_t field = 0, wire = 0;
    if (absl::Status s = r.Tag(&field, &wire); !s.ok()) return s;
    if (field != 1) {
      if (absl::Status s = r.Skip(wire); !s.ok()) return s;
      continue;
    }
    if (wire != kLengthDelimited) return r.Error("'features' is not length-delimited");
    absl::string_view features;
    if (absl::Status s = r.Bytes(&features); !s.ok()) return s;
    if (absl::Status s = ParseFeatures(features, row); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace rankopt
