#include "train/trainer.h"

#include <fmt/format.h>
#include <torch/nn/utils/clip_grad.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <optional>

#include "core/atomic_file.h"
#include "core/check.h"
#include "core/memory.h"
#include "core/torch_compat.h"
#include "dist/grad_sync.h"
#include "dist/seq_parallel.h"
#include "models/affine/affine_lm.h"
#include "models/checkpoint.h"
#include "models/model_size.h"
#include "models/registry.h"
#include "models/transformer_psm.h"
#include "tasks/rng.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/data_parallel.h"
#include "train/evaluate.h"
#include "train/run_log.h"

namespace scanlab::train {
namespace {

std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int sig) { g_stop_signal.store(sig); }

// Installs SIGINT/SIGTERM handlers for the scope of a run and restores the previous ones after.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal.store(0);
    prev_int_ = std::signal(SIGINT, on_stop_signal);
    prev_term_ = std::signal(SIGTERM, on_stop_signal);
  }
  ~StopSignals() {
    std::signal(SIGINT, prev_int_);
    std::signal(SIGTERM, prev_term_);
  }
  int received() const { return g_stop_signal.load(); }

 private:
  void (*prev_int_)(int);
  void (*prev_term_)(int);
};

// Sample order of one stage: epochs of a fresh permutation each, from (seed, stage, epoch).
class SampleOrder {
 public:
  SampleOrder(uint64_t seed, int64_t stage, int64_t n) : seed_(seed), stage_(stage), n_(n) {}
  int64_t at(int64_t k) {
    const int64_t epoch = k / n_;
    if (epoch != epoch_) {
      tasks::Rng rng(tasks::splitmix64(
          seed_ ^ tasks::splitmix64(static_cast<uint64_t>(stage_) * 1315423911ULL + static_cast<uint64_t>(epoch))));
      perm_ = tasks::random_permutation(n_, rng);
      epoch_ = epoch;
    }
    return perm_[static_cast<size_t>(k % n_)];
  }

 private:
  uint64_t seed_;
  int64_t stage_, n_, epoch_ = -1;
  std::vector<int64_t> perm_;
};

std::vector<std::pair<std::string, at::Tensor>> named_trainables(models::SequenceModel& model) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& item : model.named_parameters())
    if (item.value().requires_grad()) out.emplace_back(item.key(), item.value());
  return out;
}

double elapsed_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::string checkpoint_path(const ExperimentConfig& cfg) { return cfg.train.out_dir + "/checkpoint.safetensors"; }

