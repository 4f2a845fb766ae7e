// End-to-end tests of the rankopt command: exit codes, one-line errors that name the file and the
// problem, and summarize/prune on the bundled models.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/tools/cli_runner.h"

namespace rankopt {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = FreshTestDir("rankopt_cli_test"); }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `rankopt <args>` (args are shell words the test controls), capturing both streams.
  RunResult Run(const std::string& args, const std::string& prefix = "") {
    return RunRankopt(dir_, args, prefix);
  }

  fs::path Temp(const std::string& name) { return dir_ / name; }

  fs::path dir_;
};

const std::string kData = RANKOPT_TESTDATA_DIR;

TEST_F(CliTest, HelpAndUsage) {
  RunResult help = Run("--help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, AllOf(HasSubstr("summarize"), HasSubstr("prune")));
  EXPECT_EQ(Run("prune --help").exit_code, 0);
  EXPECT_THAT(Run("summarize --help").out, HasSubstr("--json"));
  EXPECT_EQ(Run("").exit_code, 2);
  RunResult unknown = Run("sumarize x");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("unknown command 'sumarize'"));
  RunResult bad_flag = Run("summarize --jsn " + kData + "/tf/dense.pb");
  EXPECT_EQ(bad_flag.exit_code, 2);
  EXPECT_THAT(bad_flag.err, HasSubstr("unknown flag '--jsn'"));
  EXPECT_EQ(Run("prune " + kData + "/tf/dense.pb -o x.pb").exit_code, 2);  // no --outputs
}

TEST_F(CliTest, MissingEmptyGarbageAndTruncatedFiles) {
  const std::string missing = Temp("nope.pb").string();
  ExpectOneLineError(Run("summarize " + missing), 1, {missing, "no such file"});

  WriteFile(Temp("empty.pb"), "");
  ExpectOneLineError(Run("summarize " + Temp("empty.pb").string()), 1,
                     {Temp("empty.pb").string(), "empty"});

  WriteFile(Temp("garbage.pb"), std::string("\x0a\xff\xff\xff\xff\x0f garbage", 15));
  ExpectOneLineError(Run("summarize " + Temp("garbage.pb").string()), 1,
                     {Temp("garbage.pb").string()});

  std::string dense = ReadFile(kData + "/tf/dense.pb");
  WriteFile(Temp("truncated.pb"), dense.substr(0, dense.size() / 2));
  ExpectOneLineError(Run("summarize " + Temp("truncated.pb").string()), 1,
                     {Temp("truncated.pb").string()});

  std::string esmm = ReadFile(kData + "/peers/esmm.onnx");
  WriteFile(Temp("truncated.onnx"), esmm.substr(0, esmm.size() - 1000));
  ExpectOneLineError(Run("prune " + Temp("truncated.onnx").string() + " --outputs pctcvr -o " +
                         Temp("out.onnx").string()),
                     1, {Temp("truncated.onnx").string()});
  EXPECT_FALSE(fs::exists(Temp("out.onnx")));
}

// FIFOs and devices are refused before anything opens them (a FIFO would block the open, a
// device never ends), by every command that reads a model.
TEST_F(CliTest, FifoAndDevicesAreRefusedAtOnce) {
  const std::string fifo = Temp("model.pb").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string fifo_rkp = Temp("model.rkp").string();
  ASSERT_EQ(::mkfifo(fifo_rkp.c_str(), 0600), 0);
  for (const std::string& path : {fifo, fifo_rkp, std::string("/dev/zero")}) {
    for (const std::string& command :
         {"summarize " + path, "bench " + path + " --candidates 1 --min-s 0.01",
          "run " + path + " --inputs " + kData + "/peers/din_ref.json"}) {
      SCOPED_TRACE(command);
      // `timeout` turns a hang into exit 124 instead of a stuck test.
      const RunResult r = Run(command, "timeout 20 ");
      ExpectOneLineError(r, 1, {path, "not a regular file"});
    }
  }
}

