#include "serving/package/graph_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "serving/package/model_package.h"
#include "tests/serving/package/package_test_util.h"

namespace rankopt {
namespace {

using ::rankopt::package_test::EveryAttrGraph;
using ::rankopt::package_test::ExpectSameGraph;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Encoded {
  package::GraphProto message;
  std::vector<EncodedBlob> blobs;
  std::vector<Tensor> views;  // blob tensors, as the reader would pass them
};

Encoded Encode(const Graph& graph) {
  Encoded e;
  absl::Status s = EncodeGraph(graph, &e.message, &e.blobs);
  EXPECT_TRUE(s.ok()) << s;
  for (const EncodedBlob& b : e.blobs) e.views.push_back(b.tensor);
  return e;
}

// The node named `name` of `message`.
package::NodeProto* FindNode(package::GraphProto* message, const std::string& name) {
  for (package::NodeProto& n : *message->mutable_nodes()) {
    if (n.name() == name) return &n;
  }
  ADD_FAILURE() << "no node " << name;
  return nullptr;
}

package::AttrValueProto* FindAttr(package::GraphProto* message, const std::string& node,
                                  const std::string& attr) {
  for (package::AttrProto& a : *FindNode(message, node)->mutable_attrs()) {
    if (a.name() == attr) return a.mutable_value();
  }
  ADD_FAILURE() << "no attr " << node << "/" << attr;
  return nullptr;
}

TEST(GraphCodecTest, RoundTripsEveryAttrValueType) {
  const Graph graph = EveryAttrGraph();
  Encoded e = Encode(graph);

  // Large fixed-width tensors became blobs, one per storage (w is stored once though two
  // attributes hold it); everything else is inline.
  std::vector<std::string> names;
  for (const EncodedBlob& b : e.blobs) names.push_back(b.name);
  EXPECT_THAT(names, ElementsAre("w/value", "attrs/big_tensor", "attrs/big_bool_tensor",
                                 "attrs/tensors[1]"));
  for (const EncodedBlob& b : e.blobs) EXPECT_GE(b.tensor.ByteSize(), kPackageBlobMinBytes);
  EXPECT_EQ(e.blobs[0].tensor.bytes().data(),
            graph.FindNode("w")->attrs.Get<Tensor>("value")->bytes().data());  // no copy
  EXPECT_EQ(FindAttr(&e.message, "attrs", "tensors")->tensors().values(3).blob(), 0u);
  EXPECT_EQ(FindAttr(&e.message, "attrs", "small_tensor")->tensor().data_case(),
            package::TensorProto::kRaw);

  // Through bytes, as a package stores it.
  std::string bytes;
  ASSERT_TRUE(e.message.SerializeToString(&bytes));
  package::GraphProto parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  absl::StatusOr<Graph> back = DecodeGraph(parsed, e.views);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameGraph(graph, *back);
  // Blob tensors are the views handed in, not copies.
  EXPECT_EQ(back->FindNode("w")->attrs.Get<Tensor>("value")->bytes().data(),
            e.views[0].bytes().data());
  EXPECT_EQ(back->FindNode("attrs")->attrs.Get<Tensor>("no_tensor")->dtype(), DType::kInvalid);
}

TEST(GraphCodecTest, RoundTripsAnEmptyGraph) {
  Graph graph(ModelFormat::kTfSavedModel);
  Encoded e = Encode(graph);
  EXPECT_TRUE(e.blobs.empty());
  absl::StatusOr<Graph> back = DecodeGraph(e.message, {});
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->format(), ModelFormat::kTfSavedModel);
  EXPECT_EQ(back->num_nodes(), 0u);
}

TEST(GraphCodecTest, DataTypesMapBothWays) {
  for (int v = 0; v <= package::DataType_MAX; ++v) {
    absl::StatusOr<DType> d = FromDataType(v);
    ASSERT_TRUE(d.ok()) << v;
    EXPECT_EQ(ToDataType(*d), v);
  }
  EXPECT_THAT(FromDataType(package::DataType_MAX + 1).status().message(), HasSubstr("is unknown"));
  EXPECT_FALSE(FromDataType(-1).ok());
}

TEST(GraphCodecTest, EncodeRejectsWhatTheFormatCannotHold) {
  Graph graph = EveryAttrGraph();
  graph.FindMutableNode("attrs")->attrs.Set("bad_shape", Shape({2, -5}));
  package::GraphProto message;
  std::vector<EncodedBlob> blobs;
  absl::Status s = EncodeGraph(graph, &message, &blobs);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("node 'attrs' attr 'bad_shape'"));
  EXPECT_THAT(s.message(), HasSubstr("dim -5"));
}

