#include "nar/study/train_eval.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/device_sync.h"
#include "core/memory.h"
#include "core/strict_json.h"
#include "io/safetensors.h"

namespace scanlab::nar::study {

using gnn::Feature;
using gnn::FeatureBatch;

TrainOptions paper_protocol() { return TrainOptions{}; }

TrainOptions clrs_protocol() {
  TrainOptions o;
  o.processor = "triplet_gmpnn";
  o.steps = 10000;
  o.eval_every = 50;
  o.grad_clip = 1.0;
  o.layer_norm = true;
  return o;
}

TrainOptions protocol_by_name(const std::string& name) {
  if (name == "paper") return paper_protocol();
  if (name == "clrs") return clrs_protocol();
  SCANLAB_FAIL("unknown protocol '", name, "'; expected paper or clrs");
}

void randomize_positions(FeatureBatch& b, at::Generator gen) {
  for (auto& f : b.inputs) {
    if (f.entry.name != "pos") continue;
    // Sorted U[0,1] per sample (CLRS process_random_pos): node identities that keep their order but
    // carry no size-dependent spacing the model could overfit to.
    const at::Tensor u = at::rand(f.data.sizes(), gen, at::TensorOptions().dtype(at::kDouble));
    f.data = std::get<0>(u.sort(-1)).to(f.data.scalar_type()).to(f.data.device());
  }
}

FeatureBatch slice_batch(const FeatureBatch& b, int64_t begin, int64_t end) {
  return gnn::map_batch(b, [&](const at::Tensor& t, int64_t axis) { return t.slice(axis, begin, end); });
}

namespace {
constexpr int64_t kMaxHidden = 1 << 16;
}  // namespace

double gnn_bytes(int64_t batch, int64_t nodes, int64_t hidden, bool training) {
  const double n = static_cast<double>(nodes);
  const double per_step = 2.0 * 4.0 * static_cast<double>(batch) * n * n * static_cast<double>(hidden);
  const double weights = 16.0 * 24.0 * static_cast<double>(hidden) * static_cast<double>(hidden);
  return weights + (training ? n : 1.0) * per_step;
}

void check_train_options(const TrainOptions& o, const std::string& source, at::Device device) {
  auto in_range = [&](const char* flag, double value, double lo, double hi) {
    SCANLAB_CHECK(std::isfinite(value) && value >= lo && value <= hi, source, ": ", flag, " is ", value, "; expected ",
                  lo, " to ", hi);
  };
  const double big = 1e15;
  in_range("--hidden", static_cast<double>(o.hidden), 1, kMaxHidden);
  in_range("--batch", static_cast<double>(o.batch_size), 1, big);
  in_range("--steps", static_cast<double>(o.steps), 1, big);
  in_range("--eval-every", static_cast<double>(o.eval_every), 1, big);
  in_range("--warmup", static_cast<double>(o.warmup_steps), 0, big);
  in_range("--heads", static_cast<double>(o.heads), 1, static_cast<double>(o.hidden));
  in_range("--train-samples", static_cast<double>(o.train_samples), 1, big);
  in_range("--eval-samples", static_cast<double>(o.eval_samples), 1, big);
  in_range("--train-nodes", static_cast<double>(o.train_nodes), 1, big);
  in_range("--val-nodes", static_cast<double>(o.val_nodes), 1, big);
  in_range("--test-nodes", static_cast<double>(o.test_nodes), 1, big);
  SCANLAB_CHECK(std::isfinite(o.learning_rate) && o.learning_rate > 0, source, ": --lr is ", o.learning_rate,
                "; expected a positive learning rate");
  in_range("--grad-clip", o.grad_clip, 0, 1e300);
  in_range("--teacher-forcing", o.teacher_forcing, 0, 1);
  SCANLAB_CHECK(o.hint_feedback == "soft" || o.hint_feedback == "hard", source, ": --hint-feedback is '",
                o.hint_feedback, "'; expected soft or hard");
  const int64_t eval_nodes = std::max(o.val_nodes, o.test_nodes);
  check_fits_in_memory(std::max(gnn_bytes(o.batch_size, o.train_nodes, o.hidden, true),
                                gnn_bytes(o.batch_size, eval_nodes, o.hidden, false)),
                       device,
                       fmt::format("{}: a {} processor of --hidden {} on batches of {} graphs (--batch) of {} nodes "
                                   "(--train-nodes; {} to evaluate)",
                                   source, o.processor, o.hidden, o.batch_size, o.train_nodes, eval_nodes));
}

gnn::NetOptions net_options(const TrainOptions& o) {
  gnn::NetOptions n;
  n.processor.kind = o.processor;
  n.processor.hidden = o.hidden;
  n.processor.heads = o.heads;
  n.processor.layer_norm = o.layer_norm;
  n.use_hints = o.use_hints;
  SCANLAB_CHECK(o.hint_feedback == "soft" || o.hint_feedback == "hard", "hint feedback '", o.hint_feedback,
                "' is not soft or hard");
  n.hint_feedback = o.hint_feedback == "soft" ? gnn::Postprocess::Soft : gnn::Postprocess::Hard;
  n.teacher_forcing = o.teacher_forcing;
  return n;
}

gnn::OutputScores evaluate_split(gnn::Net& net, const FeatureBatch& split, int64_t batch_size, at::Device device) {
  at::NoGradGuard no_grad;
  const bool was_training = net.is_training();
  net.eval();
  std::map<std::string, std::vector<at::Tensor>> parts;
  const int64_t total = split.batch_size();
  for (int64_t begin = 0; begin < total; begin += batch_size) {
    const FeatureBatch batch = slice_batch(split, begin, std::min(total, begin + batch_size)).to(device);
    for (auto& [name, t] : gnn::hard_outputs(net.forward(batch), net)) parts[name].push_back(t.to(at::kCPU));
  }
  net.train(was_training);
  std::map<std::string, at::Tensor> hard;
  for (auto& [name, ts] : parts) hard[name] = at::cat(ts, 0);
  return gnn::score_outputs(hard, split.outputs);
}

TrainResult train_and_evaluate(const TrainOptions& o, const Splits& splits, at::Device device,
                               std::shared_ptr<gnn::Net>* trained, std::ostream* progress) {
  check_train_options(o, "nar train", device);
  TrainResult r;
  r.options = o;
  r.device = device.str();
  at::Generator pos_gen = at::detail::createCPUGenerator(o.seed);
  const FeatureBatch& train = splits.train;
  const FeatureBatch& val = splits.val;
  const FeatureBatch& test = splits.test;
  train.validate();
  val.validate();
  test.validate();
  SCANLAB_CHECK(train.batch_size() >= o.batch_size, "the training split has ", train.batch_size(),
                " samples, fewer than one batch of ", o.batch_size);

  torch::manual_seed(o.seed + 1);
  auto net = std::make_shared<gnn::Net>(train, net_options(o));
  net->to(device);
  net->train();
  torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(o.learning_rate));

