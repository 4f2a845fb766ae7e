// TF Serving's REST API on `rankopt serve` (serving/http/tf_serving_api.h): the DIN and ESMM peer
// packages served in process on a free port of 127.0.0.1, driven with httplib's client (30 s
// timeouts). Request bodies follow the shapes of tensorflow/serving's
// tensorflow_serving/g3doc/api_rest.md (each test names its section); the scores must equal the
// graph's own (ReferenceScores: the feature config, the feeds and one unchunked plan run, no
// serving layer) for the same features. tf.Examples are encoded here by a writer of the proto wire
// format independent of the server's reader. Errors must come back as TF Serving's
// {"error": "..."} with its HTTP codes. The lifted Chicago-taxi serving export
// (tests/data/tf_feature_columns/taxi/serving) scores its 656 raw eval tf.Examples sent as
// {"b64": ...} instances as Model::Score does on the same examples.
#include "serving/http/tf_serving_api.h"

#include <httplib.h>
#include <simdjson.h>
#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "features/request/tf_example.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rankopt/model.h"
#include "rankopt/request_json.h"
#include "serving/http/http_server.h"
#include "serving/optimize.h"
#include "tests/serving/din_package.h"
#include "tests/tf_records.h"

namespace rankopt {
namespace {

namespace fs = std::filesystem;
namespace dom = simdjson::dom;
using ::testing::HasSubstr;

// ---- JSON of feature values, as a TF Serving client writes them ----

std::string DoubleText(double v) {
  char buf[64];
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), v);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string ValueJson(const FeatureValue& v) {
  struct Visitor {
    std::string operator()(std::monostate) const { return "null"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return DoubleText(d); }
    std::string operator()(const std::string& s) const {
      std::string out;
      AppendJsonString(s, &out);
      return out;
    }
    std::string operator()(const std::vector<int64_t>& l) const {
      return absl::StrCat("[", absl::StrJoin(l, ", "), "]");
    }
    std::string operator()(const std::vector<double>& l) const {
      std::vector<std::string> parts;
      for (double d : l) parts.push_back(DoubleText(d));
      return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
    }
    std::string operator()(const std::vector<std::string>& l) const {
      std::vector<std::string> parts;
      for (const std::string& s : l) parts.push_back((*this)(s));
      return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
    }
  };
  return std::visit(Visitor{}, v);
}

// "name": value, ... of `rows` in order.
std::string Members(std::initializer_list<const FeatureRow*> rows) {
  std::vector<std::string> parts;
  for (const FeatureRow* row : rows) {
    for (const auto& [name, value] : row->entries()) {
      parts.push_back(absl::StrCat("\"", name, "\": ", ValueJson(value)));
    }
  }
  return absl::StrJoin(parts, ", ");
}

// ---- a tf.Example writer (proto wire format), independent of features/request/tf_example.cc ----

void Varint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void LengthDelimited(int field, const std::string& bytes, std::string* out) {
  Varint(static_cast<uint64_t>(field) << 3 | 2, out);
  Varint(bytes.size(), out);
  out->append(bytes);
}

// Feature { bytes_list = 1 | float_list = 2 | int64_list = 3 } with packed values.
std::string FeatureBytes(const FeatureValue& v) {
  std::string list, feature;
  if (const auto* i = std::get_if<int64_t>(&v)) {
    std::string packed;
    Varint(static_cast<uint64_t>(*i), &packed);
    LengthDelimited(1, packed, &list);
    LengthDelimited(3, list, &feature);
  } else if (const auto* l = std::get_if<std::vector<int64_t>>(&v)) {
    std::string packed;
    for (int64_t x : *l) Varint(static_cast<uint64_t>(x), &packed);
    LengthDelimited(1, packed, &list);
    LengthDelimited(3, list, &feature);
  } else if (const auto* d = std::get_if<double>(&v)) {
    const float f = static_cast<float>(*d);
    std::string packed(4, '\0');
    std::memcpy(packed.data(), &f, 4);
    LengthDelimited(1, packed, &list);
    LengthDelimited(2, list, &feature);
  } else if (const auto* s = std::get_if<std::string>(&v)) {
    LengthDelimited(1, *s, &list);
    LengthDelimited(1, list, &feature);
  } else {
    ADD_FAILURE() << "no tf.Example form for " << FeatureValueTypeName(v);
  }
  return feature;
}

std::string SerializeExample(std::initializer_list<const FeatureRow*> rows) {
  std::string features;
  for (const FeatureRow* row : rows) {
    for (const auto& [name, value] : row->entries()) {
      std::string entry;
      LengthDelimited(1, name, &entry);
      LengthDelimited(2, FeatureBytes(value), &entry);
      LengthDelimited(1, entry, &features);
    }
  }
  std::string example;
  LengthDelimited(1, features, &example);
  return example;
}

std::string B64(const std::string& bytes) {
  return absl::StrCat("{\"b64\": \"", absl::Base64Escape(bytes), "\"}");
}

// tf.Example floats are float32: the same rows with their doubles rounded to float, for the
// reference scores of requests sent as tf.Examples.
FeatureRow FloatRounded(const FeatureRow& row) {
  FeatureRow out;
  for (const auto& [name, value] : row.entries()) {
    if (const auto* d = std::get_if<double>(&value)) {
      out.Append(name, static_cast<double>(static_cast<float>(*d)));
    } else {
      out.Append(name, value);
    }
  }
  return out;
}

// ---- the served packages ----

struct Served {
  ModelPackage package;
  std::string path;
  Request request;  // a request of the fixture (features as the native JSON has them)
  std::vector<std::vector<float>> reference;
};

class TfServingApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(FreshTempDir("tf_serving_api_test"));
    din_ = new Served;
    esmm_ = new Served;
    Build("din", din_);
    Build("esmm", esmm_);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete din_;
    delete esmm_;
    delete dir_;
  }

  static void Build(const std::string& name, Served* served) {
    absl::StatusOr<ModelPackage> package = name == "din"
                                               ? BuildDinPackage(TableQuantizationMode::kOff, "7")
                                               : BuildEsmmPackage(TableQuantizationMode::kOff, "7");
    ASSERT_TRUE(package.ok()) << package.status();
    served->package = *std::move(package);
    served->path = (fs::path(*dir_) / (name + ".rkp")).string();
    ASSERT_TRUE(WriteModelPackage(served->package, served->path).ok());
    absl::StatusOr<std::vector<Request>> requests = name == "din" ? DinRequests() : EsmmRequests();
    ASSERT_TRUE(requests.ok()) << requests.status();
    served->request = requests->front();
    served->request.candidates.resize(std::min<size_t>(served->request.candidates.size(), 9));
    absl::StatusOr<std::vector<std::vector<float>>> reference =
        ReferenceScores(served->package, served->request);
    ASSERT_TRUE(reference.ok()) << reference.status();
    served->reference = *std::move(reference);
  }

  void Serve(const Served& served) {
    ServeOptions options;
    options.path = served.path;
    options.port = 0;
    options.poll_s = 0;
    absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    server_->Start();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_connection_timeout(30);
    client_->set_read_timeout(30);
    client_->set_write_timeout(30);
  }

  void TearDown() override {
    if (client_ != nullptr) client_->stop();
    if (server_ != nullptr) server_->Stop();
  }

  // POSTs `body`; the answer's status and body.
  std::pair<int, std::string> Post(const std::string& path, const std::string& body) {
    httplib::Result r = client_->Post(path, body, "application/json");
    if (!r) {
      ADD_FAILURE() << httplib::to_string(r.error());
      return {0, ""};
    }
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    return {r->status, r->body};
  }
  std::pair<int, std::string> Get(const std::string& path) {
    httplib::Result r = client_->Get(path);
    if (!r) {
      ADD_FAILURE() << httplib::to_string(r.error());
      return {0, ""};
    }
    return {r->status, r->body};
  }

  // The instances of `request` in row format: user, context and candidate features flat.
  static std::string Instances(const Request& request) {
    std::vector<std::string> rows;
    for (const FeatureRow& c : request.candidates) {
      rows.push_back(absl::StrCat("{", Members({&request.user, &request.context, &c}), "}"));
    }
    return absl::StrCat("[", absl::StrJoin(rows, ", "), "]");
  }

  static std::string* dir_;
  static Served* din_;
  static Served* esmm_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

