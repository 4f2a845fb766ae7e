// FeatureTransformer: plans every feature of a config once (Create), then assembles a request's
// columns row by row (Transform) from the per-kind values of feature_values.h.
#include "features/pipeline/feature_transformer.h"

#include <atomic>
#include <charconv>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "features/pipeline/feature_values.h"
#include "features/request/tf_example_wire.h"
#include "features/transforms/bucketize.h"
#include "features/transforms/hashing.h"
#include "features/transforms/numeric.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

using transformer_internal::CategoricalId;
using transformer_internal::Count;
using transformer_internal::CrossInput;
using transformer_internal::FastCategoricalId;
using transformer_internal::FastNumericFloat;
using transformer_internal::FastNumericId;
using transformer_internal::Normalized;
using transformer_internal::NumericFloat;
using transformer_internal::NumericId;
using transformer_internal::NumericValue;
using transformer_internal::Plan;
using transformer_internal::SequenceIds;
using transformer_internal::SideIndex;
using transformer_internal::ValueView;
using transformer_internal::Where;
namespace wire = tf_example_wire;

constexpr int kNumSides = 3;

bool IsDerived(FeatureKind kind) {
  return kind == FeatureKind::kCross || kind == FeatureKind::kSequenceLength;
}

// The section a side's features are sent in.
absl::string_view SectionName(FeatureSide side) {
  switch (side) {
    case FeatureSide::kUser:
      return "\"user\"";
    case FeatureSide::kContext:
      return "\"context\"";
    case FeatureSide::kItem:
      return "each candidate";
  }
  return "?";
}

struct ColumnLayout {
  std::string input;
  FeatureSide side = FeatureSide::kUser;
  DType dtype = DType::kInt64;
  int64_t width = 1;
  bool sequence = false;
  std::string table;
  std::vector<std::string> features;
  std::string note;
};

absl::Status PlanError(const FeatureSpec& spec, absl::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat(spec.location.ToString(), ": feature '", spec.name, "': ", message));
}

}  // namespace

struct FeatureTransformer::State {
  uint64_t id = 0;  // unique per transformer, so a TransformedRequest knows whose layout it holds
  FeatureConfig config;
  std::vector<Plan> plans;  // parallel to config.features
  std::vector<ColumnLayout> columns;
  absl::flat_hash_map<std::string, int> feature_index;
  // Per side: base features, then derived ones (they read the base values of the same row).
  std::array<std::vector<int>, kNumSides> order;
  std::vector<int> broadcast;  // request-level features written into every item row
};

