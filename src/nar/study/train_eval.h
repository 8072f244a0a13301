// Training and evaluation of one GNN on one algorithm (Engelmayer et al. 2023, CLRS): fixed train / val / test
// splits, Adam, batches walking the training set in a fixed order, validation every `eval_every`
// steps, the best-validation parameters restored for the final test. Per-step wall time is taken
// around forward + backward + update (device synchronised), the first `warmup_steps` excluded.
#pragma once
#include <c10/core/Device.h>

#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "nar/gnn/evaluation.h"
#include "nar/gnn/features.h"
#include "nar/gnn/net.h"

namespace scanlab::nar::study {

struct TrainOptions {
  std::string algorithm;
  std::string processor = "mpnn";
  int64_t hidden = 128;
  int64_t batch_size = 32;
  int64_t steps = 500;
  int64_t eval_every = 25;
  double learning_rate = 1e-3;
  double grad_clip = 0.0;  // max global norm; 0 = none
  bool layer_norm = false;
  int64_t heads = 1;
  double teacher_forcing = 0.0;
  std::string hint_feedback = "soft";  // soft | hard
  bool use_hints = true;
  bool random_pos = true;  // train and val; test keeps linear positions
  bool enforce_permutations = true;
  bool pred_as_input = true;  // constant `pred_h` hints become the input `pred`
  uint64_t seed = 42;         // model seed = seed + 1, as the paper's driver
  int64_t warmup_steps = 1;   // excluded from the timing
  // Split sizes (eval splits are multiplied by the algorithm's multiplier by the split maker).
  int64_t train_samples = 1000, train_nodes = 16;
  int64_t eval_samples = 32, val_nodes = 16, test_nodes = 64;
  // Also score the test split at every validation (an OOD learning curve, `test_curve`). It changes
  // nothing else: the best-validation checkpoint is still the one restored and reported.
  bool track_test = false;