std::string* TfServingApiTest::dir_ = nullptr;
Served* TfServingApiTest::din_ = nullptr;
Served* TfServingApiTest::esmm_ = nullptr;

// Parses `body` (kept alive by the caller) into `out`.
void ParseJson(dom::parser& parser, const std::string& body, dom::element* out) {
  ASSERT_EQ(parser.parse(body).get(*out), simdjson::SUCCESS) << body;
}

// Expects `numbers` (a JSON list) to equal `want` within 1e-6.
void ExpectScores(dom::element numbers, const std::vector<float>& want, const std::string& what) {
  dom::array a;
  ASSERT_EQ(numbers.get_array().get(a), simdjson::SUCCESS) << what;
  ASSERT_EQ(a.size(), want.size()) << what;
  size_t i = 0;
  for (dom::element e : a) {
    double v = 0;
    ASSERT_EQ(e.get_double().get(v), simdjson::SUCCESS) << what;
    EXPECT_NEAR(v, want[i], 1e-6) << what << " [" << i << "]";
    ++i;
  }
}

// TF Serving's error body: one member, "error", a string containing `contains`.
void ExpectTfError(const std::pair<int, std::string>& got, int status,
                   const std::string& contains) {
  EXPECT_EQ(got.first, status) << got.second;
  dom::parser parser;
  dom::element root;
  ParseJson(parser, got.second, &root);
  dom::object object;
  ASSERT_EQ(root.get_object().get(object), simdjson::SUCCESS) << got.second;
  EXPECT_EQ(object.size(), 1u) << got.second;
  std::string_view message;
  ASSERT_EQ(object["error"].get_string().get(message), simdjson::SUCCESS) << got.second;
  EXPECT_THAT(std::string(message), HasSubstr(contains));
}