namespace {

// Fills the categorical part of `plan` from `spec` (also for sequences and crosses).
absl::Status PlanCategorical(const FeatureSpec& spec, const CategoricalSpec& c, Plan* plan) {
  plan->source = c.source;
  plan->hash = c.hash;
  plan->seed = c.seed;
  plan->as_decimal = c.hash_integers_as_decimal;
  plan->replace_values = c.replace_values;
  switch (c.source) {
    case CategoricalSpec::Source::kHash:
      if (c.hash_buckets < 1) return PlanError(spec, "hash_buckets must be >= 1");
      plan->hash_buckets = c.hash_buckets;
      break;
    case CategoricalSpec::Source::kVocabulary:
      if (c.oov_buckets < 0) return PlanError(spec, "oov_buckets must be >= 0");
      plan->vocabulary.reserve(c.vocabulary.size());
      for (size_t i = 0; i < c.vocabulary.size(); ++i) {
        if (!plan->vocabulary.emplace(c.vocabulary[i], static_cast<int64_t>(i)).second) {
          return PlanError(spec,
                           absl::StrCat("vocabulary value '", c.vocabulary[i], "' appears twice"));
        }
      }
      plan->vocabulary_index.Build(c.vocabulary);
      plan->vocabulary_size = static_cast<int64_t>(c.vocabulary.size());
      plan->oov_buckets = c.oov_buckets;
      if (c.default_id.has_value()) plan->default_id = *c.default_id;
      break;
    case CategoricalSpec::Source::kIdentity:
      if (c.num_buckets < 1) return PlanError(spec, "num_buckets must be >= 1");
      plan->num_buckets = c.num_buckets;
      break;
    case CategoricalSpec::Source::kPassthrough:
      break;
  }
  return absl::OkStatus();
}

// The default's transformed id/value, computed once; a default that cannot be transformed is a
// config error.
absl::Status PlanDefault(const FeatureSpec& spec, Plan* plan) {
  if (!spec.default_value.has_value()) return absl::OkStatus();
  FeatureValue value;
  std::visit([&value](const auto& v) { value = v; }, *spec.default_value);
  const Where where{plan->side, 0};
  absl::Status status;
  if (spec.kind == FeatureKind::kCategorical) {
    FeatureStats stats;
    plan->default_id = 0;
    status = CategoricalId(*plan, &value, where, &stats, &plan->default_id);
    if (status.ok() && (stats.out_of_range > 0 || stats.defaults_applied > 0)) {
      return PlanError(spec,
                       "the default is not a valid value of the feature (outside "
                       "num_buckets or not in the vocabulary)");
    }
  } else if (spec.kind == FeatureKind::kNumeric) {
    double x = 0;
    bool missing;
    Plan raw = *plan;  // parse text defaults even without from_string
    raw.from_string = true;
    status = NumericValue(raw, &value, where, &x, &missing);
    if (status.ok() && missing) status = PlanError(spec, "the default must be a finite number");
    if (status.ok()) {
      if (plan->produces_ids) {
        plan->default_id = BucketOf(*plan, static_cast<float>(Normalized(*plan, x)));
      } else {
        plan->default_value = static_cast<float>(Normalized(*plan, x));
        if (!std::isfinite(plan->default_value)) {
          status = PlanError(spec, "the default is outside the float range after normalizing");
        }
      }
    }
  } else {
    return PlanError(spec,
                     absl::StrCat("a ", FeatureKindName(spec.kind), " feature takes no default"));
  }
  if (!status.ok()) return PlanError(spec, absl::StrCat("bad default: ", status.message()));
  return absl::OkStatus();
}

bool IsScalarKind(FeatureKind kind) { return kind != FeatureKind::kSequence; }

}  // namespace