struct BadCase {
  const char* name;
  std::function<void(package::GraphProto*)> edit;
  const char* expected;  // a substring of the error
};

TEST(GraphCodecTest, DecodeChecksEverything) {
  const Graph graph = EveryAttrGraph();
  const Encoded good = Encode(graph);
  const std::vector<BadCase> cases = {
      {"unknown dtype",
       [](package::GraphProto* m) {
         FindAttr(m, "attrs", "small_tensor")
             ->mutable_tensor()
             ->set_dtype(static_cast<package::DataType>(99));
       },
       "node 'attrs' attr 'small_tensor': dtype number 99 is unknown"},
      {"unknown dtype attr",
       [](package::GraphProto* m) {
         FindAttr(m, "attrs", "dtype")->set_dtype(static_cast<package::DataType>(57));
       },
       "dtype number 57"},
      {"unknown dtype in a list",
       [](package::GraphProto* m) {
         FindAttr(m, "attrs", "dtypes")
             ->mutable_dtypes()
             ->set_values(1, static_cast<package::DataType>(-3));
       },
       "dtype number -3"},
      {"negative dim",
       [](package::GraphProto* m) {
         FindAttr(m, "attrs", "small_tensor")->mutable_tensor()->set_dims(0, -3);
       },
       "node 'attrs' attr 'small_tensor'"},
      {"dims overflow",
       [](package::GraphProto* m) {
         package::TensorProto* t = FindAttr(m, "attrs", "small_tensor")->mutable_tensor();
         t->set_dims(0, int64_t{1} << 40);
         t->add_dims(int64_t{1} << 40);
       },
       "node 'attrs' attr 'small_tensor'"},
      {"raw size mismatch",
       [](package::GraphProto* m) {
         FindAttr(m, "attrs", "small_tensor")->mutable_tensor()->mutable_raw()->push_back('x');
       },
       "tensor data is 13 bytes"},
      {"blob index out of range",
       [](package::GraphProto* m) {
         FindAttr(m, "attrs", "big_tensor")->mutable_tensor()->set_blob(7);
       },
       "blob index 7 is out of range; the package has 4 blobs"},
      {"blob of other dims",
       [](package::GraphProto* m) {
         FindAttr(m, "attrs", "big_tensor")->mutable_tensor()->set_blob(0);
       },
       "the tensor is int64 [2,100] but blob 0 is float32 [4,128]"},
      {"fixed-width tensor without data",
       [](package::GraphProto* m) {
         FindAttr(m, "attrs", "small_tensor")->mutable_tensor()->clear_raw();
       },
       "tensor without data"},
      {"string tensor count",
       [](package::GraphProto* m) {
         FindAttr(m, "attrs", "string_tensor")
             ->mutable_tensor()
             ->mutable_strings()
             ->add_values("extra");
       },
       "string tensor has 3 values"},
      {"bool byte",
       [](package::GraphProto* m) {
         (*FindAttr(m, "attrs", "bool_tensor")->mutable_tensor()->mutable_raw())[1] = 2;
       },
       "bool element 1 is byte 2; expected 0 or 1"},
      {"invalid tensor with data",
       [](package::GraphProto* m) {
         FindAttr(m, "attrs", "no_tensor")->mutable_tensor()->set_raw("x");
       },
       "a tensor of dtype invalid has dims or data"},
      {"resource tensor",
       [](package::GraphProto* m) {
         FindAttr(m, "attrs", "small_tensor")->mutable_tensor()->set_dtype(package::DT_RESOURCE);
       },
       "a resource tensor cannot hold data"},
      {"shape dim below -1",
       [](package::GraphProto* m) {
         FindAttr(m, "attrs", "shape")->mutable_shape()->set_dims(0, -2);
       },
       "node 'attrs' attr 'shape': shape dim -2"},
      {"unknown rank with dims",
       [](package::GraphProto* m) {
         FindAttr(m, "attrs", "unknown_rank")->mutable_shape()->add_dims(1);
       },
       "a shape of unknown rank has 1 dims"},
      {"attr without value", [](package::GraphProto* m) { FindAttr(m, "attrs", "i")->Clear(); },
       "node 'attrs' attr 'i': the attribute has no value"},
      {"duplicate attr",
       [](package::GraphProto* m) {
         package::NodeProto* n = FindNode(m, "attrs");
         *n->add_attrs() = n->attrs(0);
       },
       "node 'attrs' attr 'i' appears twice"},
      {"too many attrs",
       [](package::GraphProto* m) {
         package::NodeProto* n = FindNode(m, "mm");
         for (int i = 0; i < 1025; ++i) {
           package::AttrProto* a = n->add_attrs();
           a->set_name(absl::StrCat("a", i));
           a->mutable_value()->set_i(i);
         }
       },
       "has 1025 attributes; at most 1024"},
      {"negative port",
       [](package::GraphProto* m) { FindNode(m, "mm")->mutable_inputs(1)->set_port(-1); },
       "node 2 'mm' input 1 reads port -1"},
      {"port out of range",
       [](package::GraphProto* m) { FindNode(m, "mm")->mutable_inputs(1)->set_port(1); },
       "node 'mm' input 1 reads output 1 of 'w', which has 1 outputs"},
      {"missing input node",
       [](package::GraphProto* m) { FindNode(m, "mm")->mutable_inputs(0)->set_node("nope"); },
       "refers to 'nope', which is not a node"},
      {"missing control input",
       [](package::GraphProto* m) { FindNode(m, "attrs")->set_control_inputs(0, "nope"); },
       "has a control input on 'nope'"},
      {"cycle",
       [](package::GraphProto* m) {
         package::TensorRefProto* r = FindNode(m, "mm")->add_inputs();
         r->set_node("attrs");
       },
       "cycle"},
      {"duplicate node", [](package::GraphProto* m) { FindNode(m, "mm")->set_name("w"); }, "w"},
      {"empty node name", [](package::GraphProto* m) { FindNode(m, "attrs")->set_name(""); }, ""},
      {"graph output port",
       [](package::GraphProto* m) { m->mutable_outputs(0)->mutable_ref()->set_port(2); },
       "graph output 0 'y' reads output 2 of 'attrs', which has 2 outputs"},
      {"graph output node",
       [](package::GraphProto* m) { m->mutable_outputs(0)->mutable_ref()->set_node("nope"); },
       "graph output 0 'y' refers to 'nope'"},
      {"signature port",
       [](package::GraphProto* m) {
         m->mutable_signatures(0)->mutable_outputs(0)->mutable_ref()->set_port(-4);
       },
       "signature 'serving_default' output 0 reads port -4"},
      {"format", [](package::GraphProto* m) { m->set_format(package::GRAPH_FORMAT_UNSPECIFIED); },
       "graph format 0 is unknown"},
      {"opset", [](package::GraphProto* m) { m->set_onnx_opset(-1); }, "onnx opset -1"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    package::GraphProto message = good.message;
    c.edit(&message);
    absl::StatusOr<Graph> g = DecodeGraph(message, good.views);
    ASSERT_FALSE(g.ok());
    EXPECT_THAT(g.status().message(), HasSubstr(c.expected));
  }
  // A blob with non-boolean bytes behind a bool tensor.
  std::vector<Tensor> views = good.views;
  std::string bytes(views[2].bytes());
  bytes[100] = 7;
  auto owned = std::make_shared<std::string>(bytes);  // a view, as a mapped package's blob is
  views[2] = *Tensor::FromExternal(DType::kBool, views[2].dims(), *owned, owned);
  absl::StatusOr<Graph> g = DecodeGraph(good.message, views);
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(g.status().message(),
              HasSubstr("attr 'big_bool_tensor' (blob 2): bool element 100 is byte 7"));
}

TEST(GraphCodecTest, NodeLimit) {
  const Encoded e = Encode(EveryAttrGraph());
  DecodeGraphOptions options;
  options.max_nodes = 3;
  absl::StatusOr<Graph> g = DecodeGraph(e.message, e.views, options);
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(g.status().message(), HasSubstr("the graph has 4 nodes, more than the limit of 3"));
  options.max_nodes = 4;
  EXPECT_TRUE(DecodeGraph(e.message, e.views, options).ok());
}

}  // namespace
}  // namespace rankopt
