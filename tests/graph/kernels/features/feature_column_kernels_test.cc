// TF feature-column, string, table and tf.Example kernels run through the executor on tiny
// inline graphs (string tensors included), against values TensorFlow's own tests and docs
// record, or worked by hand.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "graph/exec/execution_plan.h"
#include "graph/ir/table_attrs.h"
#include "graph/kernels/features/tf_example.h"
#include "graph/tf/tensorflow_subset.pb.h"
#include "gtest/gtest.h"
#include "rankopt/status_macros.h"

namespace rankopt {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// A TF graph built node by node; Run feeds placeholders and returns the named outputs.
class G {
 public:
  G() : graph_(ModelFormat::kTfGraphDef) {}

  std::string Const(const std::string& name, Tensor value) {
    Node n;
    n.name = name;
    n.op = "Const";
    n.attrs.Set("dtype", value.dtype());
    n.attrs.Set("value", std::move(value));
    Add(std::move(n));
    return name;
  }
  std::string Strings(const std::string& name, std::vector<int64_t> dims,
                      std::vector<std::string> v) {
    return Const(name, *Tensor::FromStrings(std::move(dims), std::move(v)));
  }
  std::string I64(const std::string& name, std::vector<int64_t> dims, std::vector<int64_t> v) {
    return Const(name, *Tensor::FromValues<int64_t>(std::move(dims), v));
  }
  std::string F32(const std::string& name, std::vector<int64_t> dims, std::vector<float> v) {
    return Const(name, *Tensor::FromValues<float>(std::move(dims), v));
  }
  std::string Placeholder(const std::string& name, DType dtype) {
    Node n;
    n.name = name;
    n.op = "Placeholder";
    n.attrs.Set("dtype", dtype);
    Add(std::move(n));
    return name;
  }
  Node& Op(const std::string& name, const std::string& op, std::vector<std::string> inputs) {
    Node n;
    n.name = name;
    n.op = op;
    for (const std::string& in : inputs) {
      const size_t colon = in.find(':');
      n.inputs.push_back(colon == std::string::npos
                             ? TensorRef{in, 0}
                             : TensorRef{in.substr(0, colon), std::stoi(in.substr(colon + 1))});
    }
    pending_.push_back(std::move(n));
    return pending_.back();
  }

  absl::StatusOr<std::vector<Tensor>> Run(std::vector<std::string> outputs,
                                          std::vector<std::pair<std::string, Tensor>> feeds = {}) {
    for (Node& n : pending_) RANKOPT_RETURN_IF_ERROR(graph_.AddNode(std::move(n)));
    pending_.clear();
    PlanOptions options;
    options.outputs = std::move(outputs);
    RANKOPT_ASSIGN_OR_RETURN(std::unique_ptr<const ExecutionPlan> plan,
                             ExecutionPlan::Create(graph_, options));
    std::vector<NamedTensorView> views;
    std::vector<std::vector<absl::string_view>> strings;
    strings.reserve(feeds.size());
    for (auto& [name, t] : feeds) {
      TensorView v;
      v.dtype = t.dtype();
      v.dims.assign(t.dims().begin(), t.dims().end());
      if (t.dtype() == DType::kString) {
        auto& s = strings.emplace_back();
        for (const std::string& x : t.strings()) s.emplace_back(x);
        v.data = s.data();
      } else {
        v.data = const_cast<char*>(t.bytes().data());
      }
      views.push_back({name, v});
    }
    std::vector<Tensor> out;
    RANKOPT_RETURN_IF_ERROR(plan->Run(views, &out));
    return out;
  }