  std::vector<at::Tensor> best;
  auto snapshot = [&] {
    best.clear();
    for (const auto& p : net->parameters()) best.push_back(p.detach().clone());
  };
  const int64_t n_train = train.batch_size();
  const int64_t batches_per_epoch = n_train / o.batch_size;
  int64_t unrolled = 0;
  for (int64_t step = 0; step < o.steps; ++step) {
    const int64_t begin = (step % batches_per_epoch) * o.batch_size;
    FeatureBatch batch = slice_batch(train, begin, begin + o.batch_size);
    if (o.random_pos) randomize_positions(batch, pos_gen);  // fresh positions every step
    batch = batch.to(device);
    synchronize(device);
    const auto t0 = std::chrono::steady_clock::now();
    adam.zero_grad();
    const gnn::NetPrediction pred = net->forward(batch);
    unrolled += pred.steps;
    const at::Tensor loss = gnn::net_loss(pred, batch, *net);
    loss.backward();
    if (o.grad_clip > 0) torch::nn::utils::clip_grad_norm_(net->parameters(), o.grad_clip);
    adam.step();
    synchronize(device);
    r.step_seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    r.losses.push_back(loss.item<double>());
    SCANLAB_CHECK(std::isfinite(r.losses.back()), "training loss became ", r.losses.back(), " at step ", step);
    if ((step + 1) % o.eval_every == 0 || step + 1 == o.steps) {
      const double score = evaluate_split(*net, val, o.batch_size, device).score;
      r.val_curve.push_back({step + 1, score});
      if (o.track_test) r.test_curve.push_back({step + 1, evaluate_split(*net, test, o.batch_size, device).score});
      if (progress) {
        double sum = 0;
        for (double t : r.step_seconds) sum += t;
        *progress << fmt::format("  {} {} seed {}: step {}/{}, val {:.3f}{}, {:.1f} ms/step\n", o.algorithm,
                                 o.processor, o.seed, step + 1, o.steps, score,
                                 o.track_test ? fmt::format(", test {:.3f}", r.test_curve.back().score) : "",
                                 1e3 * sum / static_cast<double>(r.step_seconds.size()));
        progress->flush();
      }
      if (r.best_step < 0 || score > r.best_val) {
        r.best_val = score;
        r.best_step = step + 1;
        snapshot();
      }
    }
  }
  {
    at::NoGradGuard no_grad;
    auto params = net->parameters();
    for (size_t k = 0; k < params.size(); ++k) params[k].copy_(best[k]);
  }
  r.train_unroll_steps = static_cast<double>(unrolled) / static_cast<double>(o.steps);
  const gnn::OutputScores t = evaluate_split(*net, test, o.batch_size, device);
  r.test_score = t.score;
  r.test_per_output = t.per_output;
  for (size_t k = static_cast<size_t>(std::max<int64_t>(0, o.warmup_steps)); k < r.step_seconds.size(); ++k) {
    r.train_seconds += r.step_seconds[k];
  }
  const int64_t timed = static_cast<int64_t>(r.step_seconds.size()) - std::max<int64_t>(0, o.warmup_steps);
  r.mean_step_seconds = timed > 0 ? r.train_seconds / static_cast<double>(timed) : 0.0;
  if (trained) *trained = net;
  return r;
}