namespace {

TrainResult train_model_on(models::SequenceModel& model, const ExperimentConfig& cfg, const RunControl& control,
                           at::Device device, dist::Group& group) {
  const auto& opt = cfg.train;
  const int ranks = group.size(), rank = group.rank();
  const bool root = group.is_root();  // writes the run folder and the output
  std::unique_ptr<dist::SeqParallel> seq;
  models::TransformerPsm* psm = nullptr;
  models::AffineLm* affine = nullptr;
  if (control.seq_parallel) {
    check_seq_parallel(cfg, ranks);
    psm = dynamic_cast<models::TransformerPsm*>(&model);
    affine = dynamic_cast<models::AffineLm*>(&model);
    SCANLAB_CHECK(psm || affine, "--seq-parallel: the model is ", model.kind(),
                  ", neither transformer_psm nor of the affine family");
    seq = std::make_unique<dist::SeqParallel>(group);
  } else {
    check_batch_divides(opt.batch_size, ranks);
  }
  const std::vector<int64_t> stage_lens =
      opt.curriculum.empty() ? std::vector<int64_t>{tasks::task_seq_len(cfg.task)} : opt.curriculum;
  const int64_t n_stages = static_cast<int64_t>(stage_lens.size());
  if (root) std::filesystem::create_directories(opt.out_dir);
  // What the run is, beside its metrics: `scanlab report` reads it when the checkpoint is not kept.
  if (root && cfg.source.is_object())
    write_file_atomically(opt.out_dir + "/experiment.json", cfg.source.dump(1) + "\n");
  TrainResult result;
  result.checkpoint_path = checkpoint_path(cfg);

  Progress prog;
  Checkpoint resumed;
  bool have_resumed_optimizer = false;
  if (control.resume) {
    resumed = load_checkpoint(result.checkpoint_path);
    SCANLAB_CHECK(resumed.model_config == model.config(), result.checkpoint_path,
                  ": --resume: the checkpoint's model configuration ", resumed.model_config.dump(),
                  " differs from this run's ", model.config().dump());
    models::load_weights(model, resumed.model, result.checkpoint_path);
    prog = resumed.progress;
    check_resumable(prog, n_stages, opt.steps, result.checkpoint_path);
    // LibTorch's CPU reductions split work by thread count, so another count changes the sums' order.
    if (root && device.is_cpu() && prog.threads > 0 && prog.threads != at::get_num_threads())
      std::cerr << "scanlab: warning: resuming with " << at::get_num_threads() << " CPU threads; the checkpoint was "
                << "written with " << prog.threads << ", so from here on the run can differ from an uninterrupted "
                << "one (pass --threads " << prog.threads << " to continue it exactly)\n";
    have_resumed_optimizer = prog.step > 0;
    restore_rng(resumed.rng, device);
  } else {
    torch::manual_seed(opt.seed);
  }
  // Every rank starts from rank 0's weights (a fresh init is the same everywhere already, from the seed).
  group.broadcast(model.parameters(), 0, "the initial weights' broadcast");
  std::optional<MetricsLog> metrics;
  if (root) metrics.emplace(opt.out_dir, control.resume ? prog.global_step : -1);
  auto write_metrics = [&](const nlohmann::json& record) {
    if (metrics) metrics->write(record);
  };
  ProgressBar bar(control.progress && root);
  StopSignals signals;
  // The signal any rank received (SIGINT first), so that all stop at the same step; with `totals`,
  // the ranks' training-batch totals are added up in the same collective.
  auto agreed_signal = [&](tasks::EvalTotals* totals) {
    if (ranks == 1) return signals.received();
    const int local = signals.received();
    std::vector<double> v{local == SIGINT ? 1.0 : 0.0, local != 0 && local != SIGINT ? 1.0 : 0.0, 0, 0, 0};
    if (totals) v = {v[0], v[1], totals->loss_sum, double(totals->correct), double(totals->total)};
    v = group.reduce_values(v, dist::Group::Reduce::Sum, "the step's agreement");
    if (totals) {
      totals->loss_sum = v[2];
      totals->correct = static_cast<int64_t>(v[3]);
      totals->total = static_cast<int64_t>(v[4]);
    }
    return v[0] > 0 ? SIGINT : v[1] > 0 ? SIGTERM : 0;
  };
  std::unique_ptr<dist::GradSync> grad_sync;
  if (ranks > 1) {
    std::vector<at::Tensor> trainable;
    for (auto& [name, p] : named_trainables(model)) trainable.push_back(p);
    grad_sync = std::make_unique<dist::GradSync>(group, trainable, control.bucket_bytes);
  }
  const auto t0 = std::chrono::steady_clock::now();
  // Sequence parallel ranks all take the whole micro-batch (data_ranks 1).
  const int data_ranks = seq ? 1 : ranks, data_rank = seq ? 0 : rank;
  const int64_t examples_per_step = opt.batch_size * opt.grad_accum, local_batch = opt.batch_size / data_ranks;

  for (; prog.stage < n_stages && !prog.done; ++prog.stage, prog.step = 0) {
    const int64_t seq_len = stage_lens[static_cast<size_t>(prog.stage)];
    auto task = tasks::make_task(cfg.task, opt.curriculum.empty() ? 0 : seq_len);
    SCANLAB_CHECK(task->vocab_size() <= model.vocab_size(), "the task's vocabulary (", task->vocab_size(),
                  ") is larger than the model's (", model.vocab_size(), ")");
    AdamW adam(named_trainables(model), {opt.beta1, opt.beta2, opt.eps, opt.weight_decay});
    if (have_resumed_optimizer) adam.load_state(resumed.optimizer);
    have_resumed_optimizer = false;
    SampleOrder order(opt.seed, prog.stage, task->num_examples(tasks::Split::Train));
    StageSummary summary{seq_len, 0, NAN, NAN, false};
    if (prog.step == 0) {
      prog.best_eval_loss = INFINITY;
      prog.evals_since_best = 0;
    }
    const std::string label =
        "stage " + std::to_string(prog.stage + 1) + "/" + std::to_string(n_stages) + " T=" + std::to_string(seq_len);
    bar.start_stage(label, prog.step, opt.steps);
    model.train();

    auto save = [&](bool stage_finished) {
      if (!root) return;
      Checkpoint c;
      c.progress = prog;
      c.progress.threads = at::get_num_threads();
      if (stage_finished) {  // the next run starts the next stage with a fresh optimizer
        c.progress.stage += 1;
        c.progress.step = 0;
        c.progress.done = c.progress.stage >= n_stages;
      }
      const models::ModelFile weights = models::model_file_of(model, task->tokenizer_description());
      c.model = weights.weights;
      c.tokenizer = weights.tokenizer;
      c.optimizer = adam.state();
      c.rng = capture_rng(device);
      c.config = cfg.source;
      c.model_config = weights.config;
      save_checkpoint(result.checkpoint_path, c);
    };
    auto run_eval = [&]() {
      const int64_t n = std::min(opt.eval_examples, task->num_examples(tasks::Split::Validation));
      const auto [first, count] = shard_of(n, rank, ranks);
      auto totals = evaluate_range(model, *task, tasks::Split::Validation, first, count, opt.eval_batch_size,
                                   EvalMode::Parallel, device, opt.bf16);
      sum_over_ranks(group, totals, "the evaluation's sums");
      summary.eval_loss = totals.mean_loss();
      summary.eval_acc = totals.accuracy();
      write_metrics({{"kind", "eval"},
                     {"stage", prog.stage},
                     {"seq_len", seq_len},
                     {"step", prog.step},
                     {"global_step", prog.global_step},
                     {"eval_loss", summary.eval_loss},
                     {"eval_acc", summary.eval_acc},
                     {"elapsed_s", elapsed_since(t0)}});
      if (!control.quiet && root) {
        bar.finish();
        std::cout << label << " step " << prog.step << ": eval loss " << summary.eval_loss << ", accuracy "
                  << summary.eval_acc << std::endl;
      }
      if (summary.eval_loss < prog.best_eval_loss) {
        prog.best_eval_loss = summary.eval_loss;
        prog.evals_since_best = 0;
      } else {
        ++prog.evals_since_best;
      }
      return (opt.early_stop_loss > 0 && summary.eval_loss < opt.early_stop_loss) ||
             (opt.early_stop_accuracy >= 0 && summary.eval_acc >= opt.early_stop_accuracy) ||
             (opt.patience > 0 && prog.evals_since_best >= opt.patience);
    };

    bool stage_over = false;
    while (prog.step < opt.steps && !stage_over) {
      const double lr = scheduled_lr(prog.step, opt.steps, opt.warmup_steps, opt.lr, opt.min_lr_ratio);
      // Ranks draw dropout from streams of their own, fixed by (seed, rank, step): masks differ between
      // ranks, and a run resumed with the same number of ranks draws them again exactly.
      if (ranks > 1)
        torch::manual_seed(tasks::splitmix64(opt.seed ^ tasks::splitmix64(static_cast<uint64_t>(rank) * 2654435761ULL +
                                                                          static_cast<uint64_t>(prog.global_step))));
      adam.zero_grad();
      double step_loss = 0;
      tasks::EvalTotals batch_totals;
      for (int64_t micro = 0; micro < opt.grad_accum; ++micro) {
        std::vector<int64_t> idx(static_cast<size_t>(local_batch));
        const int64_t first = prog.step * examples_per_step + micro * opt.batch_size + data_rank * local_batch;
        for (int64_t b = 0; b < local_batch; ++b) idx[static_cast<size_t>(b)] = order.at(first + b);
        auto batch = task->examples(tasks::Split::Train, idx);
        auto labels = batch.labels.to(device);
        auto alignment = task->alignment();
        at::Tensor loss, logits;
        double value = 0;
        {
          CudaBf16Autocast autocast(opt.bf16 && device.is_cuda());
          if (seq) {
            // This rank's block of every sequence, its labels aligned with its logits.
            const int64_t t = batch.inputs.size(1);
            const auto [tok_first, tok_count] = psm ? seq->token_range(t, psm->options().chunk_size)
                                                    : seq->affine_token_range(t, affine->options().chunk_len);
            const at::Tensor block = batch.inputs.to(device).slice(1, tok_first, tok_first + tok_count);
            logits = psm ? seq->psm_forward(*psm, block, t) : seq->affine_lm_forward(*affine, block, t);
            labels = block_labels(labels, tok_first, tok_count, alignment);
            alignment = tasks::LossAlignment::Unshifted;
          } else {
            logits = model.forward(batch.inputs.to(device));
          }
          if (ranks == 1) {
            loss = tasks::task_loss(logits, labels, alignment);
            value = loss.item<double>();
          } else {
            auto part = data_parallel_loss(group, logits, labels, alignment);
            loss = part.loss;
            value = part.value;
          }
        }
        SCANLAB_CHECK(std::isfinite(value), "training loss is ", value, " at step ", prog.global_step + 1, " (stage ",
                      prog.stage + 1, ", stage step ", prog.step + 1, ", micro-batch ", micro + 1,
                      "); lower train.lr, keep train.clip_norm on, or check the data");
        const bool reduce = grad_sync && micro + 1 == opt.grad_accum;  // earlier micro-batches accumulate locally
        // Sequence parallel: the block-state exchanges' all-reduces run inside the backward pass in an
        // order the ranks' (different) graphs decide, so the gradient buckets must not overlap them:
        // they all start after it. A parameter no Agg call of this rank reached gets a zero gradient,
        // so every rank steps every parameter alike.
        if (reduce && !seq) grad_sync->arm();
        (loss / static_cast<double>(opt.grad_accum)).backward();
        if (seq) {
          seq->finish_backward();
          if (reduce) {
            for (auto& p : model.parameters())
              if (p.requires_grad() && !p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
            grad_sync->arm();
          }
        }
        if (reduce) grad_sync->finish();
        step_loss += value / static_cast<double>(opt.grad_accum);
        if (micro + 1 == opt.grad_accum) batch_totals.add(logits.detach(), labels, alignment);
      }
      const int stop_signal = agreed_signal(&batch_totals);
      double grad_norm = 0;
      {
        std::vector<at::Tensor> params;
        for (auto& p : model.parameters())
          if (p.grad().defined()) params.push_back(p);
        grad_norm = opt.clip_norm > 0 ? torch::nn::utils::clip_grad_norm_(params, opt.clip_norm) : 0.0;
      }
      adam.step(lr);
      ++prog.step;
      ++prog.global_step;
      ++summary.steps;
      result.step_losses.push_back(step_loss);
      bar.update(prog.step, step_loss, batch_totals.accuracy(), lr);
      if (prog.step % opt.log_every == 0 || prog.step == opt.steps)
        write_metrics({{"kind", "train"},
                       {"stage", prog.stage},
                       {"seq_len", seq_len},
                       {"step", prog.step},
                       {"global_step", prog.global_step},
                       {"lr", lr},
                       {"loss", step_loss},
                       {"acc", batch_totals.accuracy()},
                       {"grad_norm", grad_norm},
                       {"elapsed_s", elapsed_since(t0)}});
      if (opt.eval_every > 0 && prog.step % opt.eval_every == 0 && prog.step < opt.steps) {
        stage_over = run_eval();
        summary.early_stopped = stage_over;
      }
      const bool stop_now =
          stop_signal != 0 || (control.stop_after_steps >= 0 && prog.global_step >= control.stop_after_steps);
      if (stop_now && prog.step < opt.steps && !stage_over) {
        save(false);
        bar.finish();
        result.interrupted = true;
        result.stop_signal = stop_signal;
        result.global_step = prog.global_step;
        if (stop_signal != 0 && root)
          std::cerr << "scanlab: signal " << stop_signal << " received; checkpoint saved at step " << prog.global_step
                    << " (continue with --resume)\n";
        agreed_signal(nullptr);  // every rank waits for rank 0's checkpoint
        return result;
      }
      if (opt.checkpoint_every > 0 && prog.global_step % opt.checkpoint_every == 0) save(false);
    }
    if (!summary.early_stopped) summary.early_stopped = run_eval();
    bar.finish();
    result.stages.push_back(summary);
    save(true);
    const int stop_signal = agreed_signal(nullptr);  // also: every rank waits for rank 0's checkpoint
    if (stop_signal != 0 ||
        (control.stop_after_steps >= 0 && prog.global_step >= control.stop_after_steps && prog.stage + 1 < n_stages)) {
      result.interrupted = true;
      result.stop_signal = stop_signal;
      result.global_step = prog.global_step;
      return result;
    }
  }
  result.global_step = prog.global_step;
  return result;
}

}  // namespace

TrainResult train_model(models::SequenceModel& model, const ExperimentConfig& cfg, const RunControl& control,
                        at::Device device) {
  if (!control.group || control.group->size() == 1) {
    dist::Group alone;
    return train_model_on(model, cfg, control, device, alone);
  }
  try {
    return train_model_on(model, cfg, control, device, *control.group);
  } catch (const std::exception& e) {
    control.group->post_error(e.what());  // the other ranks quote it when they stop
    throw;
  }
}

namespace {

int64_t longest_stage(const ExperimentConfig& cfg) {
  const auto& c = cfg.train.curriculum;
  return c.empty() ? tasks::task_seq_len(cfg.task) : *std::max_element(c.begin(), c.end());
}

// The model's config with the task's vocabulary filled in when the experiment leaves it out.
nlohmann::json experiment_model_config(const ExperimentConfig& cfg) {
  auto model_cfg = cfg.model;
  if (!model_cfg.contains("vocab_size")) model_cfg["vocab_size"] = tasks::task_vocab_size(cfg.task);
  return model_cfg;
}

}  // namespace

void check_experiment_model(const ExperimentConfig& cfg, const std::string& source) {
  try {
    models::model_parameters(experiment_model_config(cfg));  // the registry's checks of every key, nothing built
  } catch (const Error& e) {
    SCANLAB_FAIL(source, ": ", e.what());
  }
}

void check_training_fits(const ExperimentConfig& cfg, at::Device device) {
  const nlohmann::json model_cfg = experiment_model_config(cfg);
  const int64_t batch = std::max(cfg.train.batch_size, cfg.train.eval_batch_size), T = longest_stage(cfg);
  check_fits_in_memory(
      models::training_bytes(model_cfg, static_cast<double>(batch), static_cast<double>(T)), device,
      fmt::format("train: a {} of {:.4g} parameters (with gradients and AdamW moments) on batches "
                  "of {} x {} tokens (batch_size / eval_batch_size x seq_len)",
                  model_cfg.value("model", std::string("model")), models::model_parameters(model_cfg), batch, T));
}

std::shared_ptr<models::SequenceModel> make_experiment_model(const ExperimentConfig& cfg) {
  return models::make_model(experiment_model_config(cfg));
}

TrainResult train_experiment(const ExperimentConfig& cfg, const RunControl& control, at::Device device) {
  check_training_fits(cfg, device);
  torch::manual_seed(cfg.train.seed);  // model initialisation
  auto model = make_experiment_model(cfg);
  if (cfg.train.dtype == "float64") model->to(at::kDouble);
  model->to(device);
  return train_model(*model, cfg, control, device);
}

}  // namespace scanlab::train
