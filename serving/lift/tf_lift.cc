// Lifting TF feature transforms into a feature config (tf_lift.h). Two small interpreters over
// the graph: a constant evaluator (ConstEval) for the boundary/mean/vocabulary chains, and a
// symbolic pass (Lifter) that tracks, per tensor, which transform of which raw input it holds.
#include "serving/lift/tf_lift.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/file_io.h"
#include "features/transforms/hashing.h"
#include "graph/io/model_io.h"
#include "graph/passes/prune.h"
#include "graph/tf/saved_model_io.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

// ---------------------------------------------------------------------------------------------
// Constants: small numeric or string tensors computed from Const nodes.

struct ConstValue {
  DType dtype = DType::kInvalid;
  std::vector<int64_t> dims;
  std::vector<double> num;       // numeric dtypes (bool as 0/1)
  std::vector<std::string> str;  // kString

  int64_t size() const {
    return dtype == DType::kString ? static_cast<int64_t>(str.size())
                                   : static_cast<int64_t>(num.size());
  }
};

bool IsFloat(DType d) { return d == DType::kFloat32 || d == DType::kFloat64; }
bool IsInt(DType d) { return d == DType::kInt32 || d == DType::kInt64; }

// Rounds to the dtype, as TF's kernel would store it.
double Round(DType d, double v) {
  if (d == DType::kFloat32) return static_cast<double>(static_cast<float>(v));
  if (IsInt(d)) return std::trunc(v);
  if (d == DType::kBool) return v != 0 ? 1 : 0;
  return v;
}

std::optional<ConstValue> FromTensor(const Tensor& t) {
  ConstValue c;
  c.dtype = t.dtype();
  c.dims = t.dims();
  constexpr int64_t kMaxElements = int64_t{1} << 20;
  if (t.num_elements() > kMaxElements) return std::nullopt;
  switch (t.dtype()) {
    case DType::kString:
      c.str.assign(t.strings().begin(), t.strings().end());
      return c;
    case DType::kFloat32:
      for (float v : t.values<float>()) c.num.push_back(v);
      return c;
    case DType::kFloat64:
      for (double v : t.values<double>()) c.num.push_back(v);
      return c;
    case DType::kInt32:
      for (int32_t v : t.values<int32_t>()) c.num.push_back(v);
      return c;
    case DType::kInt64:
      for (int64_t v : t.values<int64_t>()) c.num.push_back(static_cast<double>(v));
      return c;
    case DType::kBool:
      for (bool v : t.values<bool>()) c.num.push_back(v ? 1 : 0);
      return c;
    default:
      return std::nullopt;
  }
}

// Integer values of a ConstValue; nullopt unless every value is an integer.
std::optional<std::vector<int64_t>> Ints(const std::optional<ConstValue>& c) {
  if (!c.has_value() || c->dtype == DType::kString) return std::nullopt;
  std::vector<int64_t> out;
  for (double v : c->num) {
    if (v != std::trunc(v)) return std::nullopt;
    out.push_back(static_cast<int64_t>(v));
  }
  return out;
}

// A vocabulary table: HashTableV2 and what fills it.
struct Table {
  std::vector<std::string> keys;  // key i has value values[i]
  std::vector<int64_t> values;
  std::string source;  // "asset vocab.txt", "LookupTableImportV2 constants", ...
};

// Evaluates constant tensors, memoized. Knows the ops tf.Transform and feature columns wrap
// constants in; anything else is "not constant".
class ConstEval {
 public:
  ConstEval(const Graph& graph, std::string asset_dir)
      : g_(graph), asset_dir_(std::move(asset_dir)) {
    for (const Node& n : g_.nodes()) {
      if ((n.op == "InitializeTableFromTextFileV2" || n.op == "InitializeTableV2" ||
           n.op == "LookupTableImportV2" || n.op == "InitializeTable" ||
           n.op == "InitializeTableFromTextFile") &&
          !n.inputs.empty()) {
        initializers_[Through(n.inputs[0]).node].push_back(&n);
      }
    }
  }

  // Follows Identity chains.
  TensorRef Through(TensorRef ref) const {
    for (int i = 0; i < 64; ++i) {
      const Node* n = g_.FindNode(ref.node);
      if (n == nullptr || !(n->op == "Identity" || n->op == "Snapshot") || n->inputs.empty()) break;
      ref = n->inputs[0];
    }
    return ref;
  }

  std::optional<ConstValue> Eval(TensorRef ref) {
    ref = Through(ref);
    if (auto it = memo_.find(ref); it != memo_.end()) return it->second;
    memo_[ref] = std::nullopt;  // cycles evaluate to "not constant"
    std::optional<ConstValue> v = Compute(ref);
    memo_[ref] = v;
    return v;
  }