// api_rest.md "Specifying input tensors in row format" (several named inputs: a list of objects)
// and "Response format" (several output tensors: a list of objects).
TEST_F(TfServingApiTest, RowFormatWithSeveralHeadsAnswersAnObjectPerInstance) {
  Serve(*esmm_);
  const Served& m = *esmm_;
  const std::string body = absl::StrCat("{\n \"instances\": ", Instances(m.request), "\n}");
  const auto [status, answer] = Post("/v1/models/esmm:predict", body);
  ASSERT_EQ(status, 200) << answer;
  dom::parser parser;
  dom::element root;
  ParseJson(parser, answer, &root);
  dom::array predictions;
  ASSERT_EQ(root["predictions"].get_array().get(predictions), simdjson::SUCCESS) << answer;
  ASSERT_EQ(predictions.size(), m.request.candidates.size());
  ASSERT_GE(m.package.outputs.size(), 2u);
  size_t i = 0;
  for (dom::element p : predictions) {
    for (size_t h = 0; h < m.package.outputs.size(); ++h) {
      double v = 0;
      ASSERT_EQ(p[m.package.outputs[h]].get_double().get(v), simdjson::SUCCESS) << answer;
      EXPECT_NEAR(v, m.reference[h][i], 1e-6) << m.package.outputs[h] << " " << i;
    }
    ++i;
  }
  // The same through the version path, and one head by its signature name: a plain list.
  const std::string head = m.package.outputs[1];
  const auto [status2, answer2] =
      Post("/v1/models/esmm/versions/7:predict",
           absl::StrCat("{\"signature_name\": \"", head,
                        "\", \"instances\": ", Instances(m.request), "}"));
  ASSERT_EQ(status2, 200) << answer2;
  ParseJson(parser, answer2, &root);
  ExpectScores(root["predictions"], m.reference[1], "predictions of " + head);
}