 private:
  void Add(Node n) { pending_.push_back(std::move(n)); }
  Graph graph_;
  std::deque<Node> pending_;
};

template <typename T>
std::vector<T> Values(const Tensor& t) {
  auto v = t.values<T>();
  return std::vector<T>(v.begin(), v.end());
}
std::vector<std::string> Strs(const Tensor& t) {
  return std::vector<std::string>(t.strings().begin(), t.strings().end());
}

TEST(FeatureColumnKernelsTest, StringTensorsFlowThroughReshapeGatherAndIdentity) {
  G g;
  g.Placeholder("x", DType::kString);
  g.I64("shape", {2}, {2, 2});
  g.Op("r", "Reshape", {"x", "shape"});
  g.I64("idx", {2}, {1, 0});
  Node& gather = g.Op("gv", "GatherV2", {"r", "idx", g.I64("axis", {}, {0})});
  gather.attrs.Set("batch_dims", int64_t{0});
  g.Op("id", "Identity", {"gv"});
  auto out = g.Run({"id"}, {{"x", *Tensor::FromStrings({4}, {"a", "bb", "", "dddd"})}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].dims(), (std::vector<int64_t>{2, 2}));
  EXPECT_THAT(Strs((*out)[0]), ElementsAre("", "dddd", "a", "bb"));
}

TEST(FeatureColumnKernelsTest, StringToHashBucketFastMatchesTensorFlow) {
  // tf.strings.to_hash_bucket_fast(["Hello", "TensorFlow", "2.x"], 3) == [0, 2, 2] (TF docs).
  G g;
  g.Strings("s", {3}, {"Hello", "TensorFlow", "2.x"});
  g.Op("h", "StringToHashBucketFast", {"s"}).attrs.Set("num_buckets", int64_t{3});
  auto out = g.Run({"h"});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(Values<int64_t>((*out)[0]), ElementsAre(0, 2, 2));
}

TEST(FeatureColumnKernelsTest, AsStringStringJoinSubstrEqual) {
  G g;
  g.I64("i", {3}, {7, -12, 0});
  g.Op("a", "AsString", {"i"});
  g.F32("f", {1}, {1.5f});
  g.Op("af", "AsString", {"f"});
  g.Strings("sep", {}, {"x"});
  g.Op("j", "StringJoin", {"a", "sep"}).attrs.Set("separator", std::string("-"));
  g.Op("sub", "Substr", {"j", g.I64("pos", {}, {-3}), g.I64("len", {}, {2})});
  Node& eq = g.Op("eq", "Equal", {"a", g.Strings("seven", {}, {"7"})});
  eq.attrs.Set("T", DType::kString);
  auto out = g.Run({"a", "af", "j", "sub", "eq"});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(Strs((*out)[0]), ElementsAre("7", "-12", "0"));
  EXPECT_THAT(Strs((*out)[1]), ElementsAre("1.500000"));  // TF's "%f" default
  EXPECT_THAT(Strs((*out)[2]), ElementsAre("7-x", "-12-x", "0-x"));
  EXPECT_THAT(Strs((*out)[3]), ElementsAre("7-", "2-", "0-"));
  EXPECT_THAT(Values<bool>((*out)[4]), ElementsAre(true, false, false));
}

TEST(FeatureColumnKernelsTest, SubstrOutOfRangeNamesTheElement) {
  G g;
  g.Strings("s", {2}, {"abc", "z"});
  g.Op("sub", "Substr", {"s", g.I64("pos", {}, {2}), g.I64("len", {}, {1})});
  auto out = g.Run({"sub"});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("index 1"));
}

TEST(FeatureColumnKernelsTest, BucketizeAndBoostedTreesBucketize) {
  G g;
  // TF docs: Bucketize([[-5, 10000], [150, 10], [5, 100]], [0, 10, 100]) = [[0, 3], [3, 2], [1,
  // 3]].
  g.Const("x",
          *Tensor::FromValues<int32_t>({3, 2}, std::vector<int32_t>{-5, 10000, 150, 10, 5, 100}));
  g.Op("b", "Bucketize", {"x"}).attrs.Set("boundaries", std::vector<float>{0, 10, 100});
  g.F32("v", {5}, {-1, 0, 0.5f, 2, 9});
  g.F32("bounds", {3}, {0, 1, 2});
  g.Op("bt", "BoostedTreesBucketize", {"v", "bounds"}).attrs.Set("num_features", int64_t{1});
  auto out = g.Run({"b", "bt"});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(Values<int32_t>((*out)[0]), ElementsAre(0, 3, 3, 2, 1, 3));
  // lower_bound, clamped to the last boundary: -1->0, 0->0, 0.5->1, 2->2, 9->2.
  EXPECT_THAT(Values<int32_t>((*out)[1]), ElementsAre(0, 0, 1, 2, 2));
}