  // The table a handle tensor refers to (HashTableV2 + its one initializer).
  absl::StatusOr<const Table*> TableOf(TensorRef handle) {
    handle = Through(handle);
    if (auto it = tables_.find(handle.node); it != tables_.end()) return &it->second;
    const Node* table = g_.FindNode(handle.node);
    if (table == nullptr || (table->op != "HashTableV2" && table->op != "HashTable")) {
      return absl::InvalidArgumentError(
          absl::StrCat("the table handle comes from '", handle.node, "' (",
                       table == nullptr ? "missing" : table->op, "), not a HashTableV2"));
    }
    auto inits = initializers_.find(table->name);
    if (inits == initializers_.end() || inits->second.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("table '", table->name, "' has no initializer lift can read"));
    }
    // Keras SavedModels initialize a table once per traced function: the same contents.
    RANKOPT_ASSIGN_OR_RETURN(Table t, TableFrom(*inits->second[0]));
    for (size_t i = 1; i < inits->second.size(); ++i) {
      RANKOPT_ASSIGN_OR_RETURN(Table other, TableFrom(*inits->second[i]));
      if (other.keys != t.keys || other.values != t.values) {
        return absl::InvalidArgumentError(
            absl::StrCat("table '", table->name, "' has ", inits->second.size(),
                         " initializers that fill it differently ('", inits->second[0]->name,
                         "', '", inits->second[i]->name, "')"));
      }
    }
    return &tables_.emplace(table->name, std::move(t)).first->second;
  }

 private:
  // The contents one initializer gives a table.
  absl::StatusOr<Table> TableFrom(const Node& init) {
    Table t;
    if (init.op == "InitializeTableFromTextFileV2" || init.op == "InitializeTableFromTextFile") {
      const int64_t* key_index = init.attrs.Get<int64_t>("key_index");
      const int64_t* value_index = init.attrs.Get<int64_t>("value_index");
      const std::string* delimiter = init.attrs.Get<std::string>("delimiter");
      const int64_t* vocab_size = init.attrs.Get<int64_t>("vocab_size");
      // key_index -2: the whole line; value_index -1: the line number (index_table_from_file).
      if (key_index == nullptr || *key_index != -2 || value_index == nullptr ||
          *value_index != -1 || (delimiter != nullptr && *delimiter != "\t")) {
        return absl::InvalidArgumentError(
            absl::StrCat("table initializer '", init.name,
                         "' does not read whole lines as keys with line numbers as values "
                         "(key_index -2, value_index -1)"));
      }
      std::optional<ConstValue> file = init.inputs.size() > 1 ? Eval(init.inputs[1]) : std::nullopt;
      if (!file.has_value() || file->dtype != DType::kString || file->str.size() != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("table initializer '", init.name, "': the file name is not a constant"));
      }
      RANKOPT_ASSIGN_OR_RETURN(std::string path, AssetPath(file->str[0], init.name));
      std::ifstream in(path, std::ios::binary);
      if (!in) {
        return absl::NotFoundError(absl::StrCat("table initializer '", init.name,
                                                "': cannot read vocabulary '", path, "'"));
      }
      std::string line;
      while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (vocab_size != nullptr && *vocab_size >= 0 &&
            static_cast<int64_t>(t.keys.size()) >= *vocab_size) {
          break;
        }
        t.values.push_back(static_cast<int64_t>(t.keys.size()));
        t.keys.push_back(line);
      }
      t.source = absl::StrCat("asset ", std::filesystem::path(path).filename().string());
    } else {
      std::optional<ConstValue> keys = init.inputs.size() > 1 ? Eval(init.inputs[1]) : std::nullopt;
      std::optional<std::vector<int64_t>> values =
          init.inputs.size() > 2 ? Ints(Eval(init.inputs[2])) : std::nullopt;
      if (!keys.has_value() || !values.has_value() ||
          static_cast<size_t>(keys->size()) != values->size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("table initializer '", init.name,
                         "': keys and integer values are not constants of "
                         "one length"));
      }
      if (keys->dtype == DType::kString) {
        t.keys = keys->str;
      } else if (std::optional<std::vector<int64_t>> ints = Ints(keys)) {
        for (int64_t k : *ints) t.keys.push_back(std::to_string(k));  // looked up as decimal
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("table initializer '", init.name, "': keys are neither strings nor ints"));
      }
      t.values = *values;
      t.source = absl::StrCat(init.op, " constants");
    }
    return t;
  }

  // A vocabulary file named in the graph (often an absolute path on the training machine): the
  // file of that name in the SavedModel's assets/.
  absl::StatusOr<std::string> AssetPath(const std::string& named, const std::string& node) const {
    const std::string base = std::filesystem::path(named).filename().string();
    std::vector<std::string> tried;
    for (const std::string& candidate :
         {asset_dir_.empty() ? std::string() : asset_dir_ + "/assets/" + base, named}) {
      if (candidate.empty()) continue;
      std::error_code ec;
      if (std::filesystem::is_regular_file(candidate, ec)) return candidate;
      tried.push_back(candidate);
    }
    return absl::NotFoundError(absl::StrCat("table initializer '", node, "' reads '", named,
                                            "'; not found (tried ", absl::StrJoin(tried, ", "),
                                            ")"));
  }

  std::optional<ConstValue> Compute(TensorRef ref) {
    const Node* n = g_.FindNode(ref.node);
    if (n == nullptr) return std::nullopt;
    auto in = [&](size_t i) -> std::optional<ConstValue> {
      if (i >= n->inputs.size()) return std::nullopt;
      return Eval(n->inputs[i]);
    };
    const DType* t_attr = n->attrs.Get<DType>("T");
    if (n->op == kConstOp && ref.port == 0) {
      const Tensor* value = n->attrs.Get<Tensor>("value");
      return value == nullptr ? std::nullopt : FromTensor(*value);
    }
    if (ref.port != 0) return std::nullopt;
    if (n->op == "ZerosLike" && t_attr != nullptr) {
      ConstValue c;  // a scalar 0 that broadcasts like the input
      c.dtype = *t_attr;
      c.num = {0};
      return c;
    }
    if (n->op == "LookupTableSizeV2" || n->op == "LookupTableSize") {
      absl::StatusOr<const Table*> table = TableOf(n->inputs.empty() ? TensorRef{} : n->inputs[0]);
      if (!table.ok()) return std::nullopt;
      ConstValue c;
      c.dtype = DType::kInt64;
      c.num = {static_cast<double>((*table)->keys.size())};
      return c;
    }
    std::optional<ConstValue> a = in(0);
    if (!a.has_value()) return std::nullopt;
    if (n->op == "Range") {  // feature columns' vocabulary ids: range(0, size)
      std::optional<std::vector<int64_t>> limit = Ints(in(1)), delta = Ints(in(2));
      std::optional<std::vector<int64_t>> start = Ints(a);
      if (!start || !limit || !delta || start->size() != 1 || limit->size() != 1 ||
          delta->size() != 1 || (*delta)[0] <= 0 || (*limit)[0] - (*start)[0] > (1 << 20)) {
        return std::nullopt;
      }
      ConstValue c;
      const DType* tidx = n->attrs.Get<DType>("Tidx");
      c.dtype = tidx != nullptr ? *tidx : DType::kInt32;
      for (int64_t v = (*start)[0]; v < (*limit)[0]; v += (*delta)[0]) {
        c.num.push_back(static_cast<double>(v));
      }
      c.dims = {static_cast<int64_t>(c.num.size())};
      return c;
    }
    if (n->op == "Neg" || n->op == "Sqrt") {
      if (a->dtype == DType::kString) return std::nullopt;
      for (double& v : a->num) v = Round(a->dtype, n->op == "Neg" ? -v : std::sqrt(v));
      return a;
    }
    if (n->op == "Cast") {
      const DType* dst = n->attrs.Get<DType>("DstT");
      if (dst == nullptr || a->dtype == DType::kString || *dst == DType::kString)
        return std::nullopt;
      for (double& v : a->num) v = Round(*dst, v);
      a->dtype = *dst;
      return a;
    }
    if (n->op == "ExpandDims") {
      std::optional<std::vector<int64_t>> axis = Ints(in(1));
      if (!axis || axis->size() != 1) return std::nullopt;
      int64_t r = static_cast<int64_t>(a->dims.size());
      int64_t ax = (*axis)[0] < 0 ? (*axis)[0] + r + 1 : (*axis)[0];
      if (ax < 0 || ax > r) return std::nullopt;
      a->dims.insert(a->dims.begin() + ax, 1);
      return a;
    }
    if (n->op == "Reshape") {
      std::optional<std::vector<int64_t>> shape = Ints(in(1));
      if (!shape) return std::nullopt;
      int64_t known = 1, unknown = -1;
      for (size_t i = 0; i < shape->size(); ++i) {
        if ((*shape)[i] == -1 && unknown < 0) {
          unknown = static_cast<int64_t>(i);
        } else if ((*shape)[i] < 0) {
          return std::nullopt;
        } else {
          known *= (*shape)[i];
        }
      }
      if (unknown >= 0 && known > 0) (*shape)[unknown] = a->size() / known;
      int64_t total = 1;
      for (int64_t d : *shape) total *= d;
      if (total != a->size()) return std::nullopt;
      a->dims = *shape;
      return a;
    }
    if (n->op == "Squeeze") {
      std::vector<int64_t> dims;
      for (int64_t d : a->dims) {
        if (d != 1) dims.push_back(d);
      }
      a->dims = dims;
      return a;
    }
    if (n->op == "Shape") {
      ConstValue c;
      const DType* out = n->attrs.Get<DType>("out_type");
      c.dtype = out != nullptr ? *out : DType::kInt32;
      c.dims = {static_cast<int64_t>(a->dims.size())};
      for (int64_t d : a->dims) c.num.push_back(static_cast<double>(d));
      return c;
    }
    if (n->op == "ReverseV2" || n->op == "TopKV2") {
      // Along the last axis only (what tf.Transform's quantile chains use).
      int64_t last = a->dims.empty() ? 1 : a->dims.back();
      if (last <= 0 || a->dtype == DType::kString || a->size() % last != 0) return std::nullopt;
      if (n->op == "ReverseV2") {
        std::optional<std::vector<int64_t>> axis = Ints(in(1));
        int64_t r = static_cast<int64_t>(a->dims.size());
        if (!axis || axis->size() != 1 || ((*axis)[0] != -1 && (*axis)[0] != r - 1)) {
          return std::nullopt;
        }
      } else {
        std::optional<std::vector<int64_t>> k = Ints(in(1));
        if (!k || k->size() != 1 || (*k)[0] != last) return std::nullopt;  // full sorts only
      }
      for (int64_t row = 0; row < a->size() / last; ++row) {
        auto begin = a->num.begin() + row * last;
        if (n->op == "ReverseV2") {
          std::reverse(begin, begin + last);
        } else {
          std::stable_sort(begin, begin + last, [](double x, double y) { return x > y; });
        }
      }
      return a;
    }
    if (n->op == "StridedSlice") {
      // 1-D input, one element picked (shrink_axis_mask 1) or a plain [begin:end:1] range.
      std::optional<std::vector<int64_t>> b = Ints(in(1)), e = Ints(in(2)), s = Ints(in(3));
      const int64_t* shrink = n->attrs.Get<int64_t>("shrink_axis_mask");
      const int64_t* begin_mask = n->attrs.Get<int64_t>("begin_mask");
      const int64_t* end_mask = n->attrs.Get<int64_t>("end_mask");
      const int64_t* ellipsis = n->attrs.Get<int64_t>("ellipsis_mask");
      const int64_t* new_axis = n->attrs.Get<int64_t>("new_axis_mask");
      if (a->dims.size() != 1 || !b || !e || !s || b->size() != 1 || (*s)[0] != 1 ||
          (ellipsis && *ellipsis) || (new_axis && *new_axis)) {
        return std::nullopt;
      }
      const int64_t len = a->dims[0];
      int64_t from = (begin_mask && (*begin_mask & 1)) ? 0 : (*b)[0];
      if (from < 0) from += len;
      if (shrink != nullptr && (*shrink & 1)) {
        if (from < 0 || from >= len) return std::nullopt;
        ConstValue c;
        c.dtype = a->dtype;
        if (a->dtype == DType::kString) {
          c.str = {a->str[from]};
        } else {
          c.num = {a->num[from]};
        }
        return c;
      }
      int64_t to = (end_mask && (*end_mask & 1)) ? len : (*e)[0];
      if (to < 0) to += len;
      from = std::clamp<int64_t>(from, 0, len);
      to = std::clamp<int64_t>(to, from, len);
      if (a->dtype == DType::kString) return std::nullopt;
      ConstValue c;
      c.dtype = a->dtype;
      c.dims = {to - from};
      c.num.assign(a->num.begin() + from, a->num.begin() + to);
      return c;
    }
    if (n->op == "Pack" && n->inputs.size() == 1) {
      a->dims.insert(a->dims.begin(), 1);
      return a;
    }
    if (n->op == "Unpack" && !a->dims.empty() && a->dims[0] == 1) {
      const int64_t* axis = n->attrs.Get<int64_t>("axis");
      if (axis != nullptr && *axis != 0) return std::nullopt;
      a->dims.erase(a->dims.begin());
      return a;
    }
    if (n->op == "NotEqual" || n->op == "Equal" || n->op == "Sub" || n->op == "Add" ||
        n->op == "AddV2" || n->op == "Mul" || n->op == "RealDiv" || n->op == "Maximum") {
      std::optional<ConstValue> b = in(1);
      if (!b.has_value() || a->dtype == DType::kString || b->dtype == DType::kString) {
        return std::nullopt;
      }
      // Elementwise with scalar broadcasting only.
      if (a->size() != b->size() && a->size() != 1 && b->size() != 1) return std::nullopt;
      ConstValue c = a->size() >= b->size() ? *a : *b;
      const bool compare = n->op == "NotEqual" || n->op == "Equal";
      for (int64_t i = 0; i < c.size(); ++i) {
        double x = a->num[a->size() == 1 ? 0 : i], y = b->num[b->size() == 1 ? 0 : i];
        double r = n->op == "NotEqual"  ? (x != y)
                   : n->op == "Equal"   ? (x == y)
                   : n->op == "Sub"     ? x - y
                   : n->op == "Mul"     ? x * y
                   : n->op == "RealDiv" ? x / y
                   : n->op == "Maximum" ? std::max(x, y)
                                        : x + y;
        c.num[i] = compare ? r : Round(a->dtype, r);
      }
      c.dtype = compare ? DType::kBool : a->dtype;
      return c;
    }
    return std::nullopt;
  }

  const Graph& g_;
  std::string asset_dir_;
  absl::flat_hash_map<TensorRef, std::optional<ConstValue>> memo_;
  absl::flat_hash_map<std::string, std::vector<const Node*>> initializers_;
  std::map<std::string, Table> tables_;
};

// ---------------------------------------------------------------------------------------------
// Symbols: what a tensor holds as a function of one raw input.

struct Sym {
  enum Kind {
    kRaw,          // the raw value (Cast int -> float recorded in dtype)
    kDecimal,      // AsString of a raw integer
    kHash,         // StringToHashBucketFast
    kLookup,       // LookupTableFindV2: table index or the table default
    kLookupFound,  // NotEqual(lookup, default)
    kOovId,        // hash + vocabulary size
    kVocab,        // select(found, lookup, oov id): vocabulary with OOV buckets
    kNormalized,   // (x - sub) / div
    kNeg,          // -x (tf.Transform apply_buckets)
    kBatchMax,     // max over the batch of -x
    kNegBounds,    // concat(reverse(-boundaries), [max(-x)])
    kNegBucket,    // BoostedTreesBucketize(-x, kNegBounds): #{c < -x} (lower_bound)
    kBucket,       // a bucket id
    kIsValue,      // Equal(x, match)
    kShape,        // Shape(x)
    kFill,         // Tile([fill], Shape(x))
    kMask,         // NotEqual(x, ignore): feature columns' to_sparse_input
    kIndices,      // Where(mask): [N, rank] indices of the rows whose value is not `match`
    kRowIds,       // the row of each kIndices entry ([N]): its column 0
    kZeros,        // a [B, 1] input's column index of each kIndices entry: always 0
  };
  Kind kind = kRaw;
  int input = -1;                 // index of the raw input
  DType dtype = DType::kInvalid;  // dtype of the tensor
  bool from_int = false;          // the raw value is an integer
  int64_t buckets = 0;            // kHash; kOovId, kVocab: OOV buckets
  const Table* table = nullptr;   // kLookup, kLookupFound, kVocab
  int64_t table_default = -1;     // kLookup
  double sub = 0, div = 1;        // kNormalized
  std::vector<float> boundaries;  // kNegBounds (negated, reversed), kNegBucket, kBucket
  bool below = false;             // kBucket: equal values go below
  std::string ops;                // the ops lifted so far, for the report
  int rank = -1;                  // the tensor's rank when known (kShape: its input's)
  // String plumbing of feature columns over dense inputs (kRaw, kLookup):
  std::optional<std::pair<std::string, std::string>> replace;  // x == first -> second
  std::optional<std::string> ignore;  // sparse values: rows equal to it are absent
  std::string match;                  // kIsValue's constant; kFill's value; kMask's ignore
  int mask_rank = -1;  // kMask, kIndices, kRowIds, kZeros: the rank of the masked tensor (1 or 2)

  bool Final() const {
    if (ignore || (replace && kind != kLookup)) return false;
    return kind == kRaw || kind == kHash || kind == kLookup || kind == kVocab ||
           kind == kNormalized || kind == kBucket;
  }
  bool IsString() const { return dtype == DType::kString; }
};

std::string AddOp(const std::string& ops, absl::string_view op) {
  if (ops.empty()) return std::string(op);
  if (absl::EndsWith(ops, op)) return ops;
  return absl::StrCat(ops, " > ", op);
}

bool StrictlyIncreasing(const std::vector<float>& b) {
  for (size_t i = 0; i < b.size(); ++i) {
    if (!std::isfinite(b[i]) || (i > 0 && !(b[i] > b[i - 1]))) return false;
  }
  return true;
}

struct RawInput {
  std::string key;  // the request key
  TensorRef ref;
  DType dtype = DType::kInvalid;
  Shape shape;
};

// One use of a symbol by a node the lifter does not model (or a graph output).
struct Use {
  TensorRef tensor;
  std::string consumer;  // "node 'x' (Op)" or "signature output 'y'"
  std::string node;      // the consumer node's name ("" for an output)
};