// api_rest.md "Specifying input tensors in column format": each named input a column. A user
// feature may be one value (a scalar) or a column of equal entries.
TEST_F(TfServingApiTest, ColumnarFormatAnswersOutputsByHead) {
  Serve(*esmm_);
  const Served& m = *esmm_;
  std::vector<std::string> columns;
  for (const auto& [name, value] : m.request.user.entries()) {
    if (name == "user_id") {
      std::vector<std::string> same(m.request.candidates.size(), ValueJson(value));
      columns.push_back(absl::StrCat("\"", name, "\": [", absl::StrJoin(same, ", "), "]"));
    } else {
      columns.push_back(absl::StrCat("\"", name, "\": ", ValueJson(value)));
    }
  }
  for (const auto& [name, value] : m.request.context.entries()) {
    columns.push_back(absl::StrCat("\"", name, "\": [", ValueJson(value), "]"));
  }
  for (const auto& [name, unused] : m.request.candidates[0].entries()) {
    std::vector<std::string> column;
    for (const FeatureRow& c : m.request.candidates) column.push_back(ValueJson(*c.Find(name)));
    columns.push_back(absl::StrCat("\"", name, "\": [", absl::StrJoin(column, ", "), "]"));
  }
  const std::string body =
      absl::StrCat("{\n \"inputs\": {\n   ", absl::StrJoin(columns, ",\n   "), "\n }\n}");
  const auto [status, answer] = Post("/v1/models/esmm:predict", body);
  ASSERT_EQ(status, 200) << answer;
  dom::parser parser;
  dom::element root;
  ParseJson(parser, answer, &root);
  for (size_t h = 0; h < m.package.outputs.size(); ++h) {
    ExpectScores(root["outputs"][m.package.outputs[h]], m.reference[h], m.package.outputs[h]);
  }
}

// One output head (DIN): "predictions" / "outputs" map to a plain list. The behaviour sequence
// is a list per instance (row) and a column with one entry (columnar).
TEST_F(TfServingApiTest, OneHeadAnswersAPlainListInBothFormats) {
  Serve(*din_);
  const Served& m = *din_;
  ASSERT_EQ(m.package.outputs.size(), 1u);
  auto [status, answer] =
      Post("/v1/models/din:predict", absl::StrCat("{\"instances\": ", Instances(m.request), "}"));
  ASSERT_EQ(status, 200) << answer;
  dom::parser parser;
  dom::element root;
  ParseJson(parser, answer, &root);
  ExpectScores(root["predictions"], m.reference[0], "row");

  std::vector<std::string> columns;
  for (const auto& [name, value] : m.request.user.entries()) {
    columns.push_back(absl::StrCat("\"", name, "\": [", ValueJson(value), "]"));
  }
  for (const auto& [name, unused] : m.request.candidates[0].entries()) {
    std::vector<std::string> column;
    for (const FeatureRow& c : m.request.candidates) column.push_back(ValueJson(*c.Find(name)));
    columns.push_back(absl::StrCat("\"", name, "\": [", absl::StrJoin(column, ", "), "]"));
  }
  std::tie(status, answer) =
      Post("/v1/models/din:predict",
           absl::StrCat("{\"signature_name\": \"serving_default\", \"inputs\": {",
                        absl::StrJoin(columns, ", "), "}}"));
  ASSERT_EQ(status, 200) << answer;
  ParseJson(parser, answer, &root);
  ExpectScores(root["outputs"], m.reference[0], "columnar");
}