absl::StatusOr<FeatureTransformer> FeatureTransformer::Create(FeatureConfig config) {
  static std::atomic<uint64_t> next_id{1};
  auto state = std::make_unique<State>();
  state->id = next_id.fetch_add(1, std::memory_order_relaxed);
  state->config = std::move(config);
  const std::vector<FeatureSpec>& features = state->config.features;
  const int num_features = static_cast<int>(features.size());
  state->plans.resize(num_features);
  for (int f = 0; f < num_features; ++f) {
    if (!state->feature_index.emplace(features[f].name, f).second) {
      return PlanError(features[f], "defined twice");
    }
  }

  // Per-feature plans.
  for (int f = 0; f < num_features; ++f) {
    const FeatureSpec& spec = features[f];
    Plan& plan = state->plans[f];
    plan.spec = &spec;
    plan.side = SideIndex(spec.side);
    plan.kind = spec.kind;
    plan.produces_ids = !(spec.kind == FeatureKind::kNumeric && spec.numeric.boundaries.empty());
    switch (spec.kind) {
      case FeatureKind::kCategorical:
        RANKOPT_RETURN_IF_ERROR(PlanCategorical(spec, spec.categorical, &plan));
        break;
      case FeatureKind::kNumeric: {
        const NumericSpec& n = spec.numeric;
        if (!ValidBoundaries(n.boundaries)) {
          return PlanError(spec, "boundaries must be finite and strictly increasing");
        }
        plan.boundaries = n.boundaries;
        plan.equal_goes_below = n.boundary_equal == NumericSpec::BoundaryEqual::kBelow;
        plan.from_string = n.from_string;
        if (n.clamp_min.has_value()) plan.clamp_min = *n.clamp_min;
        if (n.clamp_max.has_value()) plan.clamp_max = *n.clamp_max;
        if (!(plan.clamp_min <= plan.clamp_max)) {
          return PlanError(spec, "clamp_min must be <= clamp_max");
        }
        if (n.normalize == NumericSpec::Normalize::kStandard) {
          if (!(n.stddev > 0)) return PlanError(spec, "stddev must be > 0");
          plan.normalize = true, plan.subtract = n.mean, plan.divide = n.stddev;
        } else if (n.normalize == NumericSpec::Normalize::kMinMax) {
          if (!(n.max > n.min)) return PlanError(spec, "max must be > min");
          plan.normalize = true, plan.subtract = n.min, plan.divide = n.max - n.min;
        }
        break;
      }
      case FeatureKind::kSequence:
        if (spec.max_len < 1) return PlanError(spec, "max_len must be >= 1");
        RANKOPT_RETURN_IF_ERROR(PlanCategorical(spec, spec.categorical, &plan));
        plan.max_len = spec.max_len;
        plan.padding_id = spec.padding_id;
        plan.keep_last = spec.truncation == Truncation::kKeepLast;
        break;
      case FeatureKind::kCross: {
        if (spec.crossed.size() < 2) return PlanError(spec, "a cross needs >= 2 features");
        if (spec.categorical.hash_buckets < 1) return PlanError(spec, "hash_buckets must be >= 1");
        RANKOPT_RETURN_IF_ERROR(PlanCategorical(spec, spec.categorical, &plan));
        plan.source = CategoricalSpec::Source::kHash;
        for (const std::string& name : spec.crossed) {
          auto it = state->feature_index.find(name);
          if (it == state->feature_index.end()) {
            return PlanError(spec, absl::StrCat("crosses unknown feature '", name, "'"));
          }
          const FeatureSpec& other = features[it->second];
          const bool crossable =
              other.kind == FeatureKind::kCategorical ||
              (other.kind == FeatureKind::kNumeric && !other.numeric.boundaries.empty());
          if (!crossable) {
            return PlanError(
                spec, absl::StrCat("cannot cross '", name, "' (", FeatureKindName(other.kind),
                                   "): only categorical and bucketized numeric "
                                   "features can be crossed"));
          }
          if (spec.side != FeatureSide::kItem && other.side == FeatureSide::kItem) {
            return PlanError(spec, absl::StrCat("a ", FeatureSideName(spec.side),
                                                " cross cannot use item feature '", name,
                                                "'; make the cross an item feature"));
          }
          plan.crossed.push_back(it->second);
        }
        break;
      }
      case FeatureKind::kSequenceLength: {
        auto it = state->feature_index.find(spec.length_of);
        if (it == state->feature_index.end() ||
            features[it->second].kind != FeatureKind::kSequence) {
          return PlanError(
              spec, absl::StrCat("length_of '", spec.length_of, "' must name a sequence feature"));
        }
        if (spec.side != FeatureSide::kItem && features[it->second].side == FeatureSide::kItem) {
          return PlanError(spec, absl::StrCat("the length of item sequence '", spec.length_of,
                                              "' must be an item feature"));
        }
        plan.length_of = it->second;
        break;
      }
    }
    if (spec.input_column >= 0 && !IsScalarKind(spec.kind)) {
      return PlanError(spec, "input_column applies to one-value features, not sequences");
    }
  }
  for (int f = 0; f < num_features; ++f) {
    RANKOPT_RETURN_IF_ERROR(PlanDefault(features[f], &state->plans[f]));
  }

  // Columns: one per graph input, in order of each input's first feature.
  absl::flat_hash_map<std::string, int> column_of;
  std::vector<std::vector<int>> members;
  for (int f = 0; f < num_features; ++f) {
    const std::string& input = features[f].input.empty() ? features[f].name : features[f].input;
    auto [it, inserted] = column_of.emplace(input, static_cast<int>(members.size()));
    if (inserted) {
      members.emplace_back();
      state->columns.emplace_back();
      state->columns.back().input = input;
    }
    members[it->second].push_back(f);
  }
  for (size_t c = 0; c < members.size(); ++c) {
    ColumnLayout& column = state->columns[c];
    const std::vector<int>& fs = members[c];
    const FeatureSpec& first = features[fs[0]];
    if (fs.size() == 1 && first.input_column < 0) {
      Plan& plan = state->plans[fs[0]];
      plan.column = static_cast<int>(c);
      column.side = first.side;
      column.dtype = plan.produces_ids ? DType::kInt64 : DType::kFloat32;
      column.sequence = first.kind == FeatureKind::kSequence;
      column.width = column.sequence ? first.max_len : 1;
      if (first.embedding.has_value()) column.table = first.embedding->table;
      column.features = {first.name};
      continue;
    }
    // A [B, C] input shared by C one-value features, one per column.
    std::vector<int> by_column(fs.size(), -1);
    bool any_item = false, all_context = true;
    for (int f : fs) {
      const FeatureSpec& spec = features[f];
      if (spec.input_column < 0 || spec.input_column >= static_cast<int>(fs.size())) {
        return PlanError(
            spec, absl::StrCat("input '", column.input, "' is shared by ", fs.size(),
                               " features, so each needs an input_column in [0, ", fs.size(), ")"));
      }
      if (by_column[spec.input_column] >= 0) {
        return PlanError(spec, absl::StrCat("input_column ", spec.input_column, " of '",
                                            column.input, "' is also filled by '",
                                            features[by_column[spec.input_column]].name, "'"));
      }
      if (state->plans[f].produces_ids != state->plans[fs[0]].produces_ids) {
        return PlanError(
            spec, absl::StrCat("input '", column.input, "' mixes id features and float features"));
      }
      by_column[spec.input_column] = f;
      any_item |= spec.side == FeatureSide::kItem;
      all_context &= spec.side == FeatureSide::kContext;
    }
    column.side = any_item      ? FeatureSide::kItem
                  : all_context ? FeatureSide::kContext
                                : FeatureSide::kUser;
    column.dtype = state->plans[fs[0]].produces_ids ? DType::kInt64 : DType::kFloat32;
    column.width = static_cast<int64_t>(fs.size());
    bool same_table = true;
    std::vector<std::string> broadcast_columns;
    for (int k = 0; k < static_cast<int>(by_column.size()); ++k) {
      const int f = by_column[k];
      Plan& plan = state->plans[f];
      plan.column = static_cast<int>(c);
      plan.offset = k;
      plan.broadcast = any_item && features[f].side != FeatureSide::kItem;
      if (plan.broadcast) {
        state->broadcast.push_back(f);
        broadcast_columns.push_back(absl::StrCat(k, " (", features[f].name, ")"));
      }
      column.features.push_back(features[f].name);
      const std::string table = features[f].embedding ? features[f].embedding->table : "";
      if (k == 0) column.table = table;
      same_table &= table == column.table;
    }
    if (!same_table) column.table.clear();
    if (!broadcast_columns.empty()) {
      column.note = absl::StrCat("request-level column", broadcast_columns.size() > 1 ? "s " : " ",
                                 absl::StrJoin(broadcast_columns, ", "),
                                 " broadcast into every candidate row");
    }
  }

  // Evaluation order per side: base features, then crosses and lengths.
  for (int pass = 0; pass < 2; ++pass) {
    for (int f = 0; f < num_features; ++f) {
      if (IsDerived(features[f].kind) == (pass == 1)) {
        state->order[SideIndex(features[f].side)].push_back(f);
      }
    }
  }
  return FeatureTransformer(std::move(state));
}