// A Shape node that reads a tensor between a raw input and its lifted form, and whose result
// the graph still uses: after the cut it reads the lifted input (same rows) instead.
struct ShapeRead {
  std::string shape_node;
  TensorRef reads;
  int input = -1;
};

class Lifter {
 public:
  Lifter(const Graph& g, std::string asset_dir) : g_(g), consts_(g, std::move(asset_dir)) {}

  absl::StatusOr<LiftResult> Run(const LiftOptions& options) {
    LiftResult result;
    RANKOPT_ASSIGN_OR_RETURN(const Signature* picked, PickSignature(options));
    std::optional<Signature> kept_outputs;
    if (picked != nullptr) {
      kept_outputs = *picked;
      if (!options.outputs.empty()) {
        kept_outputs->outputs.clear();
        for (const std::string& key : options.outputs) {
          bool found = false;
          for (const SignatureTensor& out : picked->outputs) {
            if (out.key != key) continue;
            kept_outputs->outputs.push_back(out);
            found = true;
          }
          if (!found) {
            return absl::NotFoundError(
                absl::StrCat("signature '", picked->key, "' has no output '", key, "'"));
          }
        }
      }
    }
    const Signature* signature = kept_outputs.has_value() ? &*kept_outputs : nullptr;
    // Without a signature: the graph outputs, or the tensors options.outputs names.
    graph_outputs_ = g_.outputs();
    if (signature == nullptr && !options.outputs.empty()) {
      graph_outputs_.clear();
      for (const std::string& name : options.outputs) {
        RANKOPT_ASSIGN_OR_RETURN(TensorRef ref, g_.ResolveTensor(name));
        graph_outputs_.push_back({name, ref});
      }
    }
    std::vector<RawInput> raws = RawInputs(signature);
    std::vector<std::string> raw_problem(raws.size());
    for (size_t i = 0; i < raws.size(); ++i) {
      const RawInput& r = raws[i];
      const bool scalar_rows =
          r.shape.known_rank() &&
          (r.shape.rank() == 1 || (r.shape.rank() == 2 && r.shape.dim(1) == 1));
      if (!scalar_rows) {
        raw_problem[i] = absl::StrCat("its shape ", r.shape.ToString(),
                                      " is not one value per row ([B] or [B, 1])");
        continue;
      }
      if (r.dtype != DType::kString && !IsFloat(r.dtype) && !IsInt(r.dtype)) {
        raw_problem[i] = absl::StrCat("dtype ", DTypeName(r.dtype), " is not lifted");
        continue;
      }
      Sym s;
      s.kind = Sym::kRaw;
      s.input = static_cast<int>(i);
      s.dtype = r.dtype;
      s.from_int = IsInt(r.dtype);
      s.rank = r.shape.rank();
      syms_[r.ref] = s;
    }
    RANKOPT_ASSIGN_OR_RETURN(std::vector<int> order, g_.TopologicalOrder());
    const std::vector<bool> live = Live(signature);
    for (int index : order) {
      if (live[index]) Visit(g_.nodes()[index]);
    }
    if (signature != nullptr) {
      for (const SignatureTensor& out : signature->outputs) {
        if (syms_.contains(out.ref)) {
          uses_.push_back({out.ref, absl::StrCat("signature output '", out.key, "'")});
        }
      }
    } else {
      for (const GraphOutput& out : graph_outputs_) {
        if (syms_.contains(out.ref)) {
          uses_.push_back({out.ref, absl::StrCat("output '", out.name, "'")});
        }
      }
    }
    // Per raw input: its frontier.
    std::vector<std::vector<Use>> by_input(raws.size());
    for (const Use& use : uses_) by_input[syms_.at(use.tensor).input].push_back(use);

    Graph cut = g_;
    std::vector<Node> new_nodes;
    absl::flat_hash_map<TensorRef, TensorRef> rewire;
    // Per lifted raw input: its placeholder and dtype.
    std::map<size_t, std::pair<std::string, DType>> views;
    std::vector<Signature> signatures;
    if (signature != nullptr) signatures.push_back(*signature);
    result.config.model = options.model_name;
    std::map<int, AbsentIds> absent_ids;  // by raw input
    for (size_t i = 0; i < raws.size(); ++i) {
      const RawInput& raw = raws[i];
      if (!raw_problem[i].empty()) {
        result.kept.push_back({raw.key, raw_problem[i]});
        continue;
      }
      if (by_input[i].empty()) {
        // A tf.Example may carry it (ParseExample ignores extra features): so may a request.
        result.kept.push_back({raw.key,
                               "nothing in the graph reads it (requests may send it: "
                               "ignore_unknown_features)",
                               /*unread=*/true});
        result.config.ignore_unknown_features = true;
        continue;
      }
      // A string the graph reads as vocabulary ids in several forms (the sparse ids of
      // to_sparse_input + lookup that crosses and embedding combiners read, dense ids of an
      // indicator): one lifted id column, each form rebuilt from it in-graph on numbers.
      if (std::optional<VocabularyForms> forms = FindVocabularyForms(raw, by_input[i])) {
        absl::StatusOr<LiftedFeature> lifted =
            LiftVocabularyForms(raw, *forms, &new_nodes, &rewire, &result.config);
        if (!lifted.ok()) {
          result.kept.push_back({raw.key, std::string(lifted.status().message())});
          continue;
        }
        views[i] = {lifted->graph_input, DType::kInt64};
        if (forms->absent) {
          const FeatureSpec& spec = result.config.features.back();
          absent_ids[static_cast<int>(i)] = {
              raw.key, lifted->graph_input,
              static_cast<int64_t>(spec.categorical.vocabulary.size()) - 1};
        }
        RenameSignatureInput(raw.key, lifted->graph_input, DType::kInt64, &signatures);
        result.lifted.push_back(*std::move(lifted));
        continue;
      }
      std::set<std::pair<std::string, int>> tensors;
      std::string problem;
      for (const Use& use : by_input[i]) {
        const Sym& s = syms_.at(use.tensor);
        tensors.insert({use.tensor.node, use.tensor.port});
        if (!s.Final() || (s.kind == Sym::kRaw && s.IsString())) {
          problem = absl::StrCat("its value (after ", s.ops.empty() ? "no op" : s.ops, ") feeds ",
                                 use.consumer, ", which lift does not model");
          if (auto it = table_problems_.find(use.node); it != table_problems_.end()) {
            absl::StrAppend(&problem, " (", it->second, ")");
          }
          break;
        }
      }
      if (problem.empty() && tensors.size() > 1) {
        std::vector<std::string> names;
        for (const auto& [node, port] : tensors) names.push_back(TensorRef{node, port}.ToString());
        problem =
            absl::StrCat("the graph reads it in ", tensors.size(), " different forms (",
                         absl::StrJoin(names, ", "), "); one request value makes one lifted input");
      }
      // A number the graph transforms in ways lift does not model (or in several): the native
      // pipeline passes the number as is and the graph keeps its transforms.
      const bool as_is = !problem.empty() && raw.dtype != DType::kString;
      if (!problem.empty() && !as_is) {
        result.kept.push_back({raw.key, problem});
        continue;
      }
      const TensorRef frontier = as_is ? raw.ref : by_input[i][0].tensor;
      const Sym& s = syms_.at(frontier);
      FeatureSpec spec;
      std::string how;
      if (absl::Status st = ToSpec(raw, s, &spec, &how); !st.ok()) {
        result.kept.push_back({raw.key, std::string(st.message())});
        continue;
      }
      if (as_is) absl::StrAppend(&how, "; its transforms stay in the graph: ", problem);
      // The new input: [B] as the native pipeline feeds it, reshaped back to [B, 1] if needed.
      const std::string placeholder = absl::StrCat("lifted/", raw.key);
      if (cut.FindNode(placeholder) != nullptr) {
        result.kept.push_back({raw.key, absl::StrCat("node name '", placeholder, "' is taken")});
        continue;
      }
      // Ids feed int64 or int32 inputs (narrowed with a range check), floats float32 or float64.
      const DType dtype = s.dtype;
      if (spec.ProducesIds() ? !IsInt(dtype) : !IsFloat(dtype)) {
        result.kept.push_back({raw.key, absl::StrCat("the graph reads it as ", DTypeName(dtype),
                                                     "; the native pipeline makes ",
                                                     spec.ProducesIds() ? "ids" : "floats")});
        continue;
      }
      const int rank = FrontierRank(frontier, raw);
      if (rank != 1 && rank != 2) {
        result.kept.push_back({raw.key, absl::StrCat("the lifted tensor ", frontier.ToString(),
                                                     " has rank ", rank, ", not [B] or [B, 1]")});
        continue;
      }
      spec.input = placeholder;
      Node ph;
      ph.name = placeholder;
      ph.op = std::string(kPlaceholderOp);
      ph.attrs.Set("dtype", dtype);
      ph.attrs.Set("shape", Shape({-1}));
      new_nodes.push_back(ph);
      TensorRef replacement{placeholder, 0};
      if (rank == 2) {
        RANKOPT_ASSIGN_OR_RETURN(replacement, AddColumnView(placeholder, dtype, &new_nodes));
      }
      rewire[frontier] = replacement;
      // Shape reads of the raw input's intermediates: rewired only when those are gone.
      if (!as_is) views[i] = {placeholder, dtype};
      RenameSignatureInput(raw.key, placeholder, dtype, &signatures);
      result.lifted.push_back({raw.key,
                               placeholder,
                               frontier.ToString(),
                               how,
                               {{frontier.ToString(), replacement.ToString()}}});
      result.config.features.push_back(std::move(spec));
    }
    RANKOPT_RETURN_IF_ERROR(LiftNativeCrosses(absent_ids, raws, &new_nodes, &rewire, &result));
    if (result.lifted.empty()) {
      result.graph = g_;
      return result;
    }
    std::vector<Node> nodes = cut.nodes();
    for (Node& n : nodes) {
      for (TensorRef& in : n.inputs) {
        if (auto it = rewire.find(in); it != rewire.end()) in = it->second;
      }
    }
    // Shape reads of a lifted input's intermediate tensors read the lifted input, in the rank
    // the intermediate had ([B] or [B, 1]).
    for (const ShapeRead& read : shape_reads_) {
      auto view = views.find(static_cast<size_t>(read.input));
      if (view == views.end()) continue;  // kept: the graph still computes it
      const auto& [placeholder, dtype] = view->second;
      TensorRef source{placeholder, 0};
      if (FrontierRank(read.reads, raws[read.input]) == 2) {
        RANKOPT_ASSIGN_OR_RETURN(source, AddColumnView(placeholder, dtype, &new_nodes));
      }
      for (Node& n : nodes) {
        if (n.name == read.shape_node) n.inputs[0] = source;
      }
    }
    for (Node& n : new_nodes) nodes.push_back(std::move(n));
    RANKOPT_RETURN_IF_ERROR(cut.SetNodes(std::move(nodes)));
    for (GraphOutput& out : *cut.mutable_outputs()) {
      if (auto it = rewire.find(out.ref); it != rewire.end()) out.ref = it->second;
    }
    for (Signature& sig : signatures) {
      for (SignatureTensor& out : sig.outputs) {
        if (auto it = rewire.find(out.ref); it != rewire.end()) out.ref = it->second;
      }
    }
    *cut.mutable_signatures() = signatures;
    PassOptions prune;
    if (signature != nullptr) {
      for (const SignatureTensor& out : signature->outputs) prune.outputs.push_back(out.key);
    } else {
      for (const GraphOutput& out : graph_outputs_) {
        auto it = rewire.find(out.ref);
        prune.outputs.push_back(it != rewire.end() ? it->second.ToString() : out.ref.ToString());
      }
    }
    if (prune.outputs.empty()) {
      return absl::InvalidArgumentError(
          "the graph has no signature and no outputs; name the outputs (LiftOptions::outputs, "
          "optimize's --outputs) so lift knows what the model computes");
    }
    Graph pruned(cut.format());
    RANKOPT_RETURN_IF_ERROR(PruneGraph(cut, prune, &pruned).status());
    // Forms only a lifted cross read are gone with it.
    for (LiftedFeature& f : result.lifted) {
      f.cuts.erase(std::remove_if(f.cuts.begin(), f.cuts.end(),
                                  [&](const std::pair<std::string, std::string>& c) {
                                    absl::StatusOr<TensorRef> t = pruned.ResolveTensor(c.second);
                                    return !t.ok() || pruned.FindNode(t->node) == nullptr;
                                  }),
                   f.cuts.end());
    }
    result.graph = std::move(pruned);
    return result;
  }