// The same for every other file a command reads: a model of the commands not above, the package
// `serve` and `tables publish` take, feature configs, request and sample files.
TEST_F(CliTest, EveryFileEveryCommandReadsRefusesFifosAndDevices) {
  const std::string fifo = Temp("input.jsonl").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string din = kData + "/peers/din.onnx";
  const std::string config = kData + "/../../configs/din.yaml";
  const std::string requests = kData + "/features/requests_din.jsonl";
  const std::string out = Temp("out").string();
  for (const std::string& x : {fifo, std::string("/dev/zero")}) {
    for (const std::string& command : {
             "prune " + x + " --outputs y -o " + out,
             "quantize " + x + " --tables all -o " + out,
             "lift " + x + " -o " + out,
             "optimize " + x + " -o " + out,
             "serve " + x + " --port 0",
             "tables publish " + x + " --redis 127.0.0.1:1",
             "features --config " + x + " --requests " + requests,
             "features --config " + config + " --requests " + x,
             "run " + din + " --requests " + x + " --config " + config,
             "run " + din + " --inputs " + x,
             "bench " + din + " --requests " + x,
             "quantize " + din + " --tables all --sample " + x + " -o " + out,
             "optimize " + din + " --features " + x + " -o " + out,
             "optimize " + din + " --features " + config + " --sample " + x + " -o " + out,
         }) {
      SCOPED_TRACE(command);
      const RunResult r = Run(command, "timeout 20 ");
      ExpectOneLineError(r, 1, {x, "not a regular file"});
    }
    // run's --config is read with its flags: a bad one is a usage error (exit 2).
    ExpectOneLineError(
        Run("run " + din + " --requests " + requests + " --config " + x, "timeout 20 "), 2,
        {x, "not a regular file"});
  }
}

// `rankopt run` and `bench` apply the serving library's limits (ModelOptions): at most 100000
// candidates per request (100001 is refused before any work), and the 1 GiB per-request memory
// cap on a raw model too: DIN at -O 0 with 100000 candidates needs more and is refused, not run.
TEST_F(CliTest, RunAndBenchApplyTheServingLimits) {
  const std::string line = ReadFile(kData + "/features/requests_din.jsonl");
  const size_t open = line.find("\"candidates\":[");
  ASSERT_NE(open, std::string::npos);
  const std::string candidate = "{\"item_id\":980,\"cate_id\":531}";
  for (int n : {100000, 100001}) {
    std::string request = line.substr(0, open) + "\"candidates\":[";
    request.reserve(request.size() + n * (candidate.size() + 1) + 8);
    for (int i = 0; i < n; ++i) {
      if (i > 0) request += ",";
      request += candidate;
    }
    request += "]}\n";
    const std::string path = Temp(absl::StrCat("requests_", n, ".jsonl")).string();
    WriteFile(path, request);
    const RunResult r = Run(absl::StrCat("run ", kData, "/peers/din.onnx --requests ", path,
                                         " --config ", kData, "/../../configs/din.yaml"));
    if (n == 100000) {
      ExpectOneLineError(r, 1, {"memory cap"});
    } else {
      ExpectOneLineError(r, 1,
                         {"100001 candidates", "at most 100000", "ModelOptions::max_candidates"});
    }
  }
  ExpectOneLineError(Run(absl::StrCat("bench ", kData, "/peers/din.onnx --candidates 16,100001")),
                     2, {"--candidates has 100001 candidates", "at most 100000"});
}

