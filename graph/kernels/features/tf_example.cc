#include "graph/kernels/features/tf_example.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace rankopt {
namespace {

// A cursor over protobuf wire bytes.
class WireReader {
 public:
  explicit WireReader(absl::string_view data) : p_(data.data()), end_(data.data() + data.size()) {}
  bool done() const { return p_ == end_; }

  bool Varint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return false;
      const uint8_t b = static_cast<uint8_t>(*p_++);
      result |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;  // more than 10 bytes
  }
  bool Fixed32(uint32_t* v) {
    if (end_ - p_ < 4) return false;
    std::memcpy(v, p_, 4);
    p_ += 4;
    return true;
  }
  bool Bytes(absl::string_view* out) {
    uint64_t n;
    if (!Varint(&n) || n > static_cast<uint64_t>(end_ - p_)) return false;
    *out = absl::string_view(p_, static_cast<size_t>(n));
    p_ += n;
    return true;
  }
  // Skips a field of `wire_type`; false on a group or truncated data.
  bool Skip(uint32_t wire_type) {
    uint64_t v;
    absl::string_view s;
    switch (wire_type) {
      case 0:
        return Varint(&v);
      case 1:
        if (end_ - p_ < 8) return false;
        p_ += 8;
        return true;
      case 2:
        return Bytes(&s);
      case 5:
        if (end_ - p_ < 4) return false;
        p_ += 4;
        return true;
      default:
        return false;
    }
  }
  // Reads a tag; false at truncation or field number 0.
  bool Tag(uint32_t* field, uint32_t* wire_type) {
    uint64_t tag;
    if (!Varint(&tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return false;
    *field = static_cast<uint32_t>(tag >> 3);
    *wire_type = static_cast<uint32_t>(tag & 7);
    return true;
  }

 private:
  const char* p_;
  const char* end_;
};

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed tf.Example: ", what));
}

absl::Status DecodeList(absl::string_view list, ExampleFeature* out) {
  WireReader r(list);
  while (!r.done()) {
    uint32_t field, wire;
    if (!r.Tag(&field, &wire)) return Malformed("bad tag in a value list");
    if (field != 1) {
      if (!r.Skip(wire)) return Malformed("truncated field in a value list");
      continue;
    }
    switch (out->kind) {
      case ExampleFeature::Kind::kBytes: {
        absl::string_view s;
        if (wire != 2 || !r.Bytes(&s)) return Malformed("bad bytes_list value");
        out->bytes.push_back(s);
        break;
      }
      case ExampleFeature::Kind::kFloat: {
        if (wire == 5) {
          uint32_t bits;
          if (!r.Fixed32(&bits)) return Malformed("truncated float_list value");
          float f;
          std::memcpy(&f, &bits, 4);
          out->floats.push_back(f);
        } else if (wire == 2) {
          absl::string_view packed;
          if (!r.Bytes(&packed) || packed.size() % 4 != 0) {
            return Malformed("packed float_list is not a multiple of 4 bytes");
          }
          const size_t n = packed.size() / 4, at = out->floats.size();
          out->floats.resize(at + n);
          if (n > 0) std::memcpy(out->floats.data() + at, packed.data(), packed.size());
        } else {
          return Malformed("float_list value of the wrong wire type");
        }
        break;
      }
      case ExampleFeature::Kind::kInt64: {
        if (wire == 0) {
          uint64_t v;
          if (!r.Varint(&v)) return Malformed("truncated int64_list value");
          out->ints.push_back(static_cast<int64_t>(v));
        } else if (wire == 2) {
          absl::string_view packed;
          if (!r.Bytes(&packed)) return Malformed("truncated packed int64_list");
          WireReader p(packed);
          while (!p.done()) {
            uint64_t v;
            if (!p.Varint(&v)) return Malformed("bad varint in a packed int64_list");
            out->ints.push_back(static_cast<int64_t>(v));
          }
        } else {
          return Malformed("int64_list value of the wrong wire type");
        }
        break;
      }
      case ExampleFeature::Kind::kEmpty:
        break;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view ExampleFeature::KindName() const {
  switch (kind) {
    case Kind::kBytes:
      return "bytes_list";
    case Kind::kFloat:
      return "float_list";
    case Kind::kInt64:
      return "int64_list";
    case Kind::kEmpty:
      break;
  }
  return "no list";
}

size_t ExampleFeature::size() const {
  switch (kind) {
    case Kind::kBytes:
      return bytes.size();
    case Kind::kFloat:
      return floats.size();
    case Kind::kInt64:
      return ints.size();
    case Kind::kEmpty:
      break;
  }
  return 0;
}

void ExampleFeature::Clear() {
  kind = Kind::kEmpty;
  bytes.clear();
  floats.clear();
  ints.clear();
}

absl::Status ForEachExampleFeature(
    absl::string_view example,
    absl::FunctionRef<absl::Status(absl::string_view key, absl::string_view feature)> visit) {
  WireReader r(example);
  while (!r.done()) {
    uint32_t field, wire;
    if (!r.Tag(&field, &wire)) return Malformed("bad tag in Example");
    if (field != 1 || wire != 2) {
      if (!r.Skip(wire)) return Malformed("truncated field in Example");
      continue;
    }
    absl::string_view features;
    if (!r.Bytes(&features)) return Malformed("truncated Example.features");
    WireReader f(features);
    while (!f.done()) {
      if (!f.Tag(&field, &wire)) return Malformed("bad tag in Features");
      if (field != 1 || wire != 2) {
        if (!f.Skip(wire)) return Malformed("truncated field in Features");
        continue;
      }
      absl::string_view entry;
      if (!f.Bytes(&entry)) return Malformed("truncated Features.feature entry");
      absl::string_view key, value;
      WireReader e(entry);
      while (!e.done()) {
        if (!e.Tag(&field, &wire)) return Malformed("bad tag in a feature map entry");
        if (field == 1 && wire == 2) {
          if (!e.Bytes(&key)) return Malformed("truncated feature key");
        } else if (field == 2 && wire == 2) {
          if (!e.Bytes(&value)) return Malformed("truncated feature value");
        } else if (!e.Skip(wire)) {
          return Malformed("truncated field in a feature map entry");
        }
      }
      absl::Status s = visit(key, value);
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status DecodeExampleFeature(absl::string_view feature, ExampleFeature* out) {
  out->Clear();
  WireReader r(feature);
  while (!r.done()) {
    uint32_t field, wire;
    if (!r.Tag(&field, &wire)) return Malformed("bad tag in Feature");
    if (field < 1 || field > 3 || wire != 2) {
      if (!r.Skip(wire)) return Malformed("truncated field in Feature");
      continue;
    }
    absl::string_view list;
    if (!r.Bytes(&list)) return Malformed("truncated value list in Feature");
    // A oneof: the last list kind set wins; the same kind twice merges, as protobuf does.
    const ExampleFeature::Kind kind = field == 1   ? ExampleFeature::Kind::kBytes
                                      : field == 2 ? ExampleFeature::Kind::kFloat
                                                   : ExampleFeature::Kind::kInt64;
    if (kind != out->kind) out->Clear();
    out->kind = kind;
    absl::Status s = DecodeList(list, out);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace rankopt