 private:
  absl::StatusOr<const Signature*> PickSignature(const LiftOptions& options) const {
    const std::vector<Signature>& sigs = g_.signatures();
    if (!options.signature.empty()) {
      for (const Signature& s : sigs) {
        if (s.key == options.signature) return &s;
      }
      std::vector<std::string> keys;
      for (const Signature& s : sigs) keys.push_back(s.key);
      return absl::NotFoundError(absl::StrCat("no signature '", options.signature,
                                              "'; the model has: ", absl::StrJoin(keys, ", ")));
    }
    for (const Signature& s : sigs) {
      if (s.key == "serving_default") return &s;
    }
    for (const Signature& s : sigs) {
      if (s.key != "__saved_model_init_op" && !s.outputs.empty()) return &s;
    }
    return nullptr;
  }

  // Nodes the signature's outputs (or the graph outputs) need: dead leftovers of training or
  // tf.Transform analyzers (Size, Sum of an input) must not count as readers.
  std::vector<bool> Live(const Signature* signature) const {
    std::vector<bool> live(g_.num_nodes(), false);
    std::vector<int> stack;
    auto push = [&](absl::string_view name) {
      const int i = g_.NodeIndex(name);
      if (i >= 0 && !live[i]) {
        live[i] = true;
        stack.push_back(i);
      }
    };
    if (signature != nullptr) {
      for (const SignatureTensor& out : signature->outputs) push(out.ref.node);
    } else {
      for (const GraphOutput& out : graph_outputs_) push(out.ref.node);
    }
    if (stack.empty()) std::fill(live.begin(), live.end(), true);
    while (!stack.empty()) {
      const Node& n = g_.nodes()[stack.back()];
      stack.pop_back();
      for (const TensorRef& in : n.inputs) push(in.node);
      for (const std::string& c : n.control_inputs) push(c);
    }
    return live;
  }

  std::vector<RawInput> RawInputs(const Signature* signature) const {
    std::vector<RawInput> raws;
    if (signature != nullptr) {
      for (const SignatureTensor& in : signature->inputs) {
        raws.push_back({in.key, in.ref, in.dtype, in.shape});
      }
      return raws;
    }
    for (const Node& n : g_.nodes()) {
      if (n.op != kPlaceholderOp) continue;
      const DType* dtype = n.attrs.Get<DType>("dtype");
      const Shape* shape = n.attrs.Get<Shape>("shape");
      raws.push_back({n.name, TensorRef{n.name, 0}, dtype ? *dtype : DType::kInvalid,
                      shape ? *shape : Shape::UnknownRank()});
    }
    return raws;
  }

  // `placeholder` as [B, 1] (a Reshape), added to `nodes` once.
  static absl::StatusOr<TensorRef> AddColumnView(const std::string& placeholder, DType dtype,
                                                 std::vector<Node>* nodes) {
    const std::string name = placeholder + "/reshape";
    for (const Node& n : *nodes) {
      if (n.name == name) return TensorRef{name, 0};
    }
    Node shape;
    shape.name = placeholder + "/shape";
    shape.op = std::string(kConstOp);
    const int32_t dims[2] = {-1, 1};
    RANKOPT_ASSIGN_OR_RETURN(Tensor value,
                             Tensor::FromValues<int32_t>({2}, absl::MakeConstSpan(dims, 2)));
    shape.attrs.Set("dtype", DType::kInt32);
    shape.attrs.Set("value", std::move(value));
    Node reshape;
    reshape.name = name;
    reshape.op = "Reshape";
    reshape.inputs = {TensorRef{placeholder, 0}, TensorRef{shape.name, 0}};
    reshape.attrs.Set("T", dtype);
    reshape.attrs.Set("Tshape", DType::kInt32);
    nodes->push_back(std::move(shape));
    nodes->push_back(std::move(reshape));
    return TensorRef{name, 0};
  }

  // A string lifted with its absent value: what a native cross of it needs.
  struct AbsentIds {
    std::string feature;      // the lifted feature (the request key)
    std::string placeholder;  // its int64 [B] input
    int64_t absent_id = 0;    // the id of to_sparse_input's dropped value
  };

  // SparseCross nodes (hashed, TF's hash_key, every input a lifted string's sparse ids) become
  // native `cross` features: the cross's ids come in as `lifted/<cross>` ([B]) and its sparse
  // output is rebuilt in-graph, a row present when none of its crossed values is absent:
  //   indices Where(AND_k NotEqual(ids_k, absent_k)), values GatherNd(cross, indices),
  //   dense_shape Shape(cross as [B, 1]).
  absl::Status LiftNativeCrosses(const std::map<int, AbsentIds>& absent_ids,
                                 const std::vector<RawInput>& raws, std::vector<Node>* nodes,
                                 absl::flat_hash_map<TensorRef, TensorRef>* rewire,
                                 LiftResult* result) {
    std::set<std::string> done;
    for (const Use& use : uses_) {
      if (use.node.empty() || !done.insert(use.node).second) continue;
      const Node* n = g_.FindNode(use.node);
      if (n == nullptr || n->op != "SparseCross") continue;
      const int64_t* num = n->attrs.Get<int64_t>("N");
      const bool* hashed = n->attrs.Get<bool>("hashed_output");
      const int64_t* key = n->attrs.Get<int64_t>("hash_key");
      const int64_t* buckets = n->attrs.Get<int64_t>("num_buckets");
      const auto* dense = n->attrs.Get<std::vector<DType>>("dense_types");
      if (num == nullptr || *num < 2 || hashed == nullptr || !*hashed || key == nullptr ||
          static_cast<uint64_t>(*key) != kTfCrossHashKey || buckets == nullptr || *buckets < 1 ||
          (dense != nullptr && !dense->empty()) ||
          n->inputs.size() != static_cast<size_t>(3 * *num)) {
        continue;
      }
      std::vector<const AbsentIds*> crossed;
      for (int64_t k = 0; k < *num; ++k) {
        const Sym* idx = SymOf(n->inputs[k]);
        const Sym* values = SymOf(n->inputs[*num + k]);
        if (idx == nullptr || values == nullptr || idx->kind != Sym::kIndices ||
            values->kind != Sym::kLookup || !values->ignore || idx->input != values->input) {
          break;
        }
        auto it = absent_ids.find(idx->input);
        if (it == absent_ids.end() || !ShapeRankOf(n->inputs[2 * *num + k], idx->input)) break;
        crossed.push_back(&it->second);
      }
      if (crossed.size() != static_cast<size_t>(*num)) continue;
      // The cross's name: the feature column's scope ("alcohol_use_X_cigarette_use").
      std::string name = n->name;
      if (absl::EndsWith(name, "/SparseCross")) name.resize(name.size() - 12);
      name = name.substr(name.rfind('/') + 1);
      for (int suffix = 2;
           result->config.FindFeature(name) != nullptr ||
           std::any_of(raws.begin(), raws.end(), [&](const RawInput& r) { return r.key == name; });
           ++suffix) {
        name = absl::StrCat(name, "_", suffix);
      }
      const std::string placeholder = absl::StrCat("lifted/", name);
      if (g_.FindNode(placeholder) != nullptr) continue;
      FeatureSpec spec;
      spec.name = name;
      spec.input = placeholder;
      spec.side = FeatureSide::kItem;
      spec.kind = FeatureKind::kCross;
      spec.categorical.source = CategoricalSpec::Source::kHash;
      spec.categorical.hash = HashFunction::kTfFingerprint64;
      spec.categorical.hash_buckets = *buckets;
      std::vector<std::string> names;
      for (const AbsentIds* c : crossed) names.push_back(c->feature);
      spec.crossed = names;
      Node ph;
      ph.name = placeholder;
      ph.op = std::string(kPlaceholderOp);
      ph.attrs.Set("dtype", DType::kInt64);
      ph.attrs.Set("shape", Shape({-1}));
      nodes->push_back(ph);
      RANKOPT_ASSIGN_OR_RETURN(TensorRef view, AddColumnView(placeholder, DType::kInt64, nodes));
      auto add = [&](const std::string& suffix, std::string op, std::vector<TensorRef> inputs,
                     std::vector<std::pair<std::string, DType>> types) {
        Node node;
        node.name = absl::StrCat(placeholder, "/", suffix);
        node.op = std::move(op);
        node.inputs = std::move(inputs);
        for (const auto& [attr, type] : types) node.attrs.Set(attr, type);
        nodes->push_back(std::move(node));
        return TensorRef{absl::StrCat(placeholder, "/", suffix), 0};
      };
      TensorRef present;
      for (size_t k = 0; k < crossed.size(); ++k) {
        RANKOPT_ASSIGN_OR_RETURN(TensorRef ids,
                                 AddColumnView(crossed[k]->placeholder, DType::kInt64, nodes));
        Node absent;
        absent.name = absl::StrCat(placeholder, "/absent_id_", k);
        absent.op = std::string(kConstOp);
        const int64_t a = crossed[k]->absent_id;
        RANKOPT_ASSIGN_OR_RETURN(Tensor value,
                                 Tensor::FromValues<int64_t>({}, absl::MakeConstSpan(&a, 1)));
        absent.attrs.Set("dtype", DType::kInt64);
        absent.attrs.Set("value", std::move(value));
        nodes->push_back(std::move(absent));
        TensorRef here = add(absl::StrCat("present_", k), "NotEqual",
                             {ids, TensorRef{absl::StrCat(placeholder, "/absent_id_", k), 0}},
                             {{"T", DType::kInt64}});
        present =
            k == 0 ? here : add(absl::StrCat("present_all_", k), "LogicalAnd", {present, here}, {});
      }
      TensorRef indices = add("indices", "Where", {present}, {{"T", DType::kBool}});
      TensorRef values = add("values", "GatherNd", {view, indices},
                             {{"Tparams", DType::kInt64}, {"Tindices", DType::kInt64}});
      TensorRef shape = add("dense_shape", "Shape", {view}, {{"T", DType::kInt64}});
      nodes->back().attrs.Set("out_type", DType::kInt64);
      LiftedFeature lifted;
      lifted.feature = name;
      lifted.graph_input = placeholder;
      lifted.how = absl::StrCat("cross of ", absl::StrJoin(names, ", "), ": FingerprintCat64 into ",
                                *buckets, " buckets (", n->op,
                                "); a row with an absent value crosses nothing (masked in-graph)");
      for (int port = 0; port < 3; ++port) {
        const TensorRef was{n->name, port};
        const TensorRef now = port == 0 ? indices : port == 1 ? values : shape;
        (*rewire)[was] = now;
        lifted.cuts.push_back({was.ToString(), now.ToString()});
      }
      lifted.cut_tensor = absl::StrCat(n->name, ":0-2");
      for (LiftedFeature& f : result->lifted) {
        if (std::find(names.begin(), names.end(), f.feature) != names.end()) {
          absl::StrAppend(&f.how, "; crossed natively in ", name);
        }
      }
      result->crosses.push_back(std::move(lifted));
      result->config.features.push_back(std::move(spec));
    }
    return absl::OkStatus();
  }

