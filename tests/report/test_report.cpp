// `scanlab report`: run files written by the commands' own writers (MetricsLog, write_eval_outputs,
// result_to_json, format_decode_bench), the claim verdicts on crafted results (one agrees, one
// disagrees, one not established per family), the page's tables and images, and the errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <tuple>

#include "core/atomic_file.h"
#include "decode_bench.h"
#include "io/safetensors.h"
#include "nar/study/train_eval.h"
#include "report/report.h"
#include "support/error_of.h"
#include "support/temp_dir.h"
#include "train/eval_report.h"
#include "train/run_log.h"

namespace fs = std::filesystem;
using scanlab::report::Verdict;

namespace {

scanlab::train::EvalRow eval_row(const std::string& model, int64_t length, double accuracy, double loss = 1.0) {
  return {model, length, 1000, loss, accuracy, std::exp(loss), {1 - accuracy, 1 - accuracy}};
}

void write_metrics(const fs::path& dir, const std::vector<double>& losses, double eval_acc, int64_t seq_len) {
  scanlab::train::MetricsLog log(dir.string(), -1);
  for (size_t i = 0; i < losses.size(); ++i)
    log.write({{"kind", "train"},
               {"stage", 0},
               {"seq_len", seq_len},
               {"step", 10 * (i + 1)},
               {"global_step", 10 * (i + 1)},
               {"loss", losses[i]},
               {"acc", 0.5},
               {"elapsed_s", 1.0 * (i + 1)}});
  log.write({{"kind", "eval"},
             {"stage", 0},
             {"seq_len", seq_len},
             {"step", 10 * losses.size()},
             {"global_step", 10 * losses.size()},
             {"eval_loss", losses.back()},
             {"eval_acc", eval_acc}});
}

scanlab::nar::study::TrainResult nar_run(const std::string& algorithm, const std::string& processor, uint64_t seed,
                                         double seconds, double id, double ood) {
  scanlab::nar::study::TrainResult r;
  r.options.algorithm = algorithm;
  r.options.processor = processor;
  r.options.seed = seed;
  r.options.steps = 2;
  r.device = "cpu";
  r.losses = {2.0, 1.0};
  r.step_seconds = {seconds / 2, seconds / 2};
  r.val_curve = {{1, id / 2}, {2, id}};
  r.best_step = 2;
  r.best_val = id;
  r.test_score = ood;
  r.train_seconds = seconds;
  r.mean_step_seconds = seconds / 2;
  r.train_unroll_steps = 1;
  return r;
}

const scanlab::report::Claim& claim_with(const std::vector<scanlab::report::Claim>& claims, const std::string& words) {
  for (const auto& c : claims)
    if (c.claim.find(words) != std::string::npos) return c;
  throw std::runtime_error("no claim containing '" + words + "'");
}

std::string read(const fs::path& p) { return scanlab::read_file(p.string()); }

// A run folder with an MQAR sweep where T-PSM c 64 and GPT-2 are near perfect everywhere (agrees),
// the Mamba-like model is near perfect at 512 (disagrees), and c 32 has no run (not established).
fs::path mqar_runs(const std::string& name) {
  const auto dir = scanlab::testing::fresh_temp_dir("report_" + name);
  std::vector<scanlab::train::EvalRow> rows;
  for (int64_t T : {128, 256, 512}) {
    const std::string t = std::to_string(T);
    rows.push_back(eval_row("mqar_T" + t + "_tpsm_c64", T, 0.99));
    rows.push_back(eval_row("mqar_T" + t + "_gpt2", T, 0.995));
    rows.push_back(eval_row("mqar_T" + t + "_mamba", T, T == 512 ? 0.97 : 0.2));
  }
  scanlab::train::write_eval_outputs(rows, (dir / "mqar").string());
  return dir;
}

}  // namespace