namespace {
nlohmann::json options_json(const TrainOptions& o) {
  nlohmann::json j = nlohmann::json::object();
  TrainOptions::for_each_field([&](const char* key, auto member, const char*, const char*) { j[key] = o.*member; });
  if (!o.track_test) j.erase("track_test");  // written only when set, so older results keep their form
  return j;
}

// Saved options (a checkpoint's metadata, a results file) read as strictly as a config: a key of
// another version or a value of the wrong type is an error naming it, not a silently default field.
TrainOptions options_from_json(const nlohmann::json& j) {
  TrainOptions o;
  StrictJson r(j, "nar options");
  TrainOptions::for_each_field([&](const char* key, auto member, const char*, const char*) { r.read(key, o.*member); });
  r.finish();
  return o;
}
}  // namespace

std::string result_to_json(const TrainResult& r) {
  nlohmann::json val = nlohmann::json::array();
  for (const auto& p : r.val_curve) val.push_back({p.step, p.score});
  nlohmann::json j = {{"options", options_json(r.options)},
                      {"device", r.device},
                      {"losses", r.losses},
                      {"step_seconds", r.step_seconds},
                      {"val_curve", val},
                      {"best_step", r.best_step},
                      {"best_val", r.best_val},
                      {"test_score", r.test_score},
                      {"test_per_output", r.test_per_output},
                      {"train_seconds", r.train_seconds},
                      {"mean_step_seconds", r.mean_step_seconds},
                      {"train_unroll_steps", r.train_unroll_steps}};
  if (!r.test_curve.empty()) {
    nlohmann::json test = nlohmann::json::array();
    for (const auto& p : r.test_curve) test.push_back({p.step, p.score});
    j["test_curve"] = test;
  }
  return j.dump();
}

TrainResult result_from_json(const std::string& line) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    SCANLAB_FAIL("a study result line is not JSON (", e.what(), ")");
  }
  SCANLAB_CHECK(j.is_object() && j.contains("options") && j.contains("val_curve") && j.contains("test_score"),
                "a study result line lacks options, val_curve or test_score; expected a line of results.jsonl");
  TrainResult r;
  try {
    r.options = options_from_json(j.at("options"));
    r.device = j.value("device", "");
    j.at("losses").get_to(r.losses);
    j.at("step_seconds").get_to(r.step_seconds);
    for (const auto& p : j.at("val_curve")) r.val_curve.push_back({p.at(0).get<int64_t>(), p.at(1).get<double>()});
    if (j.contains("test_curve"))
      for (const auto& p : j.at("test_curve")) r.test_curve.push_back({p.at(0).get<int64_t>(), p.at(1).get<double>()});
    j.at("best_step").get_to(r.best_step);
    j.at("best_val").get_to(r.best_val);
    j.at("test_score").get_to(r.test_score);
    j.at("test_per_output").get_to(r.test_per_output);
    j.at("train_seconds").get_to(r.train_seconds);
    j.at("mean_step_seconds").get_to(r.mean_step_seconds);
    j.at("train_unroll_steps").get_to(r.train_unroll_steps);
  } catch (const nlohmann::json::exception& e) {
    SCANLAB_FAIL("a study result line has a missing or mistyped field (", e.what(), ")");
  }
  return r;
}

