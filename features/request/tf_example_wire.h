// The one reader of serialized tf.Example wire bytes (tensorflow/core/example/example.proto),
// shared by ParseTfExample (bytes -> FeatureRow, tf_example.h) and FeatureTransformer (bytes ->
// the model's columns, never building a FeatureRow). Bounds-checked, no protobuf: an untrusted
// request never reaches a generated parser. Internal to features/.
//
//   ForEachTfExampleFeature(bytes, on_feature):  on_feature(key, feature_bytes, has_value) for
//       every map entry of Example.features, in wire order (a key written twice comes twice: the
//       caller keeps the last, protobuf's map rule). Unknown fields are skipped.
//   DecodeTfFeature(feature_bytes, key, sink):   one Feature's values into `sink`:
//       sink->Kind(k) before each value list (k: 1 bytes_list, 2 float_list, 3 int64_list; a
//       list of another kind than the previous one replaces it, the oneof rule), then
//       sink->String(view into the bytes) / sink->Float(float) / sink->Int(int64_t) per value,
//       packed or not.
// Errors (InvalidArgument) start "malformed tf.Example: " and name the message or feature and the
// byte offset: truncated varints or lengths, wrong wire types.
//
// Stateless; safe for concurrent use.
#ifndef RANKOPT_FEATURES_REQUEST_TF_EXAMPLE_WIRE_H_
#define RANKOPT_FEATURES_REQUEST_TF_EXAMPLE_WIRE_H_

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace rankopt::tf_example_wire {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// Feature kinds: the field numbers of tf.Feature's oneof.
enum FeatureKind : int { kNone = 0, kBytes = 1, kFloat = 2, kInt64 = 3 };

// A bounds-checked cursor over protobuf wire bytes. The reads return false on malformed bytes and
// remember why; Error() builds the message only then.
class Reader {
 public:
  // `what` is a literal ("Features"); `feature`, when set, a feature name inside the example's
  // bytes (both outlive the Reader).
  Reader(absl::string_view bytes, const char* what, absl::string_view feature = {})
      : p_(reinterpret_cast<const uint8_t*>(bytes.data())),
        begin_(p_),
        end_(p_ + bytes.size()),
        what_(what),
        feature_(feature) {}

  bool done() const { return p_ >= end_; }

  absl::Status Error() const {
    return absl::InvalidArgumentError(absl::StrCat(
        "malformed tf.Example: ", what_,
        feature_.data() == nullptr ? "" : absl::StrCat(" '", feature_, "'"), " at byte ",
        p_ - begin_, ": ", problem_,
        detail_kind_ == 1   ? absl::StrCat(" (length ", detail_a_, ", ", detail_b_, " bytes left)")
        : detail_kind_ == 2 ? absl::StrCat(" ", detail_a_)
                            : std::string()));
  }
  // Fails with `problem` (a literal).
  bool Fail(const char* problem) {
    problem_ = problem;
    return false;
  }

  // Inlined (the walk's hot path keeps the cursor in registers); longer varints out of line.
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool Varint(uint64_t* out) {
    if (ABSL_PREDICT_TRUE(p_ < end_ && *p_ < 0x80)) {  // one byte: tags, lengths, small ints
      *out = *p_++;
      return true;
    }
    return LongVarint(out);
  }

  ABSL_ATTRIBUTE_NOINLINE bool LongVarint(uint64_t* out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) return Fail("truncated varint");
      const uint8_t b = *p_++;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *out = v;
        return true;
      }
    }
    return Fail("varint longer than 10 bytes");
  }

  ABSL_ATTRIBUTE_ALWAYS_INLINE bool Tag(uint32_t* field, uint32_t* wire) {
    uint64_t tag = 0;
    if (!Varint(&tag)) return false;
    *field = static_cast<uint32_t>(tag >> 3);
    *wire = static_cast<uint32_t>(tag & 7);
    if (*field == 0) return Fail("field number 0");
    return true;
  }

  ABSL_ATTRIBUTE_ALWAYS_INLINE bool Bytes(absl::string_view* out) {
    uint64_t len = 0;
    if (!Varint(&len)) return false;
    const uint64_t left = static_cast<uint64_t>(end_ - p_);
    if (ABSL_PREDICT_FALSE(len > left)) {
      detail_kind_ = 1, detail_a_ = len, detail_b_ = left;
      return Fail("a length runs past the end");
    }
    *out = absl::string_view(reinterpret_cast<const char*>(p_), static_cast<size_t>(len));
    p_ += len;
    return true;
  }

  ABSL_ATTRIBUTE_ALWAYS_INLINE bool Fixed32(uint32_t* out) {
    if (end_ - p_ < 4) return Fail("truncated fixed-width value");
    *out = static_cast<uint32_t>(p_[0]) | static_cast<uint32_t>(p_[1]) << 8 |
           static_cast<uint32_t>(p_[2]) << 16 | static_cast<uint32_t>(p_[3]) << 24;
    p_ += 4;
    return true;
  }

  bool Skip(uint32_t wire) {
    uint64_t ignored = 0;
    absl::string_view ignored_bytes;
    switch (wire) {
      case kVarint:
        return Varint(&ignored);
      case kFixed64:
        if (end_ - p_ < 8) return Fail("truncated fixed-width value");
        p_ += 8;
        return true;
      case kLengthDelimited:
        return Bytes(&ignored_bytes);
      case kFixed32: {
        uint32_t ignored32 = 0;
        return Fixed32(&ignored32);
      }
      default:
        detail_kind_ = 2, detail_a_ = wire;
        return Fail("unsupported wire type");
    }
  }

 private:
  const uint8_t* p_;
  const uint8_t* begin_;
  const uint8_t* end_;
  const char* what_;
  absl::string_view feature_;
  const char* problem_ = "";
  int detail_kind_ = 0;  // 1: a length and the bytes left; 2: a wire type
  uint64_t detail_a_ = 0, detail_b_ = 0;
};