TEST(ReportRunNames, ReadTaskModelChunkAndLength) {
  const auto m = scanlab::report::meta_from_name("mqar_T512_tpsm_c32");
  EXPECT_EQ(m.task, "mqar");
  EXPECT_EQ(m.model, "transformer_psm");
  EXPECT_EQ(m.chunk, 32);
  EXPECT_EQ(m.seq_len, 512);
  EXPECT_EQ(scanlab::report::meta_from_name("s5_mamba2").model, "mamba2");  // not mamba
  EXPECT_EQ(scanlab::report::meta_from_name("s3_transformer_psm").task, "s3");
  EXPECT_EQ(scanlab::report::meta_from_name("lm_gpt2").model, "gpt2");
}

TEST(ReportRunNames, TheCheckpointsExperimentWinsOverTheName) {
  const auto dir = scanlab::testing::fresh_temp_dir("report_checkpoint_meta");
  const auto run = dir / "mqar_gpt2_looking_name";
  fs::create_directories(run);
  write_metrics(run, {3.0, 2.0}, 0.5, 64);
  scanlab::io::Safetensors st;
  st.metadata["scanlab.train.experiment"] =
      R"({"name": "x", "task": {"kind": "word_problem", "group": "S5", "seq_len": 4},
          "model": {"model": "transformer_psm", "chunk_size": 1}, "train": {"curriculum": [4, 8, 18]}})";
  scanlab::io::save_safetensors((run / "checkpoint.safetensors").string(), st);
  const auto runs = scanlab::report::discover_runs({dir.string()});
  ASSERT_EQ(runs.training.size(), 1u);
  const auto& m = runs.training.front().meta;
  EXPECT_EQ(m.source, "checkpoint");
  EXPECT_EQ(m.task, "s5");
  EXPECT_EQ(m.model, "transformer_psm");
  EXPECT_EQ(m.chunk, 1);
  EXPECT_EQ(m.seq_len, 18);  // the curriculum's last stage
}

TEST(ReportClaims, MqarOneAgreesOneDisagreesOneNotEstablished) {
  const auto runs = scanlab::report::discover_runs({mqar_runs("mqar").string()});
  const auto claims = scanlab::report::judge_claims(runs);
  EXPECT_EQ(claim_with(claims, "c = 64 is near perfect").verdict, Verdict::Agrees);
  EXPECT_EQ(claim_with(claims, "GPT-2 (full context)").verdict, Verdict::Agrees);
  EXPECT_EQ(claim_with(claims, "Mamba-like model fails").verdict, Verdict::Disagrees);
  EXPECT_EQ(claim_with(claims, "c = 32 degrades").verdict, Verdict::NotEstablished);
  EXPECT_EQ(claim_with(claims, "c = 256 comes close").verdict, Verdict::NotEstablished);
  EXPECT_NE(claim_with(claims, "Mamba-like model fails").measured.find("T 512: 0.9700 (mqar_T512_mamba)"),
            std::string::npos);
}

TEST(ReportClaims, AFailureCountsOnlyWhereAnotherModelLearned) {
  const auto dir = scanlab::testing::fresh_temp_dir("report_undertrained");
  std::vector<scanlab::train::EvalRow> rows;
  for (int64_t T : {128, 256, 512}) {
    rows.push_back(eval_row("mqar_T" + std::to_string(T) + "_tpsm_c64", T, 0.01));
    rows.push_back(eval_row("mqar_T" + std::to_string(T) + "_gpt2", T, T == 128 ? 0.99 : 0.05));
  }
  scanlab::train::write_eval_outputs(rows, dir.string());
  const auto claims = scanlab::report::judge_claims(scanlab::report::discover_runs({dir.string()}));
  // GPT-2 learned T 128, so the T-PSM's failure there counts; GPT-2's own failures count nowhere.
  EXPECT_EQ(claim_with(claims, "c = 64 is near perfect").verdict, Verdict::Disagrees);
  EXPECT_EQ(claim_with(claims, "GPT-2 (full context)").verdict, Verdict::NotEstablished);
}