std::string format_unroll_steps(double steps) {
  return steps == std::round(steps) ? fmt::format("{}", static_cast<int64_t>(steps)) : fmt::format("{:.1f}", steps);
}

std::string format_run(const TrainResult& r) {
  const TrainOptions& o = r.options;
  std::string out = fmt::format(
      "{} / {} (seed {}, H {}, batch {}, {} steps, {} processor steps per batch) on {}\n"
      "  training time {:.2f} s ({:.2f} ms/step after {} warm-up step(s)), final loss {:.4f}\n"
      "  best validation score (n = {}) {:.4f} at step {}; test score (n = {}) {:.4f}\n",
      o.algorithm, o.processor, o.seed, o.hidden, o.batch_size, o.steps, format_unroll_steps(r.train_unroll_steps),
      r.device, r.train_seconds, r.mean_step_seconds * 1e3, o.warmup_steps, r.losses.empty() ? 0.0 : r.losses.back(),
      o.val_nodes, r.best_val, r.best_step, o.test_nodes, r.test_score);
  for (const auto& [name, v] : r.test_per_output) out += fmt::format("    test {}: {:.4f}\n", name, v);
  if (!r.test_curve.empty()) {
    out += fmt::format("  test score (n = {}) at every validation:", o.test_nodes);
    for (const auto& p : r.test_curve) out += fmt::format(" {}:{:.3f}", p.step, p.score);
    out += "\n";
  }
  return out;
}

std::string csv_header() {
  return "algorithm,processor,seed,device,hidden,steps,batch_size,unroll_steps,train_seconds,mean_step_seconds,"
         "best_step,val_score,test_score";
}

std::string result_to_csv_row(const TrainResult& r) {
  const TrainOptions& o = r.options;
  return fmt::format("{},{},{},{},{},{},{},{:.2f},{:.6f},{:.6f},{},{:.6f},{:.6f}", o.algorithm, o.processor, o.seed,
                     r.device, o.hidden, o.steps, o.batch_size, r.train_unroll_steps, r.train_seconds,
                     r.mean_step_seconds, r.best_step, r.best_val, r.test_score);
}

void save_checkpoint(const std::string& path, gnn::Net& net, const TrainOptions& o) {
  io::Safetensors st;
  for (const auto& p : net.named_parameters()) st.tensors[p.key()] = p.value().detach().to(at::kCPU).contiguous();
  st.metadata["scanlab_nar_options"] = options_json(o).dump();
  io::save_safetensors(path, st);
}

TrainOptions checkpoint_options(const std::string& path) {
  const io::Safetensors st = io::load_safetensors(path);
  auto it = st.metadata.find("scanlab_nar_options");
  SCANLAB_CHECK(it != st.metadata.end(), "checkpoint '", path, "' has no scanlab_nar_options metadata; ",
                "expected a file written by `scanlab nar train --save`");
  try {
    const auto j = nlohmann::json::parse(it->second);
    return options_from_json(j);
  } catch (const nlohmann::json::exception& e) {
    SCANLAB_FAIL(path, ": scanlab_nar_options is not the JSON `nar train --save` writes (", e.what(), ")");
  } catch (const Error& e) {  // the strict reader names the key; the file is named here
    SCANLAB_FAIL(path, ": scanlab_nar_options: ", e.what());
  }
}

void load_checkpoint_into(const std::string& path, gnn::Net& net) {
  const io::Safetensors st = io::load_safetensors(path);
  at::NoGradGuard no_grad;
  for (auto& p : net.named_parameters()) {
    auto it = st.tensors.find(p.key());
    SCANLAB_CHECK(it != st.tensors.end(), "checkpoint '", path, "' lacks parameter '", p.key(), "'");
    SCANLAB_CHECK(it->second.sizes() == p.value().sizes(), "checkpoint '", path, "': parameter '", p.key(),
                  "' has shape ", it->second.sizes(), ", expected ", p.value().sizes());
    p.value().copy_(it->second);
  }
}

}  // namespace scanlab::nar::study