// api_rest.md "Encoding binary values": serialized tf.Examples as {"b64": ...}, as whole
// instances, as a named serialized-example input, and as an unnamed "inputs" column.
TEST_F(TfServingApiTest, SerializedTfExamplesAsB64) {
  Serve(*din_);
  const Served& m = *din_;
  Request rounded;
  rounded.user = FloatRounded(m.request.user);
  std::vector<std::string> whole, named;
  for (const FeatureRow& c : m.request.candidates) {
    rounded.candidates.push_back(FloatRounded(c));
    const std::string b64 = B64(SerializeExample({&m.request.user, &c}));
    whole.push_back(b64);
    named.push_back(absl::StrCat("{\"examples\": ", b64, "}"));
  }
  absl::StatusOr<std::vector<std::vector<float>>> want = ReferenceScores(m.package, rounded);
  ASSERT_TRUE(want.ok()) << want.status();
  dom::parser parser;
  dom::element root;
  for (const std::string& body :
       {absl::StrCat("{\"instances\": [", absl::StrJoin(whole, ", "), "]}"),
        absl::StrCat("{\"instances\": [", absl::StrJoin(named, ", "), "]}")}) {
    const auto [status, answer] = Post("/v1/models/din:predict", body);
    ASSERT_EQ(status, 200) << answer;
    ParseJson(parser, answer, &root);
    ExpectScores(root["predictions"], (*want)[0], "b64 instances");
  }
  const auto [status, answer] =
      Post("/v1/models/din:predict", absl::StrCat("{\"signature_name\": \"predict\", \"inputs\": [",
                                                  absl::StrJoin(whole, ", "), "]}"));
  ASSERT_EQ(status, 200) << answer;
  ParseJson(parser, answer, &root);
  ExpectScores(root["outputs"], (*want)[0], "b64 inputs");
}

// api_rest.md "Classify and Regress API": "context" holds the common (user) features, each
// example a candidate's; answers are {"results": ...}.
TEST_F(TfServingApiTest, ClassifyAndRegressTakeContextAndExamples) {
  Serve(*din_);
  const Served& m = *din_;
  std::vector<std::string> examples;
  for (const FeatureRow& c : m.request.candidates) {
    examples.push_back(absl::StrCat("{", Members({&c}), "}"));
  }
  const std::string body =
      absl::StrCat("{\n  \"context\": {", Members({&m.request.user}), "},\n  \"examples\": [",
                   absl::StrJoin(examples, ",\n    "), "]\n}");
  auto [status, answer] = Post("/v1/models/din:regress", body);
  ASSERT_EQ(status, 200) << answer;
  dom::parser parser;
  dom::element root;
  ParseJson(parser, answer, &root);
  ExpectScores(root["results"], m.reference[0], "regress");

  std::tie(status, answer) = Post("/v1/models/din/versions/7:classify", body);
  ASSERT_EQ(status, 200) << answer;
  ParseJson(parser, answer, &root);
  dom::array results;
  ASSERT_EQ(root["results"].get_array().get(results), simdjson::SUCCESS) << answer;
  ASSERT_EQ(results.size(), m.request.candidates.size());
  size_t i = 0;
  for (dom::element pairs : results) {
    std::string_view label;
    double score = 0;
    ASSERT_EQ(pairs.at(0).at(0).get_string().get(label), simdjson::SUCCESS) << answer;
    ASSERT_EQ(pairs.at(0).at(1).get_double().get(score), simdjson::SUCCESS) << answer;
    EXPECT_EQ(label, m.package.outputs[0]);
    EXPECT_NEAR(score, m.reference[0][i], 1e-6);
    ++i;
  }

  // ESMM has two heads: regress needs one, named as the signature.
  server_->Stop();
  client_->stop();
  Serve(*esmm_);
  const Served& e = *esmm_;
  examples.clear();
  for (const FeatureRow& c : e.request.candidates) {
    examples.push_back(absl::StrCat("{", Members({&c}), "}"));
  }
  const std::string esmm_examples =
      absl::StrCat("\"context\": {", Members({&e.request.user, &e.request.context}),
                   "}, \"examples\": [", absl::StrJoin(examples, ", "), "]");
  ExpectTfError(Post("/v1/models/esmm:regress", absl::StrCat("{", esmm_examples, "}")), 400,
                "name one of them as \"signature_name\"");
  std::tie(status, answer) = Post(
      "/v1/models/esmm:regress",
      absl::StrCat("{\"signature_name\": \"", e.package.outputs[0], "\", ", esmm_examples, "}"));
  ASSERT_EQ(status, 200) << answer;
  ParseJson(parser, answer, &root);
  ExpectScores(root["results"], e.reference[0], "esmm regress");
}