  // Every option once: its key in results and checkpoints, its `nar train` flag ("" for none; the
  // first three only where the command trains one algorithm) and the flag's help. The JSON writer,
  // the strict reader of saved options and the CLI's flags all walk this list.
  template <class F>
  static void for_each_field(F&& f) {
    f("algorithm", &TrainOptions::algorithm, "--algorithm", "algorithm to learn");
    f("processor", &TrainOptions::processor, "--processor", "deepsets, gat, mpnn, pgn, triplet_gmpnn, ...");
    f("seed", &TrainOptions::seed, "--seed-run", "run seed (model seed = seed + 1)");
    f("hidden", &TrainOptions::hidden, "--hidden", "hidden size H");
    f("batch_size", &TrainOptions::batch_size, "--batch", "batch size");
    f("steps", &TrainOptions::steps, "--steps", "training steps");
    f("eval_every", &TrainOptions::eval_every, "--eval-every", "validate every N steps");
    f("learning_rate", &TrainOptions::learning_rate, "--lr", "Adam learning rate");
    f("grad_clip", &TrainOptions::grad_clip, "--grad-clip", "max global gradient norm (0 = none)");
    f("layer_norm", &TrainOptions::layer_norm, "--layer-norm", "LayerNorm in the processor (true/false)");
    f("heads", &TrainOptions::heads, "--heads", "GAT heads");
    f("teacher_forcing", &TrainOptions::teacher_forcing, "--teacher-forcing", "probability of feeding true hints");
    f("hint_feedback", &TrainOptions::hint_feedback, "--hint-feedback", "soft or hard predicted hints");
    f("use_hints", &TrainOptions::use_hints, "--hints", "encode and decode hints (true/false)");
    f("random_pos", &TrainOptions::random_pos, "--random-pos", "random positions in train/val (true/false)");
    f("enforce_permutations", &TrainOptions::enforce_permutations, "", "");
    f("pred_as_input", &TrainOptions::pred_as_input, "", "");
    f("warmup_steps", &TrainOptions::warmup_steps, "--warmup", "steps excluded from the timing");
    f("train_samples", &TrainOptions::train_samples, "--train-samples", "training set size");
    f("train_nodes", &TrainOptions::train_nodes, "--train-nodes", "n of training samples");
    f("eval_samples", &TrainOptions::eval_samples, "--eval-samples",
      "val/test samples before the algorithm's multiplier");
    f("val_nodes", &TrainOptions::val_nodes, "--val-nodes", "n of validation (ID) samples");
    f("test_nodes", &TrainOptions::test_nodes, "--test-nodes", "n of test (OOD) samples");
    f("track_test", &TrainOptions::track_test, "--track-test",
      "also score the test split at every validation (OOD learning curve; true/false)");
  }
};

// The paper's protocol (Engelmayer et al. 2023) and the CLRS default (10,000 steps, clipping 1.0, LayerNorm,
// Triplet-GMPNN).
TrainOptions paper_protocol();
TrainOptions clrs_protocol();
// "paper" or "clrs"; throws naming the value otherwise.
TrainOptions protocol_by_name(const std::string& name);

// Every option within its range, then the memory a run of them needs against what `device` has
// (a rough float32 message per edge and hidden unit, kept for about n processor steps in training).
// Errors name `source` ("nar train", or the checkpoint file the options were read from) and the
// option's flag.
void check_train_options(const TrainOptions& o, const std::string& source, at::Device device);
// The memory estimate alone: `batch` graphs of `nodes` nodes at width `hidden`.
double gnn_bytes(int64_t batch, int64_t nodes, int64_t hidden, bool training);

// Splits with the dataset transforms applied (nar/study/data.h): permutations encoded, constant
// pred_h moved to inputs, random positions in val. The trainer re-draws training positions per step.
struct Splits {
  gnn::FeatureBatch train, val, test;
};

struct EvalPoint {
  int64_t step;
  double score;
};

struct TrainResult {
  TrainOptions options;
  std::string device;
  std::vector<double> losses;        // per training step
  std::vector<double> step_seconds;  // per training step (warm-up included; see train_seconds)
  std::vector<EvalPoint> val_curve;
  std::vector<EvalPoint> test_curve;  // only with options.track_test: test score at every validation
  int64_t best_step = -1;
  double best_val = 0.0;    // ID score (n = val_nodes) of the restored parameters
  double test_score = 0.0;  // OOD score (n = test_nodes)
  std::map<std::string, double> test_per_output;
  double train_seconds = 0.0;  // sum of step times after warm-up
  double mean_step_seconds = 0.0;
  double train_unroll_steps = 0.0;  // mean processor steps per training batch (its longest sample - 1)
};

// Replaces every sample's `pos` input by sorted U[0,1] values drawn from `gen`.
void randomize_positions(gnn::FeatureBatch& b, at::Generator gen);

// Rows [begin, end) of a batch (hints keep their full time axis).
gnn::FeatureBatch slice_batch(const gnn::FeatureBatch& b, int64_t begin, int64_t end);

gnn::NetOptions net_options(const TrainOptions& o);

// Scores a prepared split in batches of `batch_size` (eval mode, no gradients).
gnn::OutputScores evaluate_split(gnn::Net& net, const gnn::FeatureBatch& split, int64_t batch_size, at::Device device);

// Parameters and the options that built them, as safetensors (options in the metadata as JSON).
void save_checkpoint(const std::string& path, gnn::Net& net, const TrainOptions& o);
// Reads the options stored in a checkpoint; `load_checkpoint_into` copies its parameters into a net
// built with those options (throws naming any missing or mis-shaped parameter).
TrainOptions checkpoint_options(const std::string& path);
void load_checkpoint_into(const std::string& path, gnn::Net& net);

// `progress`, when given, gets one line per validation (step, score, mean ms per step so far).
TrainResult train_and_evaluate(const TrainOptions& o, const Splits& splits, at::Device device,
                               std::shared_ptr<gnn::Net>* trained = nullptr, std::ostream* progress = nullptr);

// A human-readable summary of one run (what `scanlab nar train` prints).
// Processor steps per training batch: whole numbers as such, means of varying lengths with one decimal.
std::string format_unroll_steps(double steps);
std::string format_run(const TrainResult& r);

// One JSON object per line (JSONL) / one CSV row per run.
std::string result_to_json(const TrainResult& r);
// The inverse of result_to_json; throws naming what is missing or mistyped.
TrainResult result_from_json(const std::string& line);
std::string csv_header();
std::string result_to_csv_row(const TrainResult& r);

}  // namespace scanlab::nar::study