  // Points the signature inputs named `key` at the lifted input.
  static void RenameSignatureInput(const std::string& key, const std::string& placeholder,
                                   DType dtype, std::vector<Signature>* signatures) {
    for (Signature& sig : *signatures) {
      for (SignatureTensor& in : sig.inputs) {
        if (in.key != key) continue;
        in.ref = TensorRef{placeholder, 0};
        in.dtype = dtype;
        in.shape = Shape({-1});
      }
    }
  }

  // The forms in which the graph reads one string input as ids of one vocabulary. Feature
  // columns over a dense string make, per scope that reads it (each embedding, the linear
  // model, each cross), their own to_sparse_input and lookup: the sparse indices (the rows whose
  // value is not `absent`), the sparse values (the lookup of those rows) and, for indicators,
  // the dense ids (SparseToDense back with the table default).
  struct VocabularyForms {
    const Sym* lookup = nullptr;        // a lookup symbol (table, default)
    std::optional<std::string> absent;  // to_sparse_input's ignored value, when a form drops it
    std::vector<TensorRef> tensors;     // the forms, in use order, each once
  };

  static bool SameTable(const Table& a, const Table& b) {
    return &a == &b || (a.keys == b.keys && a.values == b.values);
  }

  // The vocabulary forms when every use of `raw` is one of them (and not just one dense tensor,
  // which the plain path lifts); nullopt otherwise.
  std::optional<VocabularyForms> FindVocabularyForms(const RawInput& raw,
                                                     const std::vector<Use>& uses) const {
    if (raw.dtype != DType::kString || uses.empty()) return std::nullopt;
    VocabularyForms forms;
    bool sparse = false;
    std::set<std::pair<std::string, int>> seen;
    for (const Use& use : uses) {
      const Sym& s = syms_.at(use.tensor);
      if (s.replace) return std::nullopt;
      std::optional<std::string> absent;
      if (s.kind == Sym::kIndices && (s.mask_rank == 1 || s.mask_rank == 2)) {
        absent = s.match;
      } else if (s.kind == Sym::kLookup && s.ignore) {
        absent = *s.ignore;
      } else if (!(s.kind == Sym::kLookup && !s.ignore)) {
        return std::nullopt;
      }
      if (absent) {
        if (forms.absent && *forms.absent != *absent) return std::nullopt;
        forms.absent = absent;
        sparse = true;
      }
      if (s.kind == Sym::kLookup) {
        if (forms.lookup == nullptr) {
          forms.lookup = &s;
        } else if (!SameTable(*forms.lookup->table, *s.table) ||
                   forms.lookup->table_default != s.table_default) {
          return std::nullopt;
        }
      }
      if (seen.insert({use.tensor.node, use.tensor.port}).second) {
        forms.tensors.push_back(use.tensor);
      }
    }
    if (forms.lookup == nullptr || (!sparse && forms.tensors.size() < 2)) return std::nullopt;
    return forms;
  }