// api_rest.md "Model status API" and the metadata answer (GetModelMetadataResponse).
TEST_F(TfServingApiTest, ModelStatusAndMetadata) {
  Serve(*din_);
  auto [status, answer] = Get("/v1/models/din/versions/7");
  ASSERT_EQ(status, 200) << answer;
  EXPECT_EQ(answer,
            "{\"model_version_status\": [{\"version\": \"7\", \"state\": \"AVAILABLE\", "
            "\"status\": {\"error_code\": \"OK\", \"error_message\": \"\"}}]}\n");
  std::tie(status, answer) = Get("/v1/models/din");
  ASSERT_EQ(status, 200) << answer;
  dom::parser parser;
  dom::element root;
  ParseJson(parser, answer, &root);
  std::string_view state;
  ASSERT_EQ(root["model_version_status"].at(0)["state"].get_string().get(state), simdjson::SUCCESS);
  EXPECT_EQ(state, "AVAILABLE");

  std::tie(status, answer) = Get("/v1/models/din/metadata");
  ASSERT_EQ(status, 200) << answer;
  ParseJson(parser, answer, &root);
  std::string_view name, version;
  ASSERT_EQ(root["model_spec"]["name"].get_string().get(name), simdjson::SUCCESS);
  ASSERT_EQ(root["model_spec"]["version"].get_string().get(version), simdjson::SUCCESS);
  EXPECT_EQ(name, "din");
  EXPECT_EQ(version, "7");
  dom::element sig = root["metadata"]["signature_def"]["signature_def"]["serving_default"];
  std::string_view dtype, size, method;
  ASSERT_EQ(sig["inputs"]["user_id"]["dtype"].get_string().get(dtype), simdjson::SUCCESS);
  EXPECT_EQ(dtype, "DT_INT64");
  ASSERT_EQ(sig["inputs"]["item_dense_0"]["dtype"].get_string().get(dtype), simdjson::SUCCESS);
  EXPECT_EQ(dtype, "DT_FLOAT");
  dom::array dims;
  ASSERT_EQ(sig["inputs"]["hist_item_ids"]["tensor_shape"]["dim"].get_array().get(dims),
            simdjson::SUCCESS);
  EXPECT_EQ(dims.size(), 2u);                                             // a sequence: [-1, -1]
  EXPECT_EQ(sig["inputs"]["hist_len"].error(), simdjson::NO_SUCH_FIELD);  // derived, not sent
  ASSERT_EQ(sig["outputs"][din_->package.outputs[0]]["tensor_shape"]["dim"]
                .at(0)["size"]
                .get_string()
                .get(size),
            simdjson::SUCCESS);
  EXPECT_EQ(size, "-1");
  ASSERT_EQ(sig["method_name"].get_string().get(method), simdjson::SUCCESS);
  EXPECT_EQ(method, "tensorflow/serving/predict");
  std::tie(status, answer) = Get("/v1/models/din/versions/7/metadata");
  EXPECT_EQ(status, 200) << answer;
}