inline float FloatOfBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// The values of one list (BytesList, FloatList or Int64List) of kind `kind` into `sink`.
template <typename Sink>
absl::Status DecodeList(absl::string_view bytes, int kind, absl::string_view name, Sink* sink) {
  Reader r(bytes, "feature", name);
  while (!r.done()) {
    uint32_t field = 0, wire = 0;
    if (!r.Tag(&field, &wire)) return r.Error();
    if (field != 1) {
      if (!r.Skip(wire)) return r.Error();
      continue;
    }
    if (kind == kBytes) {
      absl::string_view v;
      if (wire != kLengthDelimited) {
        r.Fail("bytes_list value is not length-delimited");
        return r.Error();
      }
      if (!r.Bytes(&v)) return r.Error();
      sink->String(v);
    } else if (kind == kFloat) {
      uint32_t bits = 0;
      if (wire == kFixed32) {
        if (!r.Fixed32(&bits)) return r.Error();
        sink->Float(FloatOfBits(bits));
      } else if (wire == kLengthDelimited) {
        absl::string_view packed;
        if (!r.Bytes(&packed)) return r.Error();
        if (packed.size() % 4 != 0) {
          r.Fail("packed float_list length is not a multiple of 4");
          return r.Error();
        }
        for (size_t k = 0; k < packed.size(); k += 4) {
          std::memcpy(&bits, packed.data() + k, 4);  // little-endian hosts (x86, arm64)
          sink->Float(FloatOfBits(bits));
        }
      } else {
        r.Fail("float_list value has the wrong wire type");
        return r.Error();
      }
    } else {
      uint64_t v = 0;
      if (wire == kVarint) {
        if (!r.Varint(&v)) return r.Error();
        sink->Int(static_cast<int64_t>(v));
      } else if (wire == kLengthDelimited) {
        absl::string_view packed;
        if (!r.Bytes(&packed)) return r.Error();
        Reader p(packed, "feature", name);
        while (!p.done()) {
          if (!p.Varint(&v)) return p.Error();
          sink->Int(static_cast<int64_t>(v));
        }
      } else {
        r.Fail("int64_list value has the wrong wire type");
        return r.Error();
      }
    }
  }
  return absl::OkStatus();
}

template <typename Sink>
absl::Status DecodeTfFeature(absl::string_view bytes, absl::string_view name, Sink* sink) {
  Reader r(bytes, "feature", name);
  while (!r.done()) {
    uint32_t field = 0, wire = 0;
    if (!r.Tag(&field, &wire)) return r.Error();
    if (field < 1 || field > 3) {
      if (!r.Skip(wire)) return r.Error();
      continue;
    }
    if (wire != kLengthDelimited) {
      r.Fail("a value list that is not length-delimited");
      return r.Error();
    }
    absl::string_view list;
    if (!r.Bytes(&list)) return r.Error();
    const int kind = static_cast<int>(field);
    sink->Kind(kind);
    if (absl::Status s = DecodeList(list, kind, name, sink); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// The map entries of one Features message.
template <typename OnFeature>
absl::Status ForEachFeatureEntry(absl::string_view bytes, OnFeature& on_feature) {
  Reader r(bytes, "Features");
  while (!r.done()) {
    uint32_t field = 0, wire = 0;
    if (!r.Tag(&field, &wire)) return r.Error();
    if (field != 1 || wire != kLengthDelimited) {
      if (field == 1) {
        r.Fail("feature map entry is not length-delimited");
        return r.Error();
      }
      if (!r.Skip(wire)) return r.Error();
      continue;
    }
    absl::string_view entry;
    if (!r.Bytes(&entry)) return r.Error();
    Reader e(entry, "feature map entry");
    absl::string_view key;
    absl::string_view value;
    bool has_value = false;
    while (!e.done()) {
      uint32_t f = 0, w = 0;
      if (!e.Tag(&f, &w)) return e.Error();
      if ((f == 1 || f == 2) && w != kLengthDelimited) {
        e.Fail("map entry key or value is not length-delimited");
        return e.Error();
      }
      if (f == 1) {
        if (!e.Bytes(&key)) return e.Error();
      } else if (f == 2) {
        if (!e.Bytes(&value)) return e.Error();
        has_value = true;
      } else if (!e.Skip(w)) {
        return e.Error();
      }
    }
    if (absl::Status s = on_feature(key, value, has_value); !s.ok()) return s;
  }
  return absl::OkStatus();
}

template <typename OnFeature>
absl::Status ForEachTfExampleFeature(absl::string_view bytes, OnFeature&& on_feature) {
  Reader r(bytes, "Example");
  while (!r.done()) {
    uint32_t field = 0, wire = 0;
    if (!r.Tag(&field, &wire)) return r.Error();
    if (field != 1) {
      if (!r.Skip(wire)) return r.Error();
      continue;
    }
    if (wire != kLengthDelimited) {
      r.Fail("'features' is not length-delimited");
      return r.Error();
    }
    absl::string_view features;
    if (!r.Bytes(&features)) return r.Error();
    if (absl::Status s = ForEachFeatureEntry(features, on_feature); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace rankopt::tf_example_wire

#endif  // RANKOPT_FEATURES_REQUEST_TF_EXAMPLE_WIRE_H_