TEST_F(CliTest, BrokenGraphDefs) {
  const std::string placeholder =
      "node { name: 'x' op: 'Placeholder' attr { key: 'dtype' value { type: DT_FLOAT } } }\n";
  WriteFile(Temp("dangling.pbtxt"),
            placeholder + "node { name: 'y' op: 'Relu' input: 'missing' }\n");
  ExpectOneLineError(Run("summarize " + Temp("dangling.pbtxt").string()), 1,
                     {"dangling.pbtxt", "'y'", "missing"});

  WriteFile(Temp("cycle.pbtxt"), placeholder +
                                     "node { name: 'a' op: 'Add' input: 'x' input: 'b' }\n"
                                     "node { name: 'b' op: 'Relu' input: 'a' }\n");
  ExpectOneLineError(Run("summarize " + Temp("cycle.pbtxt").string()), 1, {"cycle.pbtxt", "cycle"});

  WriteFile(Temp("duplicate.pbtxt"), placeholder + "node { name: 'x' op: 'Relu' input: 'x' }\n");
  ExpectOneLineError(Run("summarize " + Temp("duplicate.pbtxt").string()), 1,
                     {"duplicate.pbtxt", "duplicate", "'x'"});
}

TEST_F(CliTest, UnknownOutputSuggestsCloseNames) {
  RunResult r =
      Run("prune " + kData + "/peers/esmm.onnx --outputs pctcrv -o " + Temp("out.onnx").string());
  ExpectOneLineError(r, 1, {"esmm.onnx", "'pctcrv'", "did you mean", "'pctcvr'"});
  EXPECT_FALSE(fs::exists(Temp("out.onnx")));
}

TEST_F(CliTest, OnnxWithUnknownOpsetIsRejected) {
  onnx::ModelProto model;
  std::string bytes = ReadFile(kData + "/onnx/gemm_abc.onnx");
  ASSERT_TRUE(model.ParseFromString(bytes));
  ASSERT_GT(model.opset_import_size(), 0);
  model.mutable_opset_import(0)->set_version(99);
  WriteFile(Temp("opset99.onnx"), model.SerializeAsString());
  ExpectOneLineError(Run("summarize " + Temp("opset99.onnx").string()), 1,
                     {"opset99.onnx", "opset 99"});
}

TEST_F(CliTest, RefusesToOverwriteTheInput) {
  fs::copy_file(kData + "/tf/dense.pb", Temp("dense.pb"));
  RunResult r = Run("prune " + Temp("dense.pb").string() + " --outputs dense/BiasAdd -o " +
                    Temp("dense.pb").string());
  ExpectOneLineError(r, 1, {"refusing to overwrite"});
  EXPECT_EQ(ReadFile(Temp("dense.pb")), ReadFile(kData + "/tf/dense.pb"));
}

TEST_F(CliTest, SummarizeJsonIsMachineReadable) {
  RunResult r = Run("summarize --json " + kData + "/peers/esmm.onnx");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.front(), '{');
  EXPECT_THAT(r.out, AllOf(HasSubstr("\"Gemm\""), HasSubstr("\"pctcvr\"")));
}

TEST_F(CliTest, PruneEsmmToPctcvrWritesAValidSmallerModel) {
  const std::string out = Temp("esmm_pctcvr.onnx").string();
  RunResult r = Run("prune " + kData + "/peers/esmm.onnx --outputs pctcvr -o " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("Gemm"), HasSubstr("wrote " + out)));
  onnx::ModelProto pruned;
  ASSERT_TRUE(pruned.ParseFromString(ReadFile(out)));
  ASSERT_EQ(pruned.graph().output_size(), 1);
  EXPECT_EQ(pruned.graph().output(0).name(), "pctcvr");
  // pctcvr = pctr * pcvr needs both towers, so every compute node stays.
  EXPECT_EQ(pruned.graph().node_size(), 30);

  RunResult summary = Run("summarize " + out);
  ASSERT_EQ(summary.exit_code, 0) << summary.err;
  EXPECT_THAT(summary.out, AllOf(HasSubstr("pctcvr"), Not(HasSubstr("  pctr "))));
}

