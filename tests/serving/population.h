// A deterministic population of users and items for a feature config, for cache tests and the
// serving cache benchmark (bench/serving/serving_cache_bench.cc): user u's features (and context)
// and item i's features are functions of u and i alone, so a stream of user/item indices (Zipf,
// say) is a stream of requests where a repeated index repeats its features exactly.
//
// Values by kind (identity ids only: the DIN and ESMM configs): categorical -> an id in
// [1, bound), sequence -> 1..max_len such ids, numeric -> a float in [-1, 1); bound =
// min(num_buckets, max_ids). Features of other kinds (hashed, vocabulary, crossed) are left out;
// sequence_length features are computed by the transformer.
#ifndef RANKOPT_TESTS_SERVING_POPULATION_H_
#define RANKOPT_TESTS_SERVING_POPULATION_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "features/config/feature_config.h"
#include "rankopt/request.h"

namespace rankopt {

class Population {
 public:
  // max_ids: the rows of the model's smallest embedding table (1000 for the mini peer models).
  Population(const FeatureConfig& config, int64_t max_ids) : max_ids_(max_ids) {
    for (const FeatureSpec& f : config.features) {
      if (f.kind == FeatureKind::kSequenceLength || f.kind == FeatureKind::kCross) continue;
      if (f.kind != FeatureKind::kNumeric &&
          f.categorical.source != CategoricalSpec::Source::kIdentity) {
        continue;
      }
      (f.side == FeatureSide::kItem ? item_ : user_).push_back(&f);
    }
  }

  // The user (and context) features of user `u`, and `candidates` items.
  void Fill(uint64_t u, const std::vector<uint64_t>& items, Request* request) const {
    request->user.Clear();
    request->context.Clear();
    for (const FeatureSpec* f : user_) {
      FeatureRow& row = f->side == FeatureSide::kContext ? request->context : request->user;
      row.Append(f->name, Value(*f, u * 2 + 1));
    }
    request->candidates.resize(items.size());
    for (size_t k = 0; k < items.size(); ++k) {
      FeatureRow& row = request->candidates[k];
      row.Clear();
      for (const FeatureSpec* f : item_) row.Append(f->name, Value(*f, items[k] * 2));
    }
  }

  static uint64_t Mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }

 private:
  static uint64_t NameHash(const std::string& name) {
    uint64_t h = 1469598103934665603ULL;
    for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    return h;
  }

  FeatureValue Value(const FeatureSpec& f, uint64_t who) const {
    const uint64_t h = Mix(who ^ NameHash(f.name));
    if (f.kind == FeatureKind::kNumeric) {
      return static_cast<double>(h % 2000) / 1000.0 - 1.0;
    }
    const int64_t bound = std::max<int64_t>(2, std::min<int64_t>(f.categorical.num_buckets > 0
                                                                      ? f.categorical.num_buckets
                                                                      : max_ids_,
                                                                  max_ids_));
    auto id = [&](uint64_t x) { return 1 + static_cast<int64_t>(x % (bound - 1)); };
    if (f.kind == FeatureKind::kSequence) {
      const int64_t max_len = std::max<int64_t>(1, f.max_len);
      std::vector<int64_t> ids(1 + h % max_len);
      for (size_t j = 0; j < ids.size(); ++j) ids[j] = id(Mix(h + j + 1));
      return ids;
    }
    return id(h);
  }

  int64_t max_ids_;
  std::vector<const FeatureSpec*> user_;
  std::vector<const FeatureSpec*> item_;
};

}  // namespace rankopt

#endif  // RANKOPT_TESTS_SERVING_POPULATION_H_