  // Lifts a string read in vocabulary forms: one int64 input `lifted/<key>` with the table's
  // ids (unknown values: the table default) and, when some form drops to_sparse_input's
  // ignored value, that value as one more vocabulary entry (id = table size) so the graph can
  // tell it apart. Each form is rebuilt from it:
  //   sparse indices  Where(NotEqual(ids, size))            ([n, rank] of the masked tensor)
  //   sparse values   GatherNd(ids, those indices)           ([n]: the table ids or default)
  //   dense ids       SelectV2(Equal(ids, size), default, ids) (SparseToDense's default)
  absl::StatusOr<LiftedFeature> LiftVocabularyForms(
      const RawInput& raw, const VocabularyForms& forms, std::vector<Node>* nodes,
      absl::flat_hash_map<TensorRef, TensorRef>* rewire, FeatureConfig* config) {
    const Sym& lookup = *forms.lookup;
    Sym plain = lookup;
    plain.ignore.reset();
    plain.replace.reset();
    FeatureSpec spec;
    std::string how;
    RANKOPT_RETURN_IF_ERROR(ToSpec(raw, plain, &spec, &how));
    CategoricalSpec& c = spec.categorical;
    const int64_t size = static_cast<int64_t>(c.vocabulary.size());
    if (forms.absent) {
      if (std::find(c.vocabulary.begin(), c.vocabulary.end(), *forms.absent) !=
          c.vocabulary.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "its vocabulary holds '", *forms.absent,
            "', the value to_sparse_input drops as absent; lift cannot tell the two apart"));
      }
      // The absent value as the last entry; inline, since a vocabulary file has no empty line.
      c.vocabulary.push_back(*forms.absent);
      c.vocabulary_file.clear();
      absl::StrAppend(&how, "; '", *forms.absent, "' (absent) -> ", size);
    }
    const std::string placeholder = absl::StrCat("lifted/", raw.key);
    if (g_.FindNode(placeholder) != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("node name '", placeholder, "' is taken"));
    }
    spec.input = placeholder;
    Node ph;
    ph.name = placeholder;
    ph.op = std::string(kPlaceholderOp);
    ph.attrs.Set("dtype", DType::kInt64);
    ph.attrs.Set("shape", Shape({-1}));
    nodes->push_back(ph);
    auto add = [&](const std::string& suffix, std::string op, std::vector<TensorRef> inputs,
                   std::vector<std::pair<std::string, DType>> types) -> TensorRef {
      const std::string name = absl::StrCat(placeholder, "/", suffix);
      for (const Node& n : *nodes) {
        if (n.name == name) return TensorRef{name, 0};
      }
      Node n;
      n.name = name;
      n.op = std::move(op);
      n.inputs = std::move(inputs);
      for (const auto& [attr, type] : types) n.attrs.Set(attr, type);
      nodes->push_back(std::move(n));
      return TensorRef{name, 0};
    };
    auto scalar = [&](const std::string& suffix, int64_t v) -> absl::StatusOr<TensorRef> {
      const std::string name = absl::StrCat(placeholder, "/", suffix);
      for (const Node& n : *nodes) {
        if (n.name == name) return TensorRef{name, 0};
      }
      Node n;
      n.name = name;
      n.op = std::string(kConstOp);
      RANKOPT_ASSIGN_OR_RETURN(Tensor value,
                               Tensor::FromValues<int64_t>({}, absl::MakeConstSpan(&v, 1)));
      n.attrs.Set("dtype", DType::kInt64);
      n.attrs.Set("value", std::move(value));
      nodes->push_back(std::move(n));
      return TensorRef{name, 0};
    };
    auto view = [&](int rank) -> absl::StatusOr<TensorRef> {
      if (rank == 1) return TensorRef{placeholder, 0};
      return AddColumnView(placeholder, DType::kInt64, nodes);
    };
    const DType i64 = DType::kInt64;
    std::vector<std::string> cuts;
    LiftedFeature lifted;
    lifted.feature = raw.key;
    lifted.graph_input = placeholder;
    for (const TensorRef& t : forms.tensors) {
      const Sym& s = syms_.at(t);
      TensorRef replacement;
      if (s.kind == Sym::kIndices || s.kind == Sym::kLookup) {
        // The sparse forms: the rank of the tensor to_sparse_input masked.
        const int rank = s.kind == Sym::kIndices ? s.mask_rank : -1;
        int mask_rank = rank;
        if (s.kind == Sym::kLookup && s.ignore) {
          // Values pair with the indices of the same to_sparse_input; any rank gives the same
          // values (row order), so take the raw input's.
          mask_rank = raw.shape.rank() == 2 ? 2 : 1;
        }
        if (s.kind == Sym::kLookup && !s.ignore) {
          const int dense_rank = FrontierRank(t, raw);
          if (dense_rank != 1 && dense_rank != 2) {
            return absl::InvalidArgumentError(absl::StrCat(
                "the dense ids ", t.ToString(), " have rank ", dense_rank, ", not [B] or [B, 1]"));
          }
          RANKOPT_ASSIGN_OR_RETURN(TensorRef v, view(dense_rank));
          if (!forms.absent) {
            replacement = v;
          } else {
            RANKOPT_ASSIGN_OR_RETURN(TensorRef absent_id, scalar("absent_id", size));
            RANKOPT_ASSIGN_OR_RETURN(TensorRef def, scalar("default_id", s.table_default));
            const std::string r = absl::StrCat(dense_rank);
            TensorRef is_absent = add("is_absent_" + r, "Equal", {v, absent_id}, {{"T", i64}});
            replacement = add("dense_" + r, "SelectV2", {is_absent, def, v}, {{"T", i64}});
          }
        } else {
          if (!forms.absent) return absl::InternalError("sparse form without an absent value");
          RANKOPT_ASSIGN_OR_RETURN(TensorRef v, view(mask_rank));
          RANKOPT_ASSIGN_OR_RETURN(TensorRef absent_id, scalar("absent_id", size));
          const std::string r = absl::StrCat(mask_rank);
          TensorRef present = add("present_" + r, "NotEqual", {v, absent_id}, {{"T", i64}});
          TensorRef indices = add("indices_" + r, "Where", {present}, {{"T", DType::kBool}});
          if (s.kind == Sym::kIndices) {
            replacement = indices;
          } else {
            replacement =
                add("values_" + r, "GatherNd", {v, indices}, {{"Tparams", i64}, {"Tindices", i64}});
          }
        }
      }
      (*rewire)[t] = replacement;
      lifted.cuts.push_back({t.ToString(), replacement.ToString()});
      cuts.push_back(t.ToString());
    }
    lifted.cut_tensor = absl::StrJoin(cuts, ", ");
    lifted.how = absl::StrCat(how, "; read in ", forms.tensors.size(), " form(s)",
                              forms.absent ? " (sparse ids rebuilt in-graph from the ids)" : "");
    config->features.push_back(std::move(spec));
    return lifted;
  }

  // The rank of the tensor the lifted input replaces: from TF's _output_shapes when recorded,
  // else the raw input's (the ops between keep one value per row).
  int FrontierRank(const TensorRef& t, const RawInput& raw) const {
    if (const Node* n = g_.FindNode(t.node)) {
      const auto* shapes = n->attrs.Get<std::vector<Shape>>("_output_shapes");
      if (shapes != nullptr && t.port < static_cast<int>(shapes->size()) &&
          (*shapes)[t.port].known_rank()) {
        return (*shapes)[t.port].rank();
      }
    }
    if (auto it = syms_.find(t); it != syms_.end() && it->second.rank >= 0) {
      return it->second.rank;
    }
    return raw.shape.rank();
  }

  // The columns a StridedSlice of an [N, rank] indices tensor keeps, all rows kept: column c, or
  // -c - 1 when that axis is shrunk away. nullopt unless begin/end/strides are constants, the
  // rows are sliced [:] and the columns with stride 1.
  std::optional<std::vector<int>> SlicedIndexColumns(const Node& n, int rank) {
    if (n.inputs.size() != 4) return std::nullopt;
    std::optional<std::vector<int64_t>> b = Ints(consts_.Eval(n.inputs[1]));
    std::optional<std::vector<int64_t>> e = Ints(consts_.Eval(n.inputs[2]));
    std::optional<std::vector<int64_t>> st = Ints(consts_.Eval(n.inputs[3]));
    auto mask = [&](const char* name) {
      const int64_t* m = n.attrs.Get<int64_t>(name);
      return m == nullptr ? int64_t{0} : *m;
    };
    if (!b || !e || !st || b->size() != 2 || e->size() != 2 || st->size() != 2 ||
        mask("ellipsis_mask") != 0 || mask("new_axis_mask") != 0) {
      return std::nullopt;
    }
    const int64_t begin_mask = mask("begin_mask"), end_mask = mask("end_mask");
    const int64_t shrink = mask("shrink_axis_mask");
    // Rows: all of them.
    if ((*st)[0] != 1 || !(begin_mask & 1) || !(end_mask & 1) || (shrink & 1)) return std::nullopt;
    if ((*st)[1] != 1) return std::nullopt;
    int64_t from = (begin_mask & 2) ? 0 : (*b)[1];
    if (from < 0) from += rank;
    if (shrink & 2) {
      if (from < 0 || from >= rank) return std::nullopt;
      return std::vector<int>{-static_cast<int>(from) - 1};
    }
    int64_t to = (end_mask & 2) ? rank : (*e)[1];
    if (to < 0) to += rank;
    from = std::clamp<int64_t>(from, 0, rank);
    to = std::clamp<int64_t>(to, from, rank);
    std::vector<int> columns;
    for (int64_t c = from; c < to; ++c) columns.push_back(static_cast<int>(c));
    if (columns.empty()) return std::nullopt;
    return columns;
  }

  // The values of a small int tensor made of the known dimensions of a raw input's tensors:
  // Pack of Unpack of Cast of Shape(t), t [B] or [B, 1] (only the 1 is known), or constants.
  // nullopt when any value is unknown.
  std::optional<std::vector<int64_t>> KnownShapeValues(TensorRef ref, int input) {
    std::optional<std::vector<std::optional<int64_t>>> v = ShapeValues(ref, input, 0);
    if (!v) return std::nullopt;
    std::vector<int64_t> out;
    for (const std::optional<int64_t>& x : *v) {
      if (!x) return std::nullopt;
      out.push_back(*x);
    }
    return out;
  }
  std::optional<std::vector<std::optional<int64_t>>> ShapeValues(TensorRef ref, int input,
                                                                 int depth) {
    if (depth > 8) return std::nullopt;
    if (std::optional<std::vector<int64_t>> c = Ints(consts_.Eval(ref))) {
      return std::vector<std::optional<int64_t>>(c->begin(), c->end());
    }
    const Node* n = g_.FindNode(ref.node);
    if (n == nullptr || n->inputs.empty()) return std::nullopt;
    if (n->op == "Shape" && ref.port == 0) {
      auto it = shape_of_.find(n->name);
      const Sym* t = it == shape_of_.end() ? nullptr : SymOf(it->second);
      if (t == nullptr || t->input != input) return std::nullopt;
      if (t->rank == 1) return std::vector<std::optional<int64_t>>{std::nullopt};
      if (t->rank == 2) return std::vector<std::optional<int64_t>>{std::nullopt, 1};
      return std::nullopt;
    }
    if (n->op == "Cast" && ref.port == 0) return ShapeValues(n->inputs[0], input, depth + 1);
    if (n->op == "Unpack") {
      const int64_t* axis = n->attrs.Get<int64_t>("axis");
      if (axis != nullptr && *axis != 0) return std::nullopt;
      auto v = ShapeValues(n->inputs[0], input, depth + 1);
      if (!v || ref.port < 0 || ref.port >= static_cast<int>(v->size())) return std::nullopt;
      return std::vector<std::optional<int64_t>>{(*v)[ref.port]};
    }
    if (n->op == "Pack" && ref.port == 0) {
      std::vector<std::optional<int64_t>> out;
      for (const TensorRef& in : n->inputs) {
        auto v = ShapeValues(in, input, depth + 1);
        if (!v || v->size() != 1) return std::nullopt;
        out.push_back((*v)[0]);
      }
      return out;
    }
    return std::nullopt;
  }

  // The rank of t when `ref` is Shape(t) (or a Cast of it) for a tensor t of raw input `input`.
  std::optional<int> ShapeRankOf(TensorRef ref, int input) const {
    for (int i = 0; i < 4; ++i) {
      const Node* n = g_.FindNode(ref.node);
      if (n == nullptr || ref.port != 0) return std::nullopt;
      if (n->op == "Shape") {
        auto it = shape_of_.find(n->name);
        const Sym* t = it == shape_of_.end() ? nullptr : SymOf(it->second);
        if (t == nullptr || t->input != input || t->rank < 0) return std::nullopt;
        return t->rank;
      }
      if (n->op != "Cast" || n->inputs.empty()) return std::nullopt;
      ref = n->inputs[0];
    }
    return std::nullopt;
  }

  const Sym* SymOf(const TensorRef& ref) const {
    auto it = syms_.find(ref);
    return it == syms_.end() ? nullptr : &it->second;
  }

  void Visit(const Node& n) {
    std::vector<int> sym_slots;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (SymOf(n.inputs[i]) != nullptr) sym_slots.push_back(static_cast<int>(i));
    }
    if (sym_slots.empty()) return;
    std::optional<Sym> out = Rule(n, sym_slots);
    if (out.has_value()) {
      if (out->input >= 0) syms_[TensorRef{n.name, 0}] = std::move(*out);
      return;
    }
    for (int slot : sym_slots) {
      const Sym& s = *SymOf(n.inputs[slot]);
      if (s.kind == Sym::kShape && n.inputs[slot].port == 0 &&
          shape_of_.contains(n.inputs[slot].node)) {
        // Only the row count is read: rewired at the cut, not a use of the value.
        shape_reads_.push_back({n.inputs[slot].node, shape_of_[n.inputs[slot].node], s.input});
        continue;
      }
      uses_.push_back({n.inputs[slot], absl::StrCat("node '", n.name, "' (", n.op, ")"), n.name});
    }
  }

  // The symbol of n's output 0, a symbol with input -1 for "modeled, nothing to track" (e.g.
  // ZerosLike), or nullopt when n is not modeled (its symbolic inputs become frontier uses).
  std::optional<Sym> Rule(const Node& n, const std::vector<int>& slots) {
    const Sym& a = *SymOf(n.inputs[slots[0]]);
    const int slot = slots[0];
    const std::string& op = n.op;
    auto with = [&](Sym s, Sym::Kind kind, absl::string_view name) {
      s.kind = kind;
      s.ops = AddOp(s.ops, name);
      return s;
    };
    // Shape-only ops: values per row unchanged (raw inputs hold one value per row).
    if (slots.size() == 1 && slot == 0 &&
        (op == "Identity" || op == "Snapshot" || op == "StopGradient" || op == "Reshape" ||
         op == "ExpandDims" || op == "Squeeze" || op == "Transpose" ||
         (op == "Pack" && n.inputs.size() == 1) || op == "Unpack")) {
      if (op == "Unpack") {
        const int64_t* num = n.attrs.Get<int64_t>("num");
        if (num == nullptr || *num != 1) return std::nullopt;
      }
      Sym s = a;
      if (s.rank >= 0) {
        if (op == "ExpandDims" || op == "Pack") ++s.rank;
        if (op == "Unpack") --s.rank;
        if (op == "Squeeze") s.rank = -1;
        if (op == "Reshape") {
          std::optional<ConstValue> shape = consts_.Eval(n.inputs[1]);
          s.rank =
              shape.has_value() && shape->dims.size() == 1 ? static_cast<int>(shape->dims[0]) : -1;
        }
      }
      return s;
    }
    // Feature columns over a dense string input: replace a value, then drop one as absent
    // (to_sparse_input), look up the sparse values and densify with a default (SparseToDense).
    if (op == "Equal" && slots.size() == 1 && a.kind == Sym::kRaw && a.IsString() && !a.replace &&
        !a.ignore) {
      std::optional<ConstValue> c = consts_.Eval(n.inputs[1 - slot]);
      if (!c.has_value() || c->dtype != DType::kString || c->str.size() != 1) return std::nullopt;
      Sym s = with(a, Sym::kIsValue, "Equal");
      s.match = c->str[0];
      s.dtype = DType::kBool;
      return s;
    }
    if (op == "Shape" && slots.size() == 1 && slot == 0) {
      Sym s = with(a, Sym::kShape, "Shape");
      const DType* out = n.attrs.Get<DType>("out_type");
      s.dtype = out != nullptr ? *out : DType::kInt32;
      shape_of_[n.name] = n.inputs[0];
      return s;
    }
    if (op == "Tile" && slots.size() == 1 && slot == 1 && a.kind == Sym::kShape) {
      std::optional<ConstValue> c = consts_.Eval(n.inputs[0]);
      if (!c.has_value() || c->dtype != DType::kString || c->str.size() != 1) return std::nullopt;
      Sym s = with(a, Sym::kFill, "Tile");
      s.match = c->str[0];
      s.dtype = DType::kString;
      return s;
    }
    if ((op == "SelectV2" || op == "Select") && n.inputs.size() == 3 && slots.size() == 3) {
      const Sym* cond = SymOf(n.inputs[0]);
      const Sym* t = SymOf(n.inputs[1]);
      const Sym* f = SymOf(n.inputs[2]);
      if (cond->kind == Sym::kIsValue && t->kind == Sym::kFill && f->kind == Sym::kRaw &&
          !f->replace && !f->ignore && cond->input == f->input && t->input == f->input) {
        Sym s = with(*f, Sym::kRaw, "SelectV2");
        s.replace = std::make_pair(cond->match, t->match);
        return s;
      }
    }
    if (op == "NotEqual" && slots.size() == 1 && a.kind == Sym::kRaw && a.IsString() && !a.ignore) {
      std::optional<ConstValue> c = consts_.Eval(n.inputs[1 - slot]);
      if (!c.has_value() || c->dtype != DType::kString || c->str.size() != 1) return std::nullopt;
      Sym s = with(a, Sym::kMask, "NotEqual");
      s.match = c->str[0];
      s.mask_rank = a.rank;
      s.dtype = DType::kBool;
      return s;
    }
    if (op == "Where" && slots.size() == 1 && a.kind == Sym::kMask) {
      Sym s = with(a, Sym::kIndices, "Where");
      s.dtype = DType::kInt64;
      return s;
    }
    if (op == "GatherNd" && slots.size() == 2 && n.inputs.size() == 2) {
      const Sym* x = SymOf(n.inputs[0]);
      const Sym* idx = SymOf(n.inputs[1]);
      if (x->kind == Sym::kRaw && !x->ignore && idx->kind == Sym::kIndices &&
          x->input == idx->input && x->replace == idx->replace) {
        Sym s = with(*x, Sym::kRaw, "GatherNd");
        s.ignore = idx->match;
        return s;
      }
      return std::nullopt;
    }
    // The older to_sparse_input (TF 1.x): values = Gather(Reshape(x, [-1]), flat index), the flat
    // index = indices[:, -1] + Sum(indices[:, :-1] * Shape(x)[1:]). Modeled for one value per
    // row ([B] or [B, 1]), where every column index is 0 and the flat index is the row.
    if (op == "StridedSlice" && slots.size() == 1 && slot == 0 && a.kind == Sym::kIndices &&
        (a.mask_rank == 1 || a.mask_rank == 2)) {
      std::optional<std::vector<int>> columns = SlicedIndexColumns(n, a.mask_rank);
      if (!columns.has_value()) return std::nullopt;
      // Column 0 is the row; column 1 (of a [B, 1] tensor) is always 0.
      const bool shrink = (*columns)[0] < 0;
      const int first = shrink ? -(*columns)[0] - 1 : (*columns)[0];
      if (columns->size() == 1 && first == 0) {
        Sym s = with(a, Sym::kRowIds, "StridedSlice");
        s.rank = shrink ? 1 : 2;  // [N] or [N, 1]
        return s;
      }
      for (int c : *columns) {
        if ((c < 0 ? -c - 1 : c) != 1) return std::nullopt;
      }
      Sym s = with(a, Sym::kZeros, "StridedSlice");
      s.rank = shrink ? 1 : 2;
      return s;
    }
    // The row times the row stride Shape(x)[1:] of a [B, 1] x (all ones), summed over its one
    // column: the row.
    if (op == "Mul" && slots.size() == 1 && a.kind == Sym::kRowIds) {
      std::optional<std::vector<int64_t>> m = KnownShapeValues(n.inputs[1 - slot], a.input);
      if (!m || m->size() != 1 || (*m)[0] != 1) return std::nullopt;  // no broadcast: [1]
      return a;
    }
    if (op == "Sum" && slots.size() == 1 && slot == 0 && a.kind == Sym::kRowIds && a.rank == 2) {
      std::optional<std::vector<int64_t>> axis = Ints(consts_.Eval(n.inputs[1]));
      const bool* keep = n.attrs.Get<bool>("keep_dims");
      if (!axis || axis->size() != 1 || ((*axis)[0] != 1 && (*axis)[0] != -1) ||
          (keep != nullptr && *keep)) {
        return std::nullopt;
      }
      Sym s = a;
      s.rank = 1;
      return s;
    }
    if ((op == "Add" || op == "AddV2") && slots.size() == 2) {
      const Sym* x = SymOf(n.inputs[0]);
      const Sym* y = SymOf(n.inputs[1]);
      if (x->input == y->input && x->mask_rank == y->mask_rank && x->match == y->match &&
          x->rank == 1 && y->rank == 1 &&
          ((x->kind == Sym::kRowIds && y->kind == Sym::kZeros) ||
           (x->kind == Sym::kZeros && y->kind == Sym::kRowIds))) {
        return x->kind == Sym::kRowIds ? *x : *y;
      }
      return std::nullopt;
    }
    if ((op == "Gather" || op == "GatherV2") && slots.size() == 2 && n.inputs.size() >= 2) {
      const Sym* x = SymOf(n.inputs[0]);
      const Sym* rows = SymOf(n.inputs[1]);
      if (op == "GatherV2") {
        std::optional<std::vector<int64_t>> axis =
            n.inputs.size() > 2 ? Ints(consts_.Eval(n.inputs[2])) : std::nullopt;
        if (!axis || axis->size() != 1 || (*axis)[0] != 0) return std::nullopt;
      }
      // x (flattened to [B]) holds one value per row, so x[row] is the row's value.
      if (x->kind == Sym::kRaw && !x->ignore && x->rank == 1 && rows->kind == Sym::kRowIds &&
          rows->rank == 1 && x->input == rows->input && x->replace == rows->replace) {
        Sym s = with(*x, Sym::kRaw, op);
        s.ignore = rows->match;
        s.rank = 1;
        return s;
      }
      return std::nullopt;
    }
    if (op == "SparseToDense" && n.inputs.size() >= 4 && slots.size() == 2 &&
        SymOf(n.inputs[1]) == nullptr) {
      // The dense shape as Cast(Shape(t)) of a tensor t of the same raw input (its Shape read is
      // rewired at the cut like any other).
      const Sym* idx = SymOf(n.inputs[0]);
      const Sym* values = SymOf(n.inputs[2]);
      const std::optional<int> shape_rank =
          ShapeRankOf(n.inputs[1], idx == nullptr ? -1 : idx->input);
      std::optional<std::vector<int64_t>> def = Ints(consts_.Eval(n.inputs[3]));
      if (idx == nullptr || values == nullptr || !shape_rank || idx->kind != Sym::kIndices ||
          values->kind != Sym::kLookup || !values->ignore || *values->ignore != idx->match ||
          values->input != idx->input || !def || def->size() != 1) {
        return std::nullopt;
      }
      Sym s = *values;
      if (PlainLookupAgrees(s, (*def)[0], /*keep_replace=*/false)) {
        s.replace.reset();
      } else if (!PlainLookupAgrees(s, (*def)[0], /*keep_replace=*/true)) {
        return std::nullopt;
      }
      s.ignore.reset();
      s.rank = *shape_rank;
      s.ops = AddOp(s.ops, "SparseToDense");
      return s;
    }
    if (op == "SparseToDense" && n.inputs.size() >= 4 && slots.size() == 3) {
      const Sym* idx = SymOf(n.inputs[0]);
      const Sym* shape = SymOf(n.inputs[1]);
      const Sym* values = SymOf(n.inputs[2]);
      std::optional<std::vector<int64_t>> def = Ints(consts_.Eval(n.inputs[3]));
      if (idx == nullptr || shape == nullptr || values == nullptr || idx->kind != Sym::kIndices ||
          shape->kind != Sym::kShape || values->kind != Sym::kLookup || !values->ignore ||
          *values->ignore != idx->match || !def || def->size() != 1) {
        return std::nullopt;
      }
      // Per row TF gives: v = replace(x); v == ignore ? default : lookup(v). Lifted as a plain
      // lookup of x (unknown -> the table default) when both agree on every special value.
      Sym s = *values;
      if (PlainLookupAgrees(s, (*def)[0], /*keep_replace=*/false)) {
        s.replace.reset();
      } else if (!PlainLookupAgrees(s, (*def)[0], /*keep_replace=*/true)) {
        return std::nullopt;
      }
      s.ignore.reset();
      s.rank = shape->rank;  // dense like the tensor whose shape it takes
      s.ops = AddOp(s.ops, "SparseToDense");
      return s;
    }
    if (op == "ZerosLike") {
      Sym none;
      none.input = -1;
      return none;
    }
    if (op == "Cast" && slots.size() == 1) {
      const DType* dst = n.attrs.Get<DType>("DstT");
      if (dst == nullptr) return std::nullopt;
      if (a.kind == Sym::kRaw && IsInt(a.dtype) && IsFloat(*dst)) {
        Sym s = with(a, Sym::kRaw, "Cast");
        s.dtype = *dst;
        return s;
      }
      if ((a.kind == Sym::kNegBucket || a.kind == Sym::kBucket || a.kind == Sym::kHash) &&
          IsInt(*dst)) {
        Sym s = a;
        s.dtype = *dst;
        return s;
      }
      if (a.dtype == *dst) return a;
      return std::nullopt;
    }
    if (op == "AsString" && a.kind == Sym::kRaw && IsInt(a.dtype)) {
      const int64_t* width = n.attrs.Get<int64_t>("width");
      const std::string* fill = n.attrs.Get<std::string>("fill");
      if ((width != nullptr && *width >= 0) || (fill != nullptr && !fill->empty())) {
        return std::nullopt;
      }
      Sym s = with(a, Sym::kDecimal, "AsString");
      s.dtype = DType::kString;
      return s;
    }
    if (op == "StringToHashBucketFast" &&
        ((a.kind == Sym::kRaw && a.IsString()) || a.kind == Sym::kDecimal)) {
      const int64_t* buckets = n.attrs.Get<int64_t>("num_buckets");
      if (buckets == nullptr || *buckets < 1) return std::nullopt;
      Sym s = with(a, Sym::kHash, "StringToHashBucketFast");
      s.buckets = *buckets;
      s.dtype = DType::kInt64;
      return s;
    }
    if ((op == "LookupTableFindV2" || op == "LookupTableFind") && slots.size() == 1 && slot == 1 &&
        a.kind == Sym::kRaw) {
      absl::StatusOr<const Table*> table = consts_.TableOf(n.inputs[0]);
      std::optional<std::vector<int64_t>> def =
          n.inputs.size() > 2 ? Ints(consts_.Eval(n.inputs[2])) : std::nullopt;
      if (!table.ok()) {
        table_problems_[n.name] = std::string(table.status().message());
        return std::nullopt;
      }
      if (!def || def->size() != 1) return std::nullopt;
      // The lifted vocabulary maps key i to id i: the table must hold exactly that.
      for (size_t i = 0; i < (*table)->values.size(); ++i) {
        if ((*table)->values[i] != static_cast<int64_t>(i)) return std::nullopt;
      }
      Sym s = with(a, Sym::kLookup, "LookupTableFindV2");
      s.table = *table;
      s.table_default = (*def)[0];
      s.dtype = DType::kInt64;
      return s;
    }
    if (slots.size() == 1 && (op == "NotEqual") && a.kind == Sym::kLookup) {
      std::optional<std::vector<int64_t>> c = Ints(consts_.Eval(n.inputs[1 - slot]));
      if (!c || c->size() != 1 || (*c)[0] != a.table_default) return std::nullopt;
      Sym s = with(a, Sym::kLookupFound, "NotEqual");
      s.dtype = DType::kBool;
      return s;
    }
    if (slots.size() == 1 && (op == "Add" || op == "AddV2") && a.kind == Sym::kHash) {
      std::optional<std::vector<int64_t>> c = Ints(consts_.Eval(n.inputs[1 - slot]));
      if (!c || c->size() != 1) return std::nullopt;
      Sym s = with(a, Sym::kOovId, op);
      s.sub = static_cast<double>((*c)[0]);  // the offset: must be the vocabulary size
      return s;
    }
    if ((op == "SelectV2" || op == "Select") && n.inputs.size() == 3) {
      const Sym* cond = SymOf(n.inputs[0]);
      const Sym* t = SymOf(n.inputs[1]);
      const Sym* f = SymOf(n.inputs[2]);
      if (cond != nullptr && cond->kind == Sym::kLookupFound && t != nullptr &&
          t->kind == Sym::kLookup && f != nullptr && f->kind == Sym::kOovId &&
          t->input == f->input && cond->table == t->table &&
          f->sub == static_cast<double>(t->table->keys.size())) {
        Sym s = with(*t, Sym::kVocab, "StringToHashBucketFast OOV > SelectV2");
        s.buckets = f->buckets;
        s.dtype = DType::kInt64;
        return s;
      }
      // A constant condition picks one branch (tf.Transform's "stddev != 0").
      if (cond == nullptr && t != nullptr && f != nullptr && t->input == f->input) {
        std::optional<ConstValue> c = consts_.Eval(n.inputs[0]);
        if (!c.has_value() || c->dtype == DType::kString || c->num.empty()) return std::nullopt;
        const bool all_true =
            std::all_of(c->num.begin(), c->num.end(), [](double v) { return v != 0; });
        const bool all_false =
            std::all_of(c->num.begin(), c->num.end(), [](double v) { return v == 0; });
        if (all_true) return *t;
        if (all_false) return *f;
      }
      return std::nullopt;
    }
    if (slots.size() == 1 && slot == 0 &&
        (op == "Sub" || op == "RealDiv" || op == "Add" || op == "AddV2") && IsFloat(a.dtype) &&
        (a.kind == Sym::kRaw || a.kind == Sym::kNormalized)) {
      std::optional<ConstValue> c = consts_.Eval(n.inputs[1]);
      if (!c.has_value() || c->dtype == DType::kString || c->num.size() != 1) return std::nullopt;
      const double v = c->num[0];
      Sym s = a;
      if (a.kind == Sym::kRaw) {
        s.sub = 0;
        s.div = 1;
      }
      if (op == "RealDiv") {
        if (!(v > 0) || !std::isfinite(v)) return std::nullopt;
        if (s.div != 1) return std::nullopt;
        s.div = v;
      } else {
        if (s.div != 1 || !std::isfinite(v)) return std::nullopt;
        s.sub += (op == "Sub" ? v : -v);
      }
      return with(s, Sym::kNormalized, op);
    }
    // tf.Transform apply_buckets: n - BoostedTreesBucketize(-x, [reverse(-b), max(-x)]).
    if (op == "Neg" && a.kind == Sym::kRaw && IsFloat(a.dtype)) {
      return with(a, Sym::kNeg, "Neg");
    }
    if (op == "Max" && slot == 0 && a.kind == Sym::kNeg) {
      return with(a, Sym::kBatchMax, "Max");
    }
    if (op == "Pack" && a.kind == Sym::kBatchMax) return a;
    if (op == "ConcatV2" && n.inputs.size() == 3 && slots.size() == 1 && slot == 1 &&
        a.kind == Sym::kBatchMax) {
      std::optional<ConstValue> c = consts_.Eval(n.inputs[0]);
      if (!c.has_value() || !IsFloat(c->dtype)) return std::nullopt;
      Sym s = with(a, Sym::kNegBounds, "ConcatV2");
      s.boundaries.assign(c->num.begin(), c->num.end());
      return s;
    }
    if (op == "BoostedTreesBucketize" && slots.size() == 2 && n.inputs.size() == 2) {
      const Sym* x = SymOf(n.inputs[0]);
      const Sym* b = SymOf(n.inputs[1]);
      if (x->kind != Sym::kNeg || b->kind != Sym::kNegBounds || x->input != b->input) {
        return std::nullopt;
      }
      Sym s = with(*b, Sym::kNegBucket, "BoostedTreesBucketize");
      s.dtype = DType::kInt32;
      return s;
    }
    if (op == "Sub" && slots.size() == 1 && slot == 1 && a.kind == Sym::kNegBucket) {
      std::optional<std::vector<int64_t>> c = Ints(consts_.Eval(n.inputs[0]));
      if (!c || c->size() != 1 || (*c)[0] != static_cast<int64_t>(a.boundaries.size())) {
        return std::nullopt;
      }
      // BoostedTreesBucketize is std::lower_bound: #{c < -x} over c = reverse(-b) (the appended
      // batch max of -x is never below -x), so n - #{b > x} = #{b <= x}: TF Bucketize's rule.
      Sym s = with(a, Sym::kBucket, "Sub");
      std::vector<float> b;
      for (auto it = a.boundaries.rbegin(); it != a.boundaries.rend(); ++it) b.push_back(-*it);
      s.boundaries = b;
      s.below = false;
      return s;
    }
    if (op == "Bucketize" && a.kind == Sym::kRaw && !a.IsString()) {
      const std::vector<float>* b = n.attrs.Get<std::vector<float>>("boundaries");
      if (b == nullptr) return std::nullopt;
      Sym s = with(a, Sym::kBucket, "Bucketize");
      s.boundaries = *b;
      s.below = false;
      s.dtype = DType::kInt32;
      return s;
    }
    if ((op == "UpperBound" || op == "LowerBound") && slots.size() == 1 && slot == 1 &&
        a.kind == Sym::kRaw && IsFloat(a.dtype)) {
      std::optional<ConstValue> c = consts_.Eval(n.inputs[0]);
      if (!c.has_value() || !IsFloat(c->dtype)) return std::nullopt;
      Sym s = with(a, Sym::kBucket, op);
      s.boundaries.assign(c->num.begin(), c->num.end());
      s.below = op == "LowerBound";
      const DType* out = n.attrs.Get<DType>("out_type");
      s.dtype = out != nullptr ? *out : DType::kInt32;
      return s;
    }
    return std::nullopt;
  }

  // True when TF's v = replace(x); v == ignore ? sparse_default : lookup(v) equals the plain
  // lookup(x) (unknown -> table default) for every x: checked on the values that differ.
  // With keep_replace, the native side replaces values as TF does (replace_values) and only
  // the sparse "absent" value must agree.
  bool PlainLookupAgrees(const Sym& s, int64_t sparse_default, bool keep_replace) const {
    auto lookup = [&](const std::string& v) -> int64_t {
      for (size_t i = 0; i < s.table->keys.size(); ++i) {
        if (s.table->keys[i] == v) return s.table->values[i];
      }
      return s.table_default;
    };
    auto tf = [&](std::string v) -> int64_t {
      if (s.replace && v == s.replace->first) v = s.replace->second;
      if (s.ignore && v == *s.ignore) return sparse_default;
      return lookup(v);
    };
    std::vector<std::string> special;
    if (s.replace) {
      special.push_back(s.replace->first);
      special.push_back(s.replace->second);
    }
    if (s.ignore) special.push_back(*s.ignore);
    for (const std::string& v : special) {
      std::string native = v;
      if (keep_replace && s.replace && v == s.replace->first) native = s.replace->second;
      if (tf(v) != lookup(native)) return false;
    }
    return true;
  }

  absl::Status ToSpec(const RawInput& raw, const Sym& s, FeatureSpec* spec, std::string* how) {
    spec->name = raw.key;
    spec->side = FeatureSide::kItem;
    CategoricalSpec& c = spec->categorical;
    switch (s.kind) {
      case Sym::kRaw:
        if (IsFloat(s.dtype)) {
          spec->kind = FeatureKind::kNumeric;
          *how = s.from_int ? "float of the integer" : "the float as is";
        } else {
          spec->kind = FeatureKind::kCategorical;
          c.source = CategoricalSpec::Source::kPassthrough;
          *how = "the integer as is";
        }
        return absl::OkStatus();
      case Sym::kHash:
        spec->kind = FeatureKind::kCategorical;
        c.source = CategoricalSpec::Source::kHash;
        c.hash = HashFunction::kTfFingerprint64;
        c.hash_buckets = s.buckets;
        c.hash_integers_as_decimal = s.from_int;
        *how = absl::StrCat("hash into ", s.buckets, " buckets (", s.ops, ")");
        return absl::OkStatus();
      case Sym::kVocab:
      case Sym::kLookup: {
        spec->kind = FeatureKind::kCategorical;
        c.source = CategoricalSpec::Source::kVocabulary;
        c.hash = HashFunction::kTfFingerprint64;
        c.vocabulary = s.table->keys;
        std::set<std::string> seen;
        for (const std::string& k : c.vocabulary) {
          if (k.empty() || k.find('\n') != std::string::npos || !seen.insert(k).second) {
            return absl::InvalidArgumentError(
                absl::StrCat("its vocabulary (", s.table->source,
                             ") has an empty, multi-line or repeated "
                             "value '",
                             k, "', which a vocabulary file cannot hold"));
          }
        }
        c.vocabulary_file = absl::StrCat(raw.key, ".vocab");
        if (s.replace) c.replace_values = {*s.replace};
        if (s.kind == Sym::kVocab) {
          c.oov_buckets = s.buckets;
          *how = absl::StrCat("vocabulary of ", c.vocabulary.size(), " (", s.table->source, ") + ",
                              s.buckets, " OOV buckets (", s.ops, ")");
        } else {
          // Unknown (and missing) values get the table's default id.
          if (s.table_default < -1) {
            return absl::InvalidArgumentError(
                absl::StrCat("its vocabulary lookup (", s.ops, ") gives unknown values id ",
                             s.table_default, "; a native vocabulary's default_id is -1 or more"));
          }
          c.oov_buckets = 0;
          c.default_id = s.table_default;
          *how = absl::StrCat("vocabulary of ", c.vocabulary.size(), " (", s.table->source,
                              "), unknown -> ", s.table_default, " (", s.ops, ")");
        }
        return absl::OkStatus();
      }
      case Sym::kNormalized:
        spec->kind = FeatureKind::kNumeric;
        if (s.sub != 0 || s.div != 1) {
          spec->numeric.normalize = NumericSpec::Normalize::kStandard;
          spec->numeric.mean = s.sub;
          spec->numeric.stddev = s.div;
        }
        *how = absl::StrCat("(x - ", s.sub, ") / ", s.div, " (", s.ops, ")");
        return absl::OkStatus();
      case Sym::kBucket:
        if (!StrictlyIncreasing(s.boundaries) || s.boundaries.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("its bucket boundaries (", s.ops,
                           ") are empty, not finite or not strictly increasing"));
        }
        spec->kind = FeatureKind::kNumeric;
        spec->numeric.boundaries = s.boundaries;
        spec->numeric.boundary_equal =
            s.below ? NumericSpec::BoundaryEqual::kBelow : NumericSpec::BoundaryEqual::kAbove;
        *how = absl::StrCat(s.boundaries.size(), " boundaries, equal values go ",
                            s.below ? "below" : "above", " (", s.ops, ")");
        return absl::OkStatus();
      default:
        return absl::InternalError("not a final symbol");
    }
  }

  const Graph& g_;
  ConstEval consts_;
  absl::flat_hash_map<TensorRef, Sym> syms_;
  std::vector<Use> uses_;
  std::map<std::string, std::string> table_problems_;
  std::vector<GraphOutput> graph_outputs_;
  absl::flat_hash_map<std::string, TensorRef> shape_of_;  // Shape node -> the tensor it reads
  std::vector<ShapeRead> shape_reads_;
};

}  // namespace