TEST_F(CliTest, QuantizeWritesATableFileAndNamesMisspeltTables) {
  const std::string out = Temp("din.rkemb").string();
  RunResult r = Run("quantize " + kData + "/peers/din.onnx --tables all -o " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("item_emb.weight"), HasSubstr("cate_emb.weight"),
                           HasSubstr("user_emb.weight"), HasSubstr("int8")));
  // Three 1000 x 16 tables: 24 bytes a row in int8 (16 codes + scale + bias), plus the header.
  EXPECT_GT(fs::file_size(out), 3u * 1000 * 24);
  EXPECT_LT(fs::file_size(out), 3u * 1000 * 64);

  ExpectOneLineError(Run("quantize " + kData + "/peers/din.onnx --tables item_emb.wieght"), 1,
                     {"din.onnx", "'item_emb.wieght'", "'item_emb.weight'"});
}

TEST_F(CliTest, QuantizeGateRunsTheModelAndBlocksATableFileThatFailsIt) {
  const std::string sample = kData + "/exec/esmm_ref_200.json";
  const std::string out = Temp("esmm.rkemb").string();
  RunResult pass =
      Run("quantize " + kData + "/peers/esmm.onnx --tables all --sample " + sample + " -o " + out);
  ASSERT_EQ(pass.exit_code, 0) << pass.err;
  EXPECT_THAT(pass.out, AllOf(HasSubstr("400 values of 'pctr,pctcvr'"), HasSubstr("PASSED")));
  EXPECT_TRUE(fs::exists(out));
  fs::remove(out);

  RunResult fail = Run("quantize " + kData + "/peers/esmm.onnx --tables all --sample " + sample +
                       " --max-abs-diff 1e-9 -o " + out);
  EXPECT_EQ(fail.exit_code, 1);
  EXPECT_THAT(fail.out, AllOf(HasSubstr("FAILED"), HasSubstr("nothing written")));
  EXPECT_FALSE(fs::exists(out));
}

// --int8: tables stored int8 after the passes, the per-table report on stderr (run) or in the
// report (bench).
TEST_F(CliTest, RunAndBenchServeInt8Tables) {
  const std::string din = kData + "/peers/din.onnx";
  RunResult force =
      Run("run " + din + " --inputs " + kData + "/peers/din_ref.json -O 1 --int8 force");
  ASSERT_EQ(force.exit_code, 0) << force.err;
  EXPECT_THAT(force.err, AllOf(HasSubstr("3 of 3 stored int8"), HasSubstr("item_emb.weight"),
                               HasSubstr("forced: no gate")));
  EXPECT_THAT(force.out, HasSubstr("prob [16,1] float32"));

  RunResult auto_gate = Run("run " + kData + "/peers/esmm.onnx --inputs " + kData +
                            "/exec/esmm_ref_200.json -O 1 --int8 auto --json");
  ASSERT_EQ(auto_gate.exit_code, 0) << auto_gate.err;
  EXPECT_THAT(auto_gate.err, AllOf(HasSubstr("stored int8: passes the gate"),
                                   HasSubstr("gate, kept tables together: max abs diff")));
  EXPECT_THAT(auto_gate.out, HasSubstr("\"pctcvr\""));

  // At -O 0 the tables feed plain Gathers: they stay fp32 and the report says why.
  RunResult o0 = Run("run " + din + " --inputs " + kData + "/peers/din_ref.json --int8 force");
  ASSERT_EQ(o0.exit_code, 0) << o0.err;
  EXPECT_THAT(o0.err, AllOf(HasSubstr("0 of 3 stored int8"), HasSubstr("-O 1 turns it into")));

  RunResult bad = Run("run " + din + " --inputs " + kData + "/peers/din_ref.json --int8 on");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("--int8: unknown table quantization mode 'on'"));

  const std::string quick = " --candidates 16 --threads 1 --warmup-s 0 --min-s 0 --no-profile";
  ExpectOneLineError(Run("bench " + din + " -O 1 --int8 auto" + quick), 1,
                     {"din.onnx", "--int8 auto: the accuracy gate needs a sample", "--requests"});
  RunResult bench = Run("bench " + din + " -O 1 --int8 auto --requests " + kData +
                        "/exec/din_ref_200.json --json" + quick);
  ASSERT_EQ(bench.exit_code, 0) << bench.err;
  EXPECT_THAT(bench.out, AllOf(HasSubstr("\"int8\""), HasSubstr("\"mode\": \"auto\""),
                               HasSubstr("\"stored\": \"int8\""), HasSubstr("gate_max_abs_diff")));
  RunResult text = Run("bench " + din + " -O 1 --int8 force" + quick);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("3 of 3 stored int8"));
}