FeatureTransformer::FeatureTransformer(std::unique_ptr<State> state) : state_(std::move(state)) {}
FeatureTransformer::FeatureTransformer(FeatureTransformer&&) noexcept = default;
FeatureTransformer& FeatureTransformer::operator=(FeatureTransformer&&) noexcept = default;
FeatureTransformer::~FeatureTransformer() = default;

const FeatureConfig& FeatureTransformer::config() const { return state_->config; }

namespace {

// Why feature `f` (or -1: unknown) cannot be sent by `where` (OK when it can): unknown, another
// side's, computed, or already sent in the row (`in_example`: the candidate's tf.Example sends it
// too).
absl::Status CheckSent(const FeatureTransformer::State& state, int f, absl::string_view name,
                       Where where, const TransformedRequest::Scratch& scratch, bool in_example) {
  if (f < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown feature '", name, "' in ", where.ToString(), ": the config ", state.config.path,
        " does not list it (remove it from the request, add it to the "
        "config, or set ignore_unknown_features)"));
  }
  const Plan& plan = state.plans[f];
  if (plan.side != where.side) {
    return absl::InvalidArgumentError(absl::StrCat(
        "feature '", name, "' sent in ", where.ToString(), " is a ",
        FeatureSideName(plan.spec->side), " feature: send it in ", SectionName(plan.spec->side)));
  }
  if (IsDerived(plan.kind)) {
    return absl::InvalidArgumentError(absl::StrCat("feature '", name, "' in ", where.ToString(),
                                                   " is computed (", FeatureKindName(plan.kind),
                                                   "); do not send it"));
  }
  if (scratch.sent[f] == 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("feature '", name, "' appears twice in ", where.ToString(),
                     in_example ? " (in the row and in its serialized tf.Example)" : ""));
  }
  return absl::OkStatus();
}