absl::StatusOr<LiftResult> LiftFeatureTransforms(const Graph& graph, const LiftOptions& options) {
  std::string asset_dir;
  if (const auto* saved = dynamic_cast<const TfSavedModelSource*>(graph.source().get())) {
    asset_dir = saved->dir();
  }
  Lifter lifter(graph, asset_dir);
  return lifter.Run(options);
}

absl::Status WriteLift(const LiftResult& result, const std::string& dir) {
  if (result.config.features.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "nothing was lifted, so there is no feature config to write to '", dir,
        "'; the model keeps its feature transforms (LiftReportText says why, per input)"));
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create '", dir, "': ", ec.message()));
  for (const FeatureSpec& f : result.config.features) {
    const CategoricalSpec& c = f.categorical;
    if (c.source != CategoricalSpec::Source::kVocabulary || c.vocabulary_file.empty()) continue;
    std::string text;
    for (const std::string& v : c.vocabulary) absl::StrAppend(&text, v, "\n");
    RANKOPT_RETURN_IF_ERROR(WriteStringToFile(dir + "/" + c.vocabulary_file, text));
  }
  const std::string yaml = dir + "/features.yaml";
  RANKOPT_RETURN_IF_ERROR(
      WriteStringToFile(yaml, FeatureConfigToYaml(result.config, /*vocabulary_files=*/true)));
  RANKOPT_RETURN_IF_ERROR(LoadFeatureConfig(yaml).status());
  std::string model;
  switch (result.graph.format()) {
    case ModelFormat::kTfSavedModel:
      model = dir + "/model";
      break;
    case ModelFormat::kTfGraphDefText:
      model = dir + "/model.pbtxt";
      break;
    case ModelFormat::kOnnx:
      model = dir + "/model.onnx";
      break;
    default:
      model = dir + "/model.pb";
  }
  return SaveModel(result.graph, model);
}

std::string LiftReportText(const LiftResult& result) {
  std::string out = absl::StrCat(
      "lifted ", result.lifted.size(), " feature(s)",
      result.crosses.empty() ? "" : absl::StrCat(" and ", result.crosses.size(), " cross(es)"),
      ", kept ", result.kept.size(), " in the graph\n");
  for (const LiftedFeature& f : result.lifted) {
    absl::StrAppend(&out, "  lifted ", f.feature, " -> ", f.graph_input, ": ", f.how, "; replaces ",
                    f.cut_tensor, "\n");
  }
  for (const LiftedFeature& f : result.crosses) {
    absl::StrAppend(&out, "  cross  ", f.feature, " -> ", f.graph_input, ": ", f.how, "; replaces ",
                    f.cut_tensor, "\n");
  }
  for (const KeptFeature& f : result.kept) {
    absl::StrAppend(&out, "  kept   ", f.feature, ": ", f.reason, "\n");
  }
  return out;
}

}  // namespace rankopt