// Two budgets of one cell in two folders, runs of the same names: the short one evaluated (eval.json
// beside its metrics), the long one only with its training metrics. The long runs are results too
// (an eval row stands for the run of its name in its own folder only), and the best accuracy stands
// for each model: GPT-2's 0.99 from the long folder, not the short folder's evaluated 0.09.
TEST(ReportClaims, RunsOfOneNameInTwoFoldersAreBothResults) {
  const auto dir = scanlab::testing::fresh_temp_dir("report_two_budgets");
  std::vector<scanlab::train::EvalRow> rows;
  for (int64_t T : {128, 256, 512}) {
    const std::string t = std::to_string(T);
    rows.push_back(eval_row("mqar_T" + t + "_gpt2", T, 0.09));
    rows.push_back(eval_row("mqar_T" + t + "_tpsm_c64", T, 0.001));
    fs::create_directories(dir / "short" / ("mqar_T" + t + "_gpt2"));
    write_metrics(dir / "short" / ("mqar_T" + t + "_gpt2"), {8.0, 5.0}, 0.09, T);
    fs::create_directories(dir / "long" / ("mqar_T" + t + "_gpt2"));
    write_metrics(dir / "long" / ("mqar_T" + t + "_gpt2"), {8.0, 0.01}, 0.99, T);
    fs::create_directories(dir / "long" / ("mqar_T" + t + "_tpsm_c64"));
    write_metrics(dir / "long" / ("mqar_T" + t + "_tpsm_c64"), {8.0, 4.0}, 0.4, T);
  }
  scanlab::train::write_eval_outputs(rows, (dir / "short").string());
  const auto claims = scanlab::report::judge_claims(scanlab::report::discover_runs({dir.string()}));
  const auto& gpt2 = claim_with(claims, "GPT-2 (full context)");
  EXPECT_EQ(gpt2.verdict, Verdict::Agrees) << gpt2.measured;
  EXPECT_NE(gpt2.measured.find("T 256: GPT-2 0.9900"), std::string::npos) << gpt2.measured;
  // The T-PSM's best, 0.40 from the long folder, is a counted failure beside GPT-2's 0.99.
  const auto& psm = claim_with(claims, "c = 64 is near perfect");
  EXPECT_EQ(psm.verdict, Verdict::Disagrees) << psm.measured;
  EXPECT_NE(psm.measured.find("T 512: T-PSM c 64 0.4000"), std::string::npos) << psm.measured;
}

// A failure counts only beside a model that learned in no more steps: the T-PSM's 0.40 after 20 steps
// counts beside GPT-2's 0.99 after 20 (an equal budget), a Mamba-like run of 10 steps beside nothing.
TEST(ReportClaims, AFailureCountsOnlyBesideALearnerOfNoLargerBudget) {
  const auto dir = scanlab::testing::fresh_temp_dir("report_budgets");
  for (int64_t T : {128, 256, 512}) {
    const std::string t = std::to_string(T);
    for (const auto& [name, losses, acc] : std::vector<std::tuple<std::string, std::vector<double>, double>>{
             {"gpt2", {8.0, 0.01}, 0.99}, {"tpsm_c64", {8.0, 4.0}, 0.4}, {"mamba", {8.0}, 0.001}}) {
      const auto run = dir / ("mqar_T" + t + "_" + name);
      fs::create_directories(run);
      write_metrics(run, losses, acc, T);  // 10 steps a loss value
    }
  }
  const auto claims = scanlab::report::judge_claims(scanlab::report::discover_runs({dir.string()}));
  const auto& psm = claim_with(claims, "c = 64 is near perfect");
  EXPECT_EQ(psm.verdict, Verdict::Disagrees) << psm.measured;
  EXPECT_NE(psm.measured.find("(mqar_T128_tpsm_c64, 20 steps), best other 0.9900 (mqar_T128_gpt2, 20 steps)"),
            std::string::npos)
      << psm.measured;
  const auto& mamba = claim_with(claims, "Mamba-like model fails");
  EXPECT_EQ(mamba.verdict, Verdict::NotEstablished) << mamba.measured;
  EXPECT_EQ(mamba.measured.find("best other"), std::string::npos) << mamba.measured;
}