// Maps a row's entries to feature slots, checking names and sections. The entry -> feature
// mapping of the previous row of the same side is tried first: candidates usually list their
// features in the same order, so the common case is one string compare per entry, no hashing.
absl::Status ResolveRow(const FeatureTransformer::State& state, const FeatureRow& row, Where where,
                        TransformedRequest::Scratch* scratch) {
  const std::vector<FeatureRow::Entry>& entries = row.entries();
  std::vector<int32_t>& order = scratch->order[where.side];
  if (order.size() < entries.size()) order.resize(entries.size(), -1);
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& name = entries[i].first;
    int f = order[i];
    if (f < 0 || state.plans[f].spec->name != name) {
      auto it = state.feature_index.find(name);
      f = it == state.feature_index.end() ? -1 : it->second;
      order[i] = f;
    }
    if (f < 0 && state.config.ignore_unknown_features) continue;
    RANKOPT_RETURN_IF_ERROR(CheckSent(state, f, name, where, *scratch, false));
    scratch->slots[f] = ValueView(&entries[i].second);
    scratch->sent[f] = 1;
  }
  return absl::OkStatus();
}

// Where DecodeTfFeature puts one feature's values: the example arenas of `scratch`.
class ExampleSink {
 public:
  ExampleSink(TransformedRequest::Scratch* scratch, TransformedRequest::Scratch::ExampleSlot* slot)
      : scratch_(scratch), slot_(slot) {}
  void Kind(int kind) {
    if (kind == slot_->kind) return;  // another list of the same kind appends (protobuf's merge)
    slot_->kind = kind;
    slot_->count = 0;
    slot_->begin = static_cast<uint32_t>(kind == wire::kBytes   ? scratch_->example_strings.size()
                                         : kind == wire::kFloat ? scratch_->example_floats.size()
                                                                : scratch_->example_ints.size());
  }
  void String(absl::string_view v) {
    scratch_->example_strings.push_back(v);
    ++slot_->count;
  }
  void Float(float v) {
    scratch_->example_floats.push_back(v);
    ++slot_->count;
  }
  void Int(int64_t v) {
    scratch_->example_ints.push_back(v);
    ++slot_->count;
  }

 private:
  TransformedRequest::Scratch* scratch_;
  TransformedRequest::Scratch::ExampleSlot* slot_;
};

// Checks the bytes of a feature nobody reads.
struct DiscardSink {
  void Kind(int) {}
  void String(absl::string_view) {}
  void Float(float) {}
  void Int(int64_t) {}
};

// How many entry positions remember their key (bounds the scratch a hostile example can grow).
constexpr size_t kRememberedPositions = 256;

