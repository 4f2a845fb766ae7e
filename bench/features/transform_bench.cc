// Whole-request feature transform for the DIN and ESMM configs, 200 candidates, one core:
// FeatureTransformer next to the straightforward code a service writes by hand (std::string
// copies, std::unordered_map lookups and vocabularies, std::hash, linear boundary scans, fresh
// output vectors per request). Also JSON parsing of the same request, for scale.
//
// Run: build-*/bench/features/features_transform_bench --benchmark_repetitions=10
//        --benchmark_report_aggregates_only=true
// Target (issue 3): a 200-candidate ESMM request transformed in < 50 us on one core.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>

#include "features/config/feature_config.h"
#include "features/pipeline/feature_transformer.h"
#include "rankopt/request_json.h"

namespace rankopt {
namespace {

constexpr int kCandidates = 200;

// The checked-in 16-candidate reference request, widened to kCandidates by cycling its rows.
Request LoadRequest(const std::string& model) {
  absl::StatusOr<std::vector<RequestLine>> lines = ReadRequestJsonLines(
      std::string(RANKOPT_SOURCE_DIR) + "/tests/data/features/requests_" + model + ".jsonl");
  if (!lines.ok() || lines->empty()) {
    std::fprintf(stderr, "cannot read the %s request: %s\n", model.c_str(),
                 std::string(lines.status().message()).c_str());
    std::exit(1);
  }
  Request request = (*lines)[0].request;
  const size_t n = request.candidates.size();
  for (size_t i = n; i < kCandidates; ++i) request.candidates.push_back(request.candidates[i % n]);
  return request;
}

FeatureConfig LoadConfig(const std::string& model) {
  absl::StatusOr<FeatureConfig> config =
      LoadFeatureConfig(std::string(RANKOPT_SOURCE_DIR) + "/configs/" + model + ".yaml");
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", std::string(config.status().message()).c_str());
    std::exit(1);
  }
  return *std::move(config);
}

// --- The hand-written baseline. ---

struct NaiveOutput {
  std::map<std::string, std::vector<int64_t>> ids;
  std::map<std::string, std::vector<float>> values;
};

class NaiveTransformer {
 public:
  explicit NaiveTransformer(FeatureConfig config) : config_(std::move(config)) {
    for (const FeatureSpec& spec : config_.features) {
      auto& vocab = vocabularies_[spec.name];
      for (size_t i = 0; i < spec.categorical.vocabulary.size(); ++i) {
        vocab[spec.categorical.vocabulary[i]] = static_cast<int64_t>(i);
      }
    }
  }

  NaiveOutput Transform(const Request& request) const {
    NaiveOutput out;
    std::unordered_map<std::string, int64_t> lengths;
    auto by_name = [](const FeatureRow& row) {
      std::unordered_map<std::string, FeatureValue> values;  // copies names and values
      for (const auto& [name, value] : row.entries()) values[name] = value;
      return values;
    };
    const auto user = by_name(request.user), context = by_name(request.context);
    std::vector<std::unordered_map<std::string, FeatureValue>> candidates;
    for (const FeatureRow& row : request.candidates) candidates.push_back(by_name(row));
    const size_t n = request.candidates.size();
    for (const FeatureSpec& spec : config_.features) {
      const bool item = spec.side == FeatureSide::kItem;
      const size_t rows = item ? n : 1;
      for (size_t r = 0; r < rows; ++r) {
        const auto& values = item                              ? candidates[r]
                             : spec.side == FeatureSide::kUser ? user
                                                               : context;
        auto it = values.find(spec.name);
        const FeatureValue value = it == values.end() ? FeatureValue() : it->second;
        const std::string input = spec.input.empty() ? spec.name : spec.input;
        switch (spec.kind) {
          case FeatureKind::kCategorical:
            out.ids[input].push_back(Id(spec, value));
            break;
          case FeatureKind::kNumeric: {
            double x = 0;
            if (auto* i = std::get_if<int64_t>(&value)) x = static_cast<double>(*i);
            if (auto* d = std::get_if<double>(&value)) x = *d;
            if (auto* s = std::get_if<std::string>(&value)) x = std::stod(*s);
            if (!std::isfinite(x)) x = 0;
            if (spec.numeric.boundaries.empty()) {
              out.values[input].push_back(static_cast<float>(x));
            } else {
              int64_t bucket = 0;  // linear scan
              for (float b : spec.numeric.boundaries) bucket += static_cast<float>(x) >= b;
              out.ids[input].push_back(bucket);
            }
            break;
          }
          case FeatureKind::kSequence: {
            std::vector<int64_t> ids;
            if (auto* list = std::get_if<std::vector<int64_t>>(&value)) {
              for (int64_t v : *list) ids.push_back(Id(spec, FeatureValue(v)));
            }
            if (auto* list = std::get_if<std::vector<std::string>>(&value)) {
              for (const std::string& v : *list) ids.push_back(Id(spec, FeatureValue(v)));
            }
            if (static_cast<int64_t>(ids.size()) > spec.max_len) {
              ids.erase(ids.begin(), ids.end() - spec.max_len);
            }
            lengths[spec.name] = static_cast<int64_t>(ids.size());
            ids.resize(spec.max_len, spec.padding_id);
            auto& column = out.ids[input];
            column.insert(column.end(), ids.begin(), ids.end());
            break;
          }
          case FeatureKind::kSequenceLength:
            out.ids[input].push_back(lengths[spec.length_of]);
            break;
          case FeatureKind::kCross:
            break;  // not in DIN/ESMM
        }
      }
    }
    return out;
  }