TEST(ReportClaims, S5AndLm) {
  const auto dir = scanlab::testing::fresh_temp_dir("report_s5_lm");
  std::vector<scanlab::train::EvalRow> s5, lm;
  for (int64_t len : {18, 50, 82, 114}) {
    s5.push_back(eval_row("s5_transformer_psm", len, 0.99));
    s5.push_back(eval_row("s5_gpt2", len, len == 18 ? 0.98 : 0.3));
  }
  scanlab::train::write_eval_outputs(s5, (dir / "s5").string());
  // Perplexity falls with c at window 512 (agrees); c 256 is 10% above GPT-2 (disagrees).
  for (int64_t c : {32, 64, 128, 256})
    lm.push_back(eval_row("lm_tpsm_c" + std::to_string(c), 512, 0.3, 4.0 - c / 1000.0));
  lm.push_back(eval_row("lm_gpt2", 512, 0.3, std::log(std::exp(4.0 - 0.256) / 1.1)));
  scanlab::train::write_eval_outputs(lm, (dir / "lm").string());
  const auto claims = scanlab::report::judge_claims(scanlab::report::discover_runs({dir.string()}));
  EXPECT_EQ(claim_with(claims, "keeps a low error on S5").verdict, Verdict::Agrees);
  EXPECT_EQ(claim_with(claims, "fail on S5 past").verdict, Verdict::Agrees);
  EXPECT_EQ(claim_with(claims, "improves monotonically").verdict, Verdict::Agrees);
  EXPECT_EQ(claim_with(claims, "c = 256 comes close").verdict, Verdict::Disagrees);

  // A T-PSM that did not learn S5 at the training length says nothing about generalisation.
  std::vector<scanlab::train::EvalRow> unlearned;
  for (int64_t len : {18, 114}) unlearned.push_back(eval_row("s5_transformer_psm", len, 0.07));
  scanlab::train::write_eval_outputs(unlearned, (dir / "s5").string());
  const auto again = scanlab::report::judge_claims(scanlab::report::discover_runs({dir.string()}));
  EXPECT_EQ(claim_with(again, "keeps a low error on S5").verdict, Verdict::NotEstablished);
}

TEST(ReportClaims, NarMajorityOfProcessors) {
  const auto dir = scanlab::testing::fresh_temp_dir("report_nar");
  std::string jsonl;
  for (const char* proc : {"mpnn", "pgn"})
    for (uint64_t seed : {42, 51}) {
      // search: parallel faster and better; sort: parallel faster, ID tied per processor, OOD worse.
      jsonl += scanlab::nar::study::result_to_json(nar_run("binary_search", proc, seed, 10, 0.8, 0.6)) + "\n";
      jsonl += scanlab::nar::study::result_to_json(nar_run("parallel_search", proc, seed, 5, 0.99, 0.98)) + "\n";
      jsonl += scanlab::nar::study::result_to_json(nar_run("bubble_sort", proc, seed, 50, 0.9, 0.6)) + "\n";
      jsonl += scanlab::nar::study::result_to_json(nar_run("odd_even_transposition_sort", proc, seed, 9,
                                                           std::string(proc) == "mpnn" ? 0.95 : 0.85, 0.2)) +
               "\n";
    }
  scanlab::write_file_atomically((dir / "results.jsonl").string(), jsonl);
  const auto claims = scanlab::report::judge_claims(scanlab::report::discover_runs({dir.string()}));
  EXPECT_EQ(claim_with(claims, "train faster: search").verdict, Verdict::Agrees);
  EXPECT_EQ(claim_with(claims, "out of distribution: sort").verdict, Verdict::Disagrees);
  EXPECT_EQ(claim_with(claims, "in distribution: sort").verdict, Verdict::NotEstablished);  // 1 of 2
}