// The feature of key `key` at entry `position` of an example, looked up (and remembered).
ABSL_ATTRIBUTE_NOINLINE int LookUpKey(const FeatureTransformer::State& state, size_t position,
                                      absl::string_view key, TransformedRequest::Scratch* scratch) {
  const bool remembered = position < kRememberedPositions;
  if (remembered) {
    if (position >= scratch->example_keys.size()) {
      scratch->example_keys.resize(position + 1);
      scratch->example_order.resize(position + 1, -1);
    }
  }
  auto it = state.feature_index.find(key);
  const int f = it == state.feature_index.end() ? -1 : it->second;
  if (remembered) {
    scratch->example_keys[position].assign(key.data(), key.size());
    scratch->example_order[position] = f;
  }
  return f;
}

// a == b for short keys, 8 bytes at a time, without a call into libc's memcmp.
inline bool SameKey(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  size_t i = 0;
  for (; i + 8 <= a.size(); i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    if (x != y) return false;
  }
  for (; i < a.size(); ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

// The feature of key `key` at entry `position`: the key seen there in the previous example first.
inline int FeatureOfKey(const FeatureTransformer::State& state, size_t position,
                        absl::string_view key, TransformedRequest::Scratch* scratch) {
  if (ABSL_PREDICT_TRUE(position < scratch->example_keys.size() &&
                        SameKey(scratch->example_keys[position], key))) {
    return scratch->example_order[position];
  }
  return LookUpKey(state, position, key, scratch);
}

// Decodes candidate `where`'s serialized tf.Example into the slots of the features it sends, as
// ParseTfExample + ResolveRow would: the bytes are checked to the end before a feature's error
// (unknown, another side's, sent twice) is reported, as ParseTfExample reads them all first.
absl::Status ResolveExample(const FeatureTransformer::State& state, absl::string_view bytes,
                            Where where, TransformedRequest::Scratch* scratch) {
  scratch->example_ints.clear();
  scratch->example_floats.clear();
  scratch->example_strings.clear();
  scratch->num_example_features = 0;
  absl::Status first_error;
  size_t position = 0;
  absl::Status status = wire::ForEachTfExampleFeature(
      bytes, [&](absl::string_view key, absl::string_view value, bool has_value) -> absl::Status {
        const int f = FeatureOfKey(state, position++, key, scratch);
        const bool ignored = f < 0 && state.config.ignore_unknown_features;
        // The common case inline: a known item feature of the example, not in the row.
        const bool fine = f >= 0 && scratch->sent[f] != 1 && state.plans[f].side == where.side &&
                          !IsDerived(state.plans[f].kind);
        if (!fine && !ignored && first_error.ok() && (f < 0 || scratch->sent[f] != 2)) {
          first_error = CheckSent(state, f, key, where, *scratch, true);
        }
        if (f < 0 || !first_error.ok()) {
          DiscardSink discard;
          return has_value ? wire::DecodeTfFeature(value, key, &discard) : absl::OkStatus();
        }
        TransformedRequest::Scratch::ExampleSlot& slot = scratch->example_slots[f];
        if (scratch->sent[f] != 2) {
          scratch->sent[f] = 2;
          scratch->example_features[scratch->num_example_features++] = f;
        }
        slot = {};  // a key written again: its last entry
        if (!has_value) return absl::OkStatus();
        ExampleSink sink(scratch, &slot);
        return wire::DecodeTfFeature(value, key, &sink);
      });
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrCat(where.ToString(), ": ", status.message()));
  }
  RANKOPT_RETURN_IF_ERROR(first_error);
  for (size_t k = 0; k < scratch->num_example_features; ++k) {
    const int f = scratch->example_features[k];
    const TransformedRequest::Scratch::ExampleSlot& slot = scratch->example_slots[f];
    ValueView& view = scratch->slots[f];
    view = ValueView();
    if (slot.count == 0) continue;  // no kind or an empty list: missing
    // One value is a scalar (ParseTfExample's row), except for a sequence: a list of one.
    const bool list = slot.count > 1 || state.plans[f].kind == FeatureKind::kSequence;
    view.size = slot.count;
    switch (slot.kind) {
      case wire::kBytes:
        view.kind = list ? ValueView::kStringList : ValueView::kString;
        view.views = scratch->example_strings.data() + slot.begin;
        break;
      case wire::kFloat:
        view.kind = list ? ValueView::kFloatList : ValueView::kFloat;
        view.floats = scratch->example_floats.data() + slot.begin;
        break;
      default:
        view.kind = list ? ValueView::kIntList : ValueView::kInt;
        view.ints = scratch->example_ints.data() + slot.begin;
        break;
    }
  }
  return absl::OkStatus();
}