 private:
  int64_t Id(const FeatureSpec& spec, const FeatureValue& value) const {
    const CategoricalSpec& c = spec.categorical;
    std::string text;
    if (auto* i = std::get_if<int64_t>(&value)) {
      if (c.source == CategoricalSpec::Source::kIdentity) {
        return *i >= 0 && *i < c.num_buckets ? *i : 0;
      }
      text = std::to_string(*i);
    } else if (auto* s = std::get_if<std::string>(&value)) {
      text = *s;
    } else {
      return 0;
    }
    if (c.source == CategoricalSpec::Source::kVocabulary) {
      const auto& vocab = vocabularies_.at(spec.name);
      auto it = vocab.find(text);
      return it != vocab.end() ? it->second
                               : static_cast<int64_t>(vocab.size()) +
                                     static_cast<int64_t>(std::hash<std::string>()(text) %
                                                          std::max<int64_t>(c.oov_buckets, 1));
    }
    return static_cast<int64_t>(std::hash<std::string>()(text) %
                                static_cast<uint64_t>(std::max<int64_t>(c.hash_buckets, 1)));
  }

  FeatureConfig config_;
  std::unordered_map<std::string, std::unordered_map<std::string, int64_t>> vocabularies_;
};

// --- Benchmarks. ---

void BM_Transform(benchmark::State& state, const std::string& model) {
  absl::StatusOr<FeatureTransformer> transformer = FeatureTransformer::Create(LoadConfig(model));
  if (!transformer.ok()) {
    state.SkipWithError(std::string(transformer.status().message()).c_str());
    return;
  }
  const Request request = LoadRequest(model);
  TransformedRequest out;
  for (auto _ : state) {
    absl::Status status = transformer->Transform(request, &out);
    if (!status.ok()) {
      state.SkipWithError(std::string(status.message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(out.columns.data());
  }
  state.SetItemsProcessed(state.iterations() * kCandidates);
  state.counters["candidates"] = kCandidates;
}

void BM_Naive(benchmark::State& state, const std::string& model) {
  const NaiveTransformer transformer(LoadConfig(model));
  const Request request = LoadRequest(model);
  for (auto _ : state) {
    NaiveOutput out = transformer.Transform(request);
    benchmark::DoNotOptimize(out.ids.size());
  }
  state.SetItemsProcessed(state.iterations() * kCandidates);
}

void BM_ParseJson(benchmark::State& state, const std::string& model) {
  // The 200-candidate request as one JSON line (the CLI/HTTP path, not the service hot path).
  const Request request = LoadRequest(model);
  std::string json = R"({"user": {)";
  auto append_row = [&json](const FeatureRow& row) {
    bool first = true;
    for (const auto& [name, value] : row.entries()) {
      json += (first ? "\"" : ", \"") + name + "\": ";
      first = false;
      if (auto* i = std::get_if<int64_t>(&value)) json += std::to_string(*i);
      if (auto* d = std::get_if<double>(&value)) json += std::to_string(*d);
      if (auto* list = std::get_if<std::vector<int64_t>>(&value)) {
        json += "[";
        for (size_t k = 0; k < list->size(); ++k)
          json += (k ? "," : "") + std::to_string((*list)[k]);
        json += "]";
      }
    }
  };
  append_row(request.user);
  json += R"(}, "context": {)";
  append_row(request.context);
  json += R"(}, "candidates": [)";
  for (size_t c = 0; c < request.candidates.size(); ++c) {
    json += c ? ", {" : "{";
    append_row(request.candidates[c]);
    json += "}";
  }
  json += "]}";
  RequestJsonParser parser;
  Request parsed;
  for (auto _ : state) {
    absl::Status status = parser.Parse(json, &parsed);
    if (!status.ok()) {
      state.SkipWithError(std::string(status.message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(parsed.candidates.data());
  }
  state.SetItemsProcessed(state.iterations() * kCandidates);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(json.size()));
}

// The baseline must compute what the transformer computes, or the ratio means nothing.
bool SameOutputs(const std::string& model) {
  absl::StatusOr<FeatureTransformer> transformer = FeatureTransformer::Create(LoadConfig(model));
  const Request request = LoadRequest(model);
  TransformedRequest out;
  if (!transformer.ok() || !transformer->Transform(request, &out).ok()) return false;
  const NaiveOutput naive = NaiveTransformer(LoadConfig(model)).Transform(request);
  for (const FeatureColumn& column : out.columns) {
    if (column.dtype == DType::kInt64) {
      auto it = naive.ids.find(column.input);
      if (it == naive.ids.end() || it->second != column.ids) return false;
    } else if (column.width() == 1) {
      auto it = naive.values.find(column.input);
      if (it == naive.values.end() || it->second != column.values) return false;
    }
    // Shared [N, C] columns: the naive version appends per feature (not interleaved); skipped.
  }
  return true;
}

}  // namespace
}  // namespace rankopt

int main(int argc, char** argv) {
#if defined(RANKOPT_UNOPTIMIZED_BUILD) || !defined(NDEBUG)
  std::fprintf(stderr,
               "WARNING: built without optimization or with assertions on; the numbers below are "
               "not representative. Use -DCMAKE_BUILD_TYPE=Release.\n");
#endif
  for (const char* model : {"din", "esmm"}) {
    if (!rankopt::SameOutputs(model)) {
      std::fprintf(stderr,
                   "WARNING: the hand-written %s baseline disagrees with "
                   "FeatureTransformer\n",
                   model);
    }
    benchmark::RegisterBenchmark((std::string("Transform/") + model).c_str(), rankopt::BM_Transform,
                                 std::string(model));
    benchmark::RegisterBenchmark((std::string("HandWritten/") + model).c_str(), rankopt::BM_Naive,
                                 std::string(model));
    benchmark::RegisterBenchmark((std::string("ParseJson/") + model).c_str(), rankopt::BM_ParseJson,
                                 std::string(model));
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