// Bad requests: TF Serving's {"error": ...} with 400 (bad input) or 404 (unknown model or
// version), each counted by reason in /metrics; the server keeps serving.
TEST_F(TfServingApiTest, BadRequestsAnswerTfServingErrors) {
  Serve(*din_);
  const Served& m = *din_;
  const std::string user = Members({&m.request.user});
  const std::string item = Members({&m.request.candidates[0]});
  const std::string one = absl::StrCat("{", user, ", ", item, "}");
  ExpectTfError(Post("/v1/models/din:predict", "{\"instances\": [{\"b64\": \"not*base64\"}]}"), 400,
                "instances[0].b64: not valid base64");
  ExpectTfError(Post("/v1/models/din:predict", "{\"instances\": [{\"b64\": \"AAEC\"}]}"), 400,
                "malformed tf.Example");
  ExpectTfError(
      Post("/v1/models/din:predict", absl::StrCat("{\"instances\": [{", user,
                                                  ", \"item_id\": 3, \"item_dense_0\": \"x\"}]}")),
      400,
      "instances[0].item_dense_0: found a string for feature 'item_dense_0', expected a "
      "number (DT_FLOAT)");
  ExpectTfError(Post("/v1/models/din:predict",
                     absl::StrCat("{\"instances\": [", one, ", {\"user_id\": 9, ", item, "}]}")),
                400, "instances[1].user_id: differs from instances[0].user_id");
  ExpectTfError(Post("/v1/models/din:predict", "{\"signature_name\": \"serving_default\"}"), 400,
                "neither \"instances\"");
  ExpectTfError(
      Post("/v1/models/din:predict", absl::StrCat("{\"instances\": [", one, "], \"inputs\": {}}")),
      400, "either of them but not both");
  ExpectTfError(Post("/v1/models/din:predict",
                     absl::StrCat("{\"signature_name\": \"nope\", \"instances\": [", one, "]}")),
                400, "Serving signature name: \"nope\" not found");
  ExpectTfError(Post("/v1/models/din:predict", "{\"instances\": [1.0, 2.0]"), 400,
                "not valid JSON");
  ExpectTfError(Post("/v1/models/din:predict", "{\"instances\": [1.0, 2.0]}"), 400,
                "each instance must be an object");
  ExpectTfError(Post("/v1/models/din:classify", "{\"instances\": []}"), 400, "unknown key");
  ExpectTfError(
      Post("/v1/models/din/versions/8:predict", absl::StrCat("{\"instances\": [", one, "]}")), 404,
      "Servable not found for request: Specific(din, 8)");
  ExpectTfError(
      Post("/v1/models/din/versions/x1:predict", absl::StrCat("{\"instances\": [", one, "]}")), 400,
      "Failed to convert version: x1 to numeric.");
  ExpectTfError(Post("/v1/models/half:predict", "{\"instances\": [1.0, 5.0]}"), 404,
                "Servable not found for request: Latest(half)");
  ExpectTfError(Get("/v1/models/din/versions/3"), 404, "Specific(din, 3)");
  ExpectTfError(Get("/v1/models/half/metadata"), 404, "Latest(half)");
  // A missing item feature takes the config's default, as TF's parsing defaults do.
  const auto [status, answer] =
      Post("/v1/models/din:predict", absl::StrCat("{\"instances\": [{", user, "}]}"));
  EXPECT_EQ(status, 200) << answer;

  const auto [mstatus, metrics] = Get("/metrics");
  ASSERT_EQ(mstatus, 200);
  // Every refused TF Serving request in the one error counter, by code and reason, whatever the
  // route (unknown versions and models: one :predict and one GET each).
  for (const char* counted : {R"(code="invalid_argument",reason="tf_bad_request"} )",
                              R"(code="not_found",reason="unknown_version"} 2)",
                              R"(code="invalid_argument",reason="bad_json"} 1)",
                              R"(code="not_found",reason="unknown_model"} 2)"}) {
    EXPECT_THAT(metrics, HasSubstr(counted)) << counted;
  }
}