// Computes feature `f` of the current row into its column row `row` (or the broadcast buffers).
absl::Status ComputeFeature(const FeatureTransformer::State& state, int f, Where where, int64_t row,
                            TransformedRequest* out) {
  const Plan& p = state.plans[f];
  TransformedRequest::Scratch& scratch = out->scratch;
  FeatureStats* stats = &out->stats[f];
  FeatureColumn& column = out->columns[p.column];
  const ValueView& value = scratch.slots[f];
  const int64_t index = row * column.width() + p.offset;
  int64_t id = 0;
  switch (p.kind) {
    case FeatureKind::kCategorical:
      if (!FastCategoricalId(p, value, &id)) {
        RANKOPT_RETURN_IF_ERROR(CategoricalId(p, value, where, stats, &id));
      }
      break;
    case FeatureKind::kNumeric:
      if (!p.produces_ids) {
        float x;
        if (!FastNumericFloat(p, value, &x)) {
          RANKOPT_RETURN_IF_ERROR(NumericFloat(p, value, where, stats, &x));
        }
        if (p.broadcast) {
          scratch.broadcast_values[f] = x;
        } else {
          column.values[index] = x;
        }
        return absl::OkStatus();
      }
      if (!FastNumericId(p, value, &id)) {
        RANKOPT_RETURN_IF_ERROR(NumericId(p, value, where, stats, &id));
      }
      break;
    case FeatureKind::kSequence:
      return SequenceIds(p, value, where, stats, column.ids.data() + row * p.max_len,
                         &scratch.lengths[f]);
    case FeatureKind::kSequenceLength:
      id = scratch.lengths[p.length_of];
      break;
    case FeatureKind::kCross: {
      scratch.cross_hashes.clear();
      bool missing = false;
      for (int c : p.crossed) {
        uint64_t h = 0;
        RANKOPT_RETURN_IF_ERROR(CrossInput(p, state.plans[c], scratch.slots[c],
                                           Where{state.plans[c].side, where.candidate}, &h,
                                           &missing));
        if (missing) break;
        scratch.cross_hashes.push_back(h);
      }
      if (missing) {
        Count(&FeatureStats::defaults_applied, stats);
        id = p.default_id;
      } else {
        const uint64_t key = p.hash == HashFunction::kTfFingerprint64 ? kTfCrossHashKey : p.seed;
        id = HashToBucket(CombineHashes(scratch.cross_hashes, key), p.hash_buckets);
      }
      break;
    }
  }
  if (p.broadcast) {
    scratch.broadcast_ids[f] = id;
  } else {
    column.ids[index] = id;
  }
  return absl::OkStatus();
}