TEST_F(CliTest, PruneSavedModelWritesALoadableDirectory) {
  const std::string model = kData + "/savedmodel/deepctr_deepfm/serving_raw/1593253204";
  const std::string out = Temp("deepfm_pred").string();
  RunResult r = Run("prune " + model + " --outputs pred -o " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(fs::path(out) / "saved_model.pb"));
  RunResult summary = Run("summarize " + out);
  ASSERT_EQ(summary.exit_code, 0) << summary.err;
  EXPECT_THAT(summary.out, AllOf(HasSubstr("pred"), Not(HasSubstr("SaveV2"))));
}

// rankopt lift --tags picks the MetaGraphDef (tf.Transform's transform_fn is tagged "transform");
// a model with nothing to lift writes nothing; summarize shows what lift would do.
TEST_F(CliTest, LiftTakesTagsAndSummarizeShowsWhatLiftWouldDo) {
  const std::string transform = kData + "/tf_feature_columns/lift/taxi/transform_fn";
  ExpectOneLineError(Run("lift " + transform + " --tags serve,gpu -o " + Temp("none").string()),
                     1, {"no MetaGraphDef with tags 'serve,gpu'", "[transform]"});
  RunResult lifted = Run("lift " + transform + " --tags transform -o " + Temp("taxi").string());
  ASSERT_EQ(lifted.exit_code, 0) << lifted.err;
  EXPECT_THAT(lifted.out, AllOf(HasSubstr("lifted company -> lifted/company"),
                                HasSubstr("wrote ")));
  EXPECT_TRUE(fs::exists(Temp("taxi") / "features.yaml"));
  ExpectOneLineError(Run("lift " + kData + "/tf/dense.pb --tags serve -o " + Temp("x").string()),
                     1, {"not a SavedModel"});
  // Nothing to lift: the reasons, and no empty config written.
  RunResult nothing = Run("lift " + kData + "/tf/dense.pb -o " + Temp("dense").string());
  EXPECT_EQ(nothing.exit_code, 1) << nothing.out;
  EXPECT_THAT(nothing.err, HasSubstr("nothing was lifted"));
  EXPECT_FALSE(fs::exists(Temp("dense") / "features.yaml"));

  RunResult summary = Run("summarize " + kData + "/tf_feature_columns/lift/babyweight_estimator");
  ASSERT_EQ(summary.exit_code, 0) << summary.err;
  EXPECT_THAT(summary.out, AllOf(HasSubstr("rankopt lift would lift 8 of 8 raw input(s)"),
                                 HasSubstr("lifted mother_race: vocabulary of 12"),
                                 HasSubstr("'' (absent) -> 12; read in 6 form(s)")));
  RunResult json =
      Run("summarize --json " + kData + "/tf_feature_columns/lift/babyweight_estimator");
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_THAT(json.out, AllOf(HasSubstr("\"lift\""), HasSubstr("\"lifted\": true")));
}

// Every "max relative error vs reference: X" of a `run` printout; fails when there is none.
std::vector<double> RelativeErrors(const std::string& out) {
  std::vector<double> errors;
  const std::string key = "max relative error vs reference: ";
  for (size_t at = out.find(key); at != std::string::npos; at = out.find(key, at + 1)) {
    errors.push_back(std::strtod(out.c_str() + at + key.size(), nullptr));
  }
  EXPECT_FALSE(errors.empty()) << out;
  return errors;
}