TEST(FeatureColumnKernelsTest, SparseToDenseWithStringsAndBadIndex) {
  G g;
  g.I64("idx", {2, 2}, {0, 1, 1, 0});
  g.I64("shape", {2}, {2, 2});
  g.Strings("vals", {2}, {"a", "b"});
  g.Strings("dflt", {}, {"?"});
  g.Op("d", "SparseToDense", {"idx", "shape", "vals", "dflt"});
  auto out = g.Run({"d"});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(Strs((*out)[0]), ElementsAre("?", "a", "b", "?"));

  G bad;
  bad.I64("idx", {1, 2}, {0, 5});
  bad.I64("shape", {2}, {2, 2});
  bad.I64("vals", {1}, {1});
  bad.I64("dflt", {}, {0});
  bad.Op("d", "SparseToDense", {"idx", "shape", "vals", "dflt"});
  auto err = bad.Run({"d"});
  ASSERT_FALSE(err.ok());
  EXPECT_THAT(err.status().message(), HasSubstr("out of range"));
}

// SparseCross over three one-value string columns, as in TF's sparse_cross_op_test.py.
void AddCrossInputs(G* g) {
  g->I64("i0", {1, 2}, {0, 0});
  g->I64("i1", {1, 2}, {0, 0});
  g->I64("i2", {1, 2}, {0, 0});
  g->Strings("v0", {1}, {"batch1-FC1-F1"});
  g->Strings("v1", {1}, {"batch1-FC2-F1"});
  g->Strings("v2", {1}, {"batch1-FC3-F1"});
  g->I64("s0", {2}, {1, 1});
  g->I64("s1", {2}, {1, 1});
  g->I64("s2", {2}, {1, 1});
}

Node& Cross(G* g, const std::string& name, bool hashed, int64_t buckets, int64_t key) {
  Node& n = g->Op(name, "SparseCross", {"i0", "i1", "i2", "v0", "v1", "v2", "s0", "s1", "s2"});
  n.attrs.Set("N", int64_t{3});
  n.attrs.Set("hashed_output", hashed);
  n.attrs.Set("num_buckets", buckets);
  n.attrs.Set("hash_key", key);
  n.attrs.Set("dense_types", std::vector<DType>{});
  return n;
}

TEST(FeatureColumnKernelsTest, SparseCrossHashedMatchesTensorFlowsRecordedValues) {
  constexpr int64_t kKey = 0xDECAFCAFFE;  // sparse_ops._DEFAULT_HASH_KEY
  G g;
  AddCrossInputs(&g);
  Cross(&g, "h0", true, 0, kKey);
  Cross(&g, "h1", true, 0, kKey + 1);
  Cross(&g, "h100", true, 100, kKey);
  Cross(&g, "h100k", true, 100, kKey + 1);
  Cross(&g, "s", false, 0, 0);
  auto out = g.Run({"h0:1", "h1:1", "h100:1", "h100k:1", "s:1", "s", "s:2"});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(Values<int64_t>((*out)[0]), ElementsAre(1971693436396284976));
  EXPECT_THAT(Values<int64_t>((*out)[1]), ElementsAre(4847552627144134031));
  EXPECT_THAT(Values<int64_t>((*out)[2]), ElementsAre(83));
  EXPECT_THAT(Values<int64_t>((*out)[3]), ElementsAre(31));
  EXPECT_THAT(Strs((*out)[4]), ElementsAre("batch1-FC1-F1_X_batch1-FC2-F1_X_batch1-FC3-F1"));
  EXPECT_THAT(Values<int64_t>((*out)[5]), ElementsAre(0, 0));
  EXPECT_THAT(Values<int64_t>((*out)[6]), ElementsAre(1, 1));
}