// Lays out `out` for this transformer (once per TransformedRequest) and sizes it for n rows.
void Prepare(const FeatureTransformer::State& state, int64_t n, TransformedRequest* out) {
  const size_t num_features = state.plans.size();
  TransformedRequest::Scratch& scratch = out->scratch;
  if (scratch.owner != state.id) {
    out->columns.assign(state.columns.size(), FeatureColumn());
    for (size_t c = 0; c < state.columns.size(); ++c) {
      const ColumnLayout& layout = state.columns[c];
      FeatureColumn& column = out->columns[c];
      column.input = layout.input;
      column.side = layout.side;
      column.dtype = layout.dtype;
      column.table = layout.table;
      column.features = layout.features;
      column.note = layout.note;
    }
    out->stats.assign(num_features, FeatureStats());
    for (size_t f = 0; f < num_features; ++f) out->stats[f].feature = state.plans[f].spec->name;
    scratch.slots.assign(num_features, ValueView());
    scratch.sent.assign(num_features, 0);
    scratch.example_slots.assign(num_features, {});
    scratch.example_features.assign(num_features, 0);
    scratch.lengths.assign(num_features, 0);
    scratch.broadcast_ids.assign(num_features, 0);
    scratch.broadcast_values.assign(num_features, 0.0f);
    for (std::vector<int32_t>& order : scratch.order) order.clear();
    scratch.owner = state.id;
  }
  out->num_candidates = n;
  for (size_t c = 0; c < state.columns.size(); ++c) {
    const ColumnLayout& layout = state.columns[c];
    FeatureColumn& column = out->columns[c];
    const int64_t rows = layout.side == FeatureSide::kItem ? n : 1;
    column.dims.clear();
    column.dims.push_back(rows);
    if (layout.sequence || layout.width > 1) column.dims.push_back(layout.width);
    const size_t size = static_cast<size_t>(rows * layout.width);
    if (layout.dtype == DType::kInt64) {
      column.ids.resize(size);
    } else {
      column.values.resize(size);
    }
  }
  for (FeatureStats& stats : out->stats) {
    stats.defaults_applied = stats.truncated = stats.out_of_range = 0;
  }
  std::fill(scratch.slots.begin(), scratch.slots.end(), ValueView());
  std::fill(scratch.sent.begin(), scratch.sent.end(), 0);
}

}  // namespace

absl::Status FeatureTransformer::Transform(const Request& request, TransformedRequest* out) const {
  const State& state = *state_;
  const int64_t n = static_cast<int64_t>(request.candidates.size());
  const bool examples = !request.candidate_examples.empty();
  if (examples && request.candidate_examples.size() != request.candidates.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the request has ", request.candidate_examples.size(), " candidate_examples for ", n,
        " candidates; send one per candidate (an empty one adds no features) or none"));
  }
  Prepare(state, n, out);
  TransformedRequest::Scratch& scratch = out->scratch;

  for (FeatureSide side : {FeatureSide::kUser, FeatureSide::kContext}) {
    const Where where{SideIndex(side), 0};
    RANKOPT_RETURN_IF_ERROR(ResolveRow(
        state, side == FeatureSide::kUser ? request.user : request.context, where, &scratch));
    for (int f : state.order[where.side]) {
      RANKOPT_RETURN_IF_ERROR(ComputeFeature(state, f, where, 0, out));
    }
  }
  const std::vector<int>& item_features = state.order[SideIndex(FeatureSide::kItem)];
  for (int64_t c = 0; c < n; ++c) {
    const Where where{SideIndex(FeatureSide::kItem), c};
    for (int f : item_features) {
      scratch.slots[f] = ValueView();
      scratch.sent[f] = 0;
    }
    scratch.num_example_features = 0;
    RANKOPT_RETURN_IF_ERROR(ResolveRow(state, request.candidates[c], where, &scratch));
    if (examples) {
      RANKOPT_RETURN_IF_ERROR(
          ResolveExample(state, request.candidate_examples[c], where, &scratch));
    }
    for (int f : item_features) {
      RANKOPT_RETURN_IF_ERROR(ComputeFeature(state, f, where, c, out));
    }
  }
  for (int f : state.broadcast) {
    const Plan& p = state.plans[f];
    FeatureColumn& column = out->columns[p.column];
    const int64_t width = column.width();
    if (p.produces_ids) {
      for (int64_t r = 0; r < n; ++r) column.ids[r * width + p.offset] = scratch.broadcast_ids[f];
    } else {
      for (int64_t r = 0; r < n; ++r) {
        column.values[r * width + p.offset] = scratch.broadcast_values[f];
      }
    }
  }
  return absl::OkStatus();
}

const FeatureColumn* TransformedRequest::FindColumn(absl::string_view input) const {
  for (const FeatureColumn& column : columns) {
    if (column.input == input) return &column;
  }
  return nullptr;
}

const FeatureStats* TransformedRequest::FindStats(absl::string_view feature) const {
  for (const FeatureStats& s : stats) {
    if (s.feature == feature) return &s;
  }
  return nullptr;
}

}  // namespace rankopt