TEST(ReportPage, TablesAndEveryImageExist) {
  const auto dir = mqar_runs("page");
  fs::create_directories(dir / "train" / "mqar_T128_gpt2");
  fs::create_directories(dir / "train" / "mqar_T128_tpsm_c64");
  write_metrics(dir / "train" / "mqar_T128_gpt2", {5.0, 3.0, 1.0}, 0.9, 128);
  write_metrics(dir / "train" / "mqar_T128_tpsm_c64", {5.0, 4.0, 2.0}, 0.4, 128);
  scanlab::bench::DecodeBenchOptions o;
  o.format = "json";
  scanlab::bench::DecodeBenchRow psm{"transformer_psm", 100, {32, 64}, {0.1, 0.1}, {0.2, 0.2}, {1000, 1100}};
  scanlab::bench::DecodeBenchRow gpt2{"gpt2", 100, {32, 64}, {0.1, 0.3}, {0.2, 0.4}, {2000, 4000}};
  fs::create_directories(dir / "decode");
  scanlab::write_file_atomically((dir / "decode" / "decode.json").string(),
                                 scanlab::bench::format_decode_bench({psm, gpt2}, o, "cpu"));
  const auto out = dir / "report";
  const auto s = scanlab::report::write_report({{dir.string()}, out.string(), "test report"});
  EXPECT_EQ(s.training, 2);
  EXPECT_EQ(s.evals, 1);
  EXPECT_EQ(s.decodes, 1);
  const std::string html = read(out / "index.html"), md = read(out / "report.md");
  // Every image and link the page references is there.
  const std::regex ref("(src|href)=\"([^\"#][^\"]*)\"");
  int images = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), ref); it != std::sregex_iterator(); ++it) {
    EXPECT_TRUE(fs::exists(out / (*it)[2].str())) << (*it)[2].str();
    images += (*it)[1].str() == "src";
  }
  EXPECT_GE(images, 4);  // learning curves (loss, accuracy), decode latency and state
  // The same claims table in both forms, verdicts included.
  for (const std::string& words : {"| agrees |", "| disagrees |", "| not established |"})
    EXPECT_NE(md.find(words), std::string::npos) << words;
  EXPECT_NE(html.find("<td class=\"disagrees\">disagrees</td>"), std::string::npos);
  EXPECT_NE(md.find("| mqar_T128_gpt2 | "), std::string::npos);
  EXPECT_NE(html.find("<td>mqar_T128_gpt2</td>"), std::string::npos);
  if (s.png) {
    const std::string png = read(out / s.files.front().substr(0, s.files.front().size() - 4).append(".png"));
    EXPECT_EQ(png.substr(1, 3), "PNG");
  }
  // Rendering again over the same folder skips the report's own output.
  EXPECT_NO_THROW(scanlab::report::write_report({{dir.string()}, out.string(), "again"}));
}

TEST(ReportTables, MarkdownRoundTrip) {
  const scanlab::report::Table t{{"a", "b|c"}, {{"1", "x|y"}, {"2", ""}}};
  const auto back = scanlab::report::table_from_markdown(scanlab::report::table_markdown(t));
  EXPECT_EQ(back.header, t.header);
  EXPECT_EQ(back.rows, t.rows);
}

TEST(ReportErrors, NameTheFolderAndTheLine) {
  using scanlab::testing::error_of;
  EXPECT_NE(error_of([] {
              scanlab::report::discover_runs({"/nonexistent/runs"});
            }).find("'/nonexistent/runs' does not exist"),
            std::string::npos);
  const auto dir = scanlab::testing::fresh_temp_dir("report_bad_jsonl");
  fs::create_directories(dir / "run");
  scanlab::write_file_atomically((dir / "run" / "metrics.jsonl").string(),
                                 "{\"global_step\": 1, \"loss\": 2}\n{\"global_step\": 2, \"loss\"\n");
  const std::string e = error_of([&] { scanlab::report::discover_runs({dir.string()}); });
  EXPECT_NE(e.find("metrics.jsonl line 2: malformed JSON"), std::string::npos) << e;
  scanlab::write_file_atomically((dir / "run" / "metrics.jsonl").string(), "{\"global_step\": 1}\n");
  scanlab::write_file_atomically((dir / "eval.json").string(), "[{\"model\": \"x\"}]\n");
  EXPECT_NE(error_of([&] { scanlab::report::discover_runs({dir.string()}); }).find("eval.json: entry 0 lacks"),
            std::string::npos);
}