TEST(FeatureColumnKernelsTest, SparseCrossOrdersLastInputFastestWithDenseAndInts) {
  // TF's test_integer_mixed_string_dense: [[11, 333], [55555, 999999]] x strings.
  G g;
  g.I64("d0", {2, 2}, {11, 333, 55555, 999999});
  g.Strings("d1", {2, 2}, {"batch1-FC2-F1", "batch1-FC2-F2", "batch2-FC2-F1", "batch2-FC2-F2"});
  Node& n = g.Op("c", "SparseCross", {"d0", "d1"});
  n.attrs.Set("N", int64_t{0});
  n.attrs.Set("hashed_output", false);
  n.attrs.Set("num_buckets", int64_t{0});
  n.attrs.Set("hash_key", int64_t{0});
  n.attrs.Set("dense_types", std::vector<DType>{DType::kInt64, DType::kString});
  auto out = g.Run({"c:1", "c:2"});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(Strs((*out)[0]),
              ElementsAre("11_X_batch1-FC2-F1", "11_X_batch1-FC2-F2", "333_X_batch1-FC2-F1",
                          "333_X_batch1-FC2-F2", "55555_X_batch2-FC2-F1", "55555_X_batch2-FC2-F2",
                          "999999_X_batch2-FC2-F1", "999999_X_batch2-FC2-F2"));
  EXPECT_THAT(Values<int64_t>((*out)[1]), ElementsAre(2, 4));
}