// nn.EmbeddingBag as torch 2.11's dynamo exporter writes it runs at every level, and an exact
// match (the empty bag's zeros included) reports 0, not 0/0.
TEST_F(CliTest, DynamoEmbeddingBagRunsAndExactZerosReportNoError) {
  const std::string base = kData + "/onnx_ebag/ebag_dyn_sum";
  for (const std::string level : {"0", "2"}) {
    RunResult r = Run("run " + base + ".onnx --inputs " + base + ".json -O " + level);
    ASSERT_EQ(r.exit_code, 0) << "-O " << level << ": " << r.err;
    for (double e : RelativeErrors(r.out)) EXPECT_EQ(e, 0.0) << "-O " << level;
  }
}

// torch 2.11's default ONNX export (dynamo, opset 20, weights in <model>.onnx.data) runs at O0 and
// O2 and matches PyTorch eager; prune and optimize keep working on it.
TEST_F(CliTest, TorchDynamoExportsRunAtEveryLevel) {
  const std::string dir = kData + "/torch_dynamo/";
  const std::vector<std::pair<std::string, std::string>> models = {
      {"din", "user_id,hist_item_ids,hist_cate_ids,hist_len,dense[0:2]"},
      {"esmm", "user_id,user_age,user_occupation,user_geo,user_segment,hour_of_day,dense[0:1]"}};
  for (const auto& [model, request_inputs] : models) {
    SCOPED_TRACE(model);
    const std::string onnx = dir + model + "_dynamo.onnx";
    const std::string inputs = " --inputs " + dir + model + "_dynamo_ref.json";
    for (const std::string level : {"0", "1", "2"}) {
      RunResult r = Run("run " + onnx + inputs + " -O " + level + " --request-inputs " +
                        request_inputs);
      ASSERT_EQ(r.exit_code, 0) << "-O " << level << ": " << r.err;
      for (double e : RelativeErrors(r.out)) EXPECT_LT(e, 1e-5) << "-O " << level;
    }
    const std::string pruned = Temp(model + "_pruned.onnx").string();
    RunResult prune = Run("prune " + onnx + " --outputs " + (model == "din" ? "prob" : "pctcvr") +
                          " -o " + pruned);
    ASSERT_EQ(prune.exit_code, 0) << prune.err;
    EXPECT_TRUE(fs::exists(pruned + ".data"));
    RunResult again = Run("run " + pruned + inputs);
    ASSERT_EQ(again.exit_code, 0) << again.err;
    for (double e : RelativeErrors(again.out)) EXPECT_LT(e, 1e-5);
  }
  const std::string package = Temp("din_dynamo.rkp").string();
  RunResult optimize = Run("optimize " + dir + "din_dynamo.onnx --features " + kData +
                           "/../../configs/din.yaml --sample " + kData +
                           "/features/requests_din.jsonl -o " + package + " --time-s 0");
  ASSERT_EQ(optimize.exit_code, 0) << optimize.err;
  RunResult packaged = Run("run " + package + " --inputs " + dir + "din_dynamo_ref.json");
  ASSERT_EQ(packaged.exit_code, 0) << packaged.err;
  // int8 tables (the gate's budget, 1e-2 absolute) may move the scores a little.
  for (double e : RelativeErrors(packaged.out)) EXPECT_LT(e, 2e-2);

  // A package whose magic is damaged is reported as a damaged package, not as a bad GraphDef.
  std::string bytes = ReadFile(package);
  bytes[1] ^= 0x20;
  const fs::path damaged = Temp("damaged.rkp");
  WriteFile(damaged, bytes);
  ExpectOneLineError(Run("run " + damaged.string() + " --inputs " + dir + "din_dynamo_ref.json"),
                     1, {"damaged.rkp", "without the model package header", "damaged"});
}

}  // namespace
}  // namespace rankopt