// rankopt's own :predict body and TF Serving's share the route; the first key tells them apart.
TEST(TfServingPredictBodyTest, FirstKeyPicksTheFormat) {
  EXPECT_TRUE(IsTfServingPredictBody(" {\n \"instances\": [1.0, 2.0]}"));
  EXPECT_TRUE(IsTfServingPredictBody(R"({"inputs": {"x": [1]}})"));
  EXPECT_TRUE(IsTfServingPredictBody(R"({"signature_name": "s", "instances": []})"));
  EXPECT_FALSE(IsTfServingPredictBody(R"({"user": {"user_id": 1}, "candidates": []})"));
  EXPECT_FALSE(IsTfServingPredictBody(R"({"users": {}})"));  // rankopt's parser names the key
  EXPECT_FALSE(IsTfServingPredictBody("{}"));
  EXPECT_FALSE(IsTfServingPredictBody("[1]"));
  EXPECT_FALSE(IsTfServingPredictBody(R"({"instan)"));
}

// ---- the lifted Chicago-taxi serving export: tf.Examples through the native pipeline ----

TEST_F(TfServingApiTest, LiftedTaxiScoresRawEvalExamplesSentAsB64) {
  const std::string serving =
      std::string(RANKOPT_TESTDATA_DIR) + "/tf_feature_columns/taxi/serving";
  OptimizeModelOptions options;
  options.model_path = serving;
  options.out_path = (fs::path(*dir_) / "taxi.rkp").string();
  options.outputs = {"logistic"};
  options.name = "taxi";
  options.version = "1576111633";
  options.int8 = TableQuantizationMode::kOff;
  options.time_s = 0;
  absl::StatusOr<OptimizeResult> result = OptimizeModel(options);
  ASSERT_TRUE(result.ok()) << result.status();
  absl::StatusOr<std::shared_ptr<const Model>> model = Model::Load(options.out_path);
  ASSERT_TRUE(model.ok()) << model.status();

  std::vector<std::string> records;
  const std::string raw = std::string(RANKOPT_TESTDATA_DIR) + "/tf_feature_columns/taxi/raw_eval";
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(raw)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const std::string& file : files) {
    std::vector<std::string> more = rankopt::test_data::ReadTfRecordsGz(file);
    records.insert(records.end(), more.begin(), more.end());
  }
  ASSERT_EQ(records.size(), 656u);
  Request request;
  std::vector<std::string> instances;
  for (const std::string& record : records) {
    FeatureRow row;
    ASSERT_TRUE(ParseTfExample(record, &row).ok());
    request.candidates.push_back(std::move(row));
    instances.push_back(absl::StrCat("{\"examples\": ", B64(record), "}"));
  }
  absl::StatusOr<Scores> want = (*model)->Score(request);
  ASSERT_TRUE(want.ok()) << want.status();

  Served taxi;
  taxi.path = options.out_path;
  Serve(taxi);
  const auto [status, answer] = Post("/v1/models/taxi/versions/1576111633:predict",
                                     absl::StrCat("{\"signature_name\": \"serving_default\", "
                                                  "\"instances\": [",
                                                  absl::StrJoin(instances, ", "), "]}"));
  ASSERT_EQ(status, 200) << answer.substr(0, 500);
  dom::parser parser;
  dom::element root;
  ParseJson(parser, answer, &root);
  ExpectScores(root["predictions"], want->values[0], "taxi");

  // The first 5 examples as JSON features instead, the strings of the model's features as
  // {"b64": ...} bytes (under a name the model does not know, {"b64"} is a tf.Example).
  std::vector<std::string> rows;
  auto known = [&](const std::string& name) {
    for (const ModelFeature& f : (*model)->features()) {
      if (f.name == name) return true;
    }
    return false;
  };
  for (size_t i = 0; i < 5; ++i) {
    std::vector<std::string> members;
    for (const auto& [name, value] : request.candidates[i].entries()) {
      const std::string* text = std::get_if<std::string>(&value);
      members.push_back(absl::StrCat(
          "\"", name, "\": ", text != nullptr && known(name) ? B64(*text) : ValueJson(value)));
    }
    rows.push_back(absl::StrCat("{", absl::StrJoin(members, ", "), "}"));
  }
  const auto [status2, answer2] =
      Post("/v1/models/taxi:predict",
           absl::StrCat("{\"instances\": [", absl::StrJoin(rows, ", "), "]}"));
  ASSERT_EQ(status2, 200) << answer2;
  ParseJson(parser, answer2, &root);
  ExpectScores(root["predictions"],
               std::vector<float>(want->values[0].begin(), want->values[0].begin() + 5),
               "taxi JSON with b64 strings");
}

}  // namespace
}  // namespace rankopt