TEST(FeatureColumnKernelsTest, HashTableLookupAndSize) {
  G g;
  Node table;
  table.name = "table";
  table.op = "HashTableV2";
  table.attrs.Set("key_dtype", DType::kString);
  table.attrs.Set("value_dtype", DType::kInt64);
  table.attrs.Set(kTableKeysAttr, *Tensor::FromStrings({3}, {"cash", "card", "other"}));
  table.attrs.Set(kTableValuesAttr,
                  *Tensor::FromValues<int64_t>({3}, std::vector<int64_t>{0, 1, 2}));
  g.Op("table", "HashTableV2", {}) = table;
  g.Placeholder("keys", DType::kString);
  g.Op("find", "LookupTableFindV2", {"table", "keys", g.I64("dflt", {}, {-1})})
      .attrs.Set("Tout", DType::kInt64);
  g.Op("size", "LookupTableSizeV2", {"table"});
  auto out = g.Run({"find", "size"},
                   {{"keys", *Tensor::FromStrings({2, 2}, {"card", "", "cash", "Card"})}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(Values<int64_t>((*out)[0]), ElementsAre(1, -1, 0, -1));
  EXPECT_EQ((*out)[0].dims(), (std::vector<int64_t>{2, 2}));
  EXPECT_THAT(Values<int64_t>((*out)[1]), ElementsAre(3));
}

TEST(FeatureColumnKernelsTest, HashTableWithoutContentsFailsAtPlanTime) {
  G g;
  Node& t = g.Op("table", "HashTableV2", {});
  t.attrs.Set("key_dtype", DType::kString);
  t.attrs.Set("value_dtype", DType::kInt64);
  g.Op("size", "LookupTableSizeV2", {"table"});
  auto out = g.Run({"size"});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("no contents"));
}

std::string MakeExample(const std::vector<std::pair<std::string, tf::Feature>>& features) {
  tf::Example e;
  for (const auto& [k, f] : features) {
    tf::FeatureEntry* entry = e.mutable_features()->add_feature();
    entry->set_key(k);
    *entry->mutable_value() = f;
  }
  return e.SerializeAsString();
}
tf::Feature FloatF(std::vector<float> v) {
  tf::Feature f;
  for (float x : v) f.mutable_float_list()->add_value(x);
  return f;
}
tf::Feature IntF(std::vector<int64_t> v) {
  tf::Feature f;
  for (int64_t x : v) f.mutable_int64_list()->add_value(x);
  return f;
}
tf::Feature BytesF(std::vector<std::string> v) {
  tf::Feature f;
  for (const std::string& x : v) f.mutable_bytes_list()->add_value(x);
  return f;
}

// ParseExample(serialized, names, sparse_keys..., dense_keys..., dense_defaults...): one sparse
// string feature "tags", dense "fare" (float, default 0.5) and "hour" (int64, required).
void AddParseExample(G* g, const std::string& name) {
  g->Placeholder("serialized", DType::kString);
  g->Strings("names", {0}, {});
  g->Strings("k_tags", {}, {"tags"});
  g->Strings("k_fare", {}, {"fare"});
  g->Strings("k_hour", {}, {"hour"});
  g->F32("d_fare", {1}, {0.5f});
  g->I64("d_hour", {0}, {});
  Node& n = g->Op(name, "ParseExample",
                  {"serialized", "names", "k_tags", "k_fare", "k_hour", "d_fare", "d_hour"});
  n.attrs.Set("Nsparse", int64_t{1});
  n.attrs.Set("Ndense", int64_t{2});
  n.attrs.Set("sparse_types", std::vector<DType>{DType::kString});
  n.attrs.Set("Tdense", std::vector<DType>{DType::kFloat32, DType::kInt64});
  n.attrs.Set("dense_shapes", std::vector<Shape>{Shape({1}), Shape({1})});
}

TEST(FeatureColumnKernelsTest, ParseExampleDenseSparseAndDefaults) {
  const std::string e0 = MakeExample({{"fare", FloatF({7.25f})},
                                      {"hour", IntF({13})},
                                      {"tags", BytesF({"a", "b"})},
                                      {"unused", IntF({1, 2, 3})}});
  const std::string e1 = MakeExample({{"hour", IntF({-2})}});
  G g;
  AddParseExample(&g, "p");
  auto out = g.Run({"p", "p:1", "p:2", "p:3", "p:4"},
                   {{"serialized", *Tensor::FromStrings({2}, {e0, e1})}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(Values<int64_t>((*out)[0]), ElementsAre(0, 0, 0, 1));
  EXPECT_THAT(Strs((*out)[1]), ElementsAre("a", "b"));
  EXPECT_THAT(Values<int64_t>((*out)[2]), ElementsAre(2, 2));
  EXPECT_THAT(Values<float>((*out)[3]), ElementsAre(7.25f, 0.5f));
  EXPECT_EQ((*out)[3].dims(), (std::vector<int64_t>{2, 1}));
  EXPECT_THAT(Values<int64_t>((*out)[4]), ElementsAre(13, -2));
}

TEST(FeatureColumnKernelsTest, ParseExampleErrorsNameTheFeature) {
  struct Case {
    std::string example;
    std::string message;
  };
  const std::vector<Case> cases = {
      {MakeExample({{"fare", FloatF({1})}}), "feature 'hour' (data type: int64) is required"},
      {MakeExample({{"hour", FloatF({1})}}), "feature 'hour' has the wrong type"},
      {MakeExample({{"hour", IntF({1, 2})}}), "feature 'hour' has 2 values; expected 1"},
      {MakeExample({{"hour", IntF({1})}, {"tags", IntF({1})}}),
       "feature 'tags' has the wrong type"},
      {std::string("\x0a\x05\x0a\x03\x0a\x01", 6), "malformed tf.Example"},
      {std::string("\xff\xff\xff", 3), "malformed tf.Example"},
  };
  for (const Case& c : cases) {
    G g;
    AddParseExample(&g, "p");
    auto out = g.Run({"p:3"}, {{"serialized", *Tensor::FromStrings({1}, {c.example})}});
    ASSERT_FALSE(out.ok()) << c.message;
    EXPECT_THAT(out.status().message(), HasSubstr(c.message));
    EXPECT_THAT(out.status().message(), HasSubstr("example 0"));
  }
}

TEST(FeatureColumnKernelsTest, ParseSingleExampleAndV2) {
  const std::string e = MakeExample({{"x", FloatF({1, 2})}, {"s", BytesF({"q"})}});
  G g;
  g.Placeholder("one", DType::kString);
  g.F32("dx", {0}, {});
  Node& single = g.Op("ps", "ParseSingleExample", {"one", "dx"});
  single.attrs.Set("num_sparse", int64_t{1});
  single.attrs.Set("sparse_keys", std::vector<std::string>{"s"});
  single.attrs.Set("dense_keys", std::vector<std::string>{"x"});
  single.attrs.Set("sparse_types", std::vector<DType>{DType::kString});
  single.attrs.Set("Tdense", std::vector<DType>{DType::kFloat32});
  single.attrs.Set("dense_shapes", std::vector<Shape>{Shape({2})});
  g.Placeholder("batch", DType::kString);
  g.Strings("names", {0}, {});
  g.Strings("sk", {1}, {"s"});
  g.Strings("dk", {1}, {"x"});
  g.Strings("rk", {0}, {});
  Node& v2 = g.Op("p2", "ParseExampleV2", {"batch", "names", "sk", "dk", "rk", "dx"});
  v2.attrs.Set("num_sparse", int64_t{1});
  v2.attrs.Set("sparse_types", std::vector<DType>{DType::kString});
  v2.attrs.Set("Tdense", std::vector<DType>{DType::kFloat32});
  v2.attrs.Set("dense_shapes", std::vector<Shape>{Shape({2})});
  auto out =
      g.Run({"ps", "ps:1", "ps:2", "ps:3", "p2:3", "p2"},
            {{"one", *Tensor::FromStrings({}, {e})}, {"batch", *Tensor::FromStrings({2}, {e, e})}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(Values<int64_t>((*out)[0]), ElementsAre(0));
  EXPECT_THAT(Strs((*out)[1]), ElementsAre("q"));
  EXPECT_THAT(Values<int64_t>((*out)[2]), ElementsAre(1));
  EXPECT_THAT(Values<float>((*out)[3]), ElementsAre(1, 2));
  EXPECT_THAT(Values<float>((*out)[4]), ElementsAre(1, 2, 1, 2));
  EXPECT_THAT(Values<int64_t>((*out)[5]), ElementsAre(0, 0, 1, 0));
}

TEST(TfExampleTest, ReaderAgreesWithProtobufAndRejectsTruncation) {
  const std::string e =
      MakeExample({{"f", FloatF({1.5f, -2})}, {"i", IntF({-1, 300})}, {"b", BytesF({"", "xyz"})}});
  std::vector<std::string> keys;
  ExampleFeature f;
  ASSERT_TRUE(ForEachExampleFeature(e, [&](absl::string_view k, absl::string_view v) {
                keys.emplace_back(k);
                absl::Status s = DecodeExampleFeature(v, &f);
                if (!s.ok()) return s;
                if (k == "f") {
                  EXPECT_THAT(f.floats, ElementsAre(1.5f, -2.0f));
                } else if (k == "i") {
                  EXPECT_THAT(f.ints, ElementsAre(-1, 300));
                } else if (k == "b") {
                  EXPECT_THAT(f.bytes, ElementsAre("", "xyz"));
                }
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(keys.size(), 3u);
  // Every strict prefix of the example either parses (a prefix can end on a field boundary) or
  // fails cleanly; none crashes.
  for (size_t n = 0; n < e.size(); ++n) {
    (void)ForEachExampleFeature(e.substr(0, n), [&](absl::string_view, absl::string_view v) {
      return DecodeExampleFeature(v, &f);
    });
  }
}

}  // namespace
}  // namespace rankopt
