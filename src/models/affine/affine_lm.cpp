#include "models/affine/affine_lm.h"

#include <ATen/core/grad_mode.h>

#include "core/check.h"
#include "core/cuda_graph_call.h"
#include "models/affine/affine_family.h"
#include "models/layers/swiglu.h"
#include "models/layers/token_embedding.h"
#include "models/sequence_split.h"

namespace scanlab::models {

namespace {
thread_local SequenceSplit* g_split = nullptr;
}  // namespace

SequenceSplit* active_sequence_split() { return g_split; }

SequenceSplitScope::SequenceSplitScope(SequenceSplit& split) : previous_(g_split) { g_split = &split; }

SequenceSplitScope::~SequenceSplitScope() { g_split = previous_; }

void AffineLmOptions::read(StrictJson& r) {
  r.read_at_least("vocab_size", vocab_size, 1);
  r.read_at_least("d_model", d_model, 1);
  r.read_at_least("n_layers", n_layers, 1);
  r.read_at_least("mlp_hidden", mlp_hidden, 0);
  r.read_in("chunk_len", chunk_len, 1, kMaxChunkLength);
  r.read_above("norm_eps", norm_eps, 0.0);
  r.read_probability("dropout", dropout);
}

void AffineLmOptions::write(nlohmann::json& j) const {
  j["vocab_size"] = vocab_size;
  j["d_model"] = d_model;
  j["n_layers"] = n_layers;
  j["mlp_hidden"] = mlp_hidden;
  j["chunk_len"] = chunk_len;
  j["norm_eps"] = norm_eps;
  j["dropout"] = dropout;
}

int64_t AffineLmOptions::mlp_width() const { return mlp_hidden > 0 ? mlp_hidden : (8 * d_model / 3 + 7) / 8 * 8; }

int64_t read_heads(StrictJson& r, int64_t default_heads, int64_t width) {
  int64_t heads = default_heads;
  r.read_at_least("n_heads", heads, 1);
  SCANLAB_CHECK(width % heads == 0, "n_heads = ", heads, " must divide the mixer width ", width);
  return heads;
}

at::Tensor split_heads(const at::Tensor& x, int64_t heads) {
  auto sizes = x.sizes().vec();
  sizes.back() /= heads;
  sizes.insert(sizes.end() - 1, heads);
  return x.reshape(sizes);
}

at::Tensor merge_heads(const at::Tensor& x) { return x.flatten(-2); }

namespace {

class Block : public torch::nn::Module {
 public:
  Block(const AffineLmOptions& o, std::shared_ptr<TokenMixer> m)
      : mixer_norm(register_module("mixer_norm", std::make_shared<RmsNorm>(o.d_model, o.norm_eps))),
        mixer(register_module("mixer", std::move(m))),
        mlp_norm(register_module("mlp_norm", std::make_shared<RmsNorm>(o.d_model, o.norm_eps))),
        mlp(register_module("mlp", std::make_shared<SwiGlu>(o.d_model, o.mlp_width()))) {}

  std::shared_ptr<RmsNorm> mixer_norm;
  std::shared_ptr<TokenMixer> mixer;
  std::shared_ptr<RmsNorm> mlp_norm;
  std::shared_ptr<SwiGlu> mlp;
};

int64_t bytes_of(const std::vector<MixerState>& states) {
  int64_t b = 0;
  for (const auto& s : states)
    for (const auto& t : s) b += t.numel() * static_cast<int64_t>(t.element_size());
  return b;
}

class AffineLmStream : public Stream {
 public:
  AffineLmStream(std::shared_ptr<AffineLm> model, std::vector<MixerState> states, int64_t batch, int64_t position)
      : model_(std::move(model)), states_(std::move(states)), batch_(batch), position_(position) {}

  at::Tensor step(const at::Tensor& token) override {
    SCANLAB_CHECK(token.dim() == 1 && token.size(0) == batch_, "stream step: token must be [", batch_,
                  "] (one per sequence), got ", token.sizes());
    check_token_batch(token, model_->vocab_size(), true, model_->kind() + " stream step");
    at::NoGradGuard no_grad;
    auto logits = graph_.run({token}, [this](const std::vector<at::Tensor>& in) { return step_in_place(in[0]); });
    ++position_;
    return logits;
  }
  bool use_cuda_graphs(bool on) override {
    graph_.set_enabled(on);
    return on && cuda_graphs_built() && states_.front().front().is_cuda();
  }
  int64_t position() const override { return position_; }
  int64_t state_bytes() const override { return bytes_of(states_); }

  std::vector<std::unique_ptr<Stream>> split() const override {
    std::vector<std::unique_ptr<Stream>> out;
    for (int64_t b = 0; b < batch_; ++b) {
      std::vector<MixerState> row = states_;
      for (auto& s : row)
        for (auto& t : s) t = t.narrow(0, b, 1).clone();
      out.push_back(std::make_unique<AffineLmStream>(model_, std::move(row), 1, position_));
    }
    return out;
  }

  std::map<std::string, at::Tensor> save() const override {
    std::map<std::string, at::Tensor> out;
    out["position"] = at::full({1}, position_, at::kLong);
    for (size_t i = 0; i < states_.size(); ++i) {
      const auto names = model_->state_names(static_cast<int64_t>(i));
      for (size_t j = 0; j < names.size(); ++j) out[key(i, names[j])] = states_[i][j].detach().clone();
    }
    return out;
  }

  void restore(const std::map<std::string, at::Tensor>& tensors) override {
    size_t expected = 1;
    const int64_t position = restored_position(tensors, model_->kind() + " stream restore");
    std::vector<MixerState> next = states_;
    for (size_t i = 0; i < states_.size(); ++i) {
      const auto names = model_->state_names(static_cast<int64_t>(i));
      for (size_t j = 0; j < names.size(); ++j, ++expected) {
        const std::string k = key(i, names[j]);
        auto it = tensors.find(k);
        SCANLAB_CHECK(it != tensors.end(), model_->kind(), " stream restore: missing state \"", k, "\"");
        const at::Tensor& like = states_[i][j];
        SCANLAB_CHECK(it->second.sizes() == like.sizes() && it->second.scalar_type() == like.scalar_type(),
                      model_->kind(), " stream restore: \"", k, "\" is ", it->second.sizes(), " ",
                      it->second.scalar_type(), "; expected ", like.sizes(), " ", like.scalar_type());
        next[i][j] = it->second.to(like.device()).clone();
      }
    }
    for (const auto& [k, v] : tensors)
      SCANLAB_CHECK(k == "position" || k.rfind("layers.", 0) == 0, model_->kind(), " stream restore: unknown state \"",
                    k, "\"");
    SCANLAB_CHECK(tensors.size() == expected, model_->kind(), " stream restore: got ", tensors.size(),
                  " tensors; expected ", expected, " (position and the layers' states)");
    states_ = std::move(next);
    position_ = position;
    graph_.reset();  // the graph reads the old state tensors
  }

 protected:
  // The streams' states concatenated along the batch, one step of the whole stack, then split back
  // into each stream's own tensors (copied in place, so a captured graph's addresses stay): every
  // product and every state update runs once for all the streams.
  at::Tensor step_group(const std::vector<Stream*>& streams, const at::Tensor& tokens) override {
    const auto group =
        streams_as<AffineLmStream>(streams, [this](const AffineLmStream& s) { return s.model_ == model_; });
    if (group.empty()) return Stream::step_group(streams, tokens);
    check_token_batch(tokens, model_->vocab_size(), true, model_->kind() + " step_together");
    for (const AffineLmStream* s : group)
      SCANLAB_CHECK(s->batch_ == 1, model_->kind(), " step_together: a stream of batch ", s->batch_,
                    "; expected batch 1");
    at::NoGradGuard no_grad;
    std::vector<MixerState> stacked = states_;
    for (size_t i = 0; i < stacked.size(); ++i)
      for (size_t j = 0; j < stacked[i].size(); ++j) {
        std::vector<at::Tensor> parts;
        for (const AffineLmStream* s : group) parts.push_back(s->states_[i][j]);
        stacked[i][j] = at::cat(parts, 0);
      }
    at::Tensor logits = model_->run_unchecked(tokens.unsqueeze(1), stacked, /*single_step=*/true).squeeze(1);
    for (size_t k = 0; k < group.size(); ++k) {
      for (size_t i = 0; i < stacked.size(); ++i)
        for (size_t j = 0; j < stacked[i].size(); ++j)
          group[k]->states_[i][j].copy_(stacked[i][j].narrow(0, static_cast<int64_t>(k), 1));
      ++group[k]->position_;
    }
    return logits;
  }

 private:
  // One step that leaves every state tensor at its address: the fused CUDA steps update in place,
  // the torch paths (CPU, conv buffers) return new tensors, copied back here. A graph captured from
  // this body therefore reads and writes the same buffers on every replay.
  at::Tensor step_in_place(const at::Tensor& token) {
    std::vector<MixerState> next = states_;
    at::Tensor logits = model_->run_unchecked(token.unsqueeze(1), next, /*single_step=*/true).squeeze(1);
    for (size_t i = 0; i < next.size(); ++i)
      for (size_t j = 0; j < next[i].size(); ++j)
        if (!next[i][j].is_same(states_[i][j])) states_[i][j].copy_(next[i][j]);
    return logits;
  }

  static std::string key(size_t layer, const std::string& name) {
    return "layers." + std::to_string(layer) + "." + name;
  }
  std::shared_ptr<AffineLm> model_;
  std::vector<MixerState> states_;
  int64_t batch_, position_;
  CudaGraphCall graph_;
};

}  // namespace

AffineLm::AffineLm(std::string kind, AffineLmOptions options, nlohmann::json extra, const MixerFactory& make_mixer)
    : kind_(std::move(kind)), options_(options), extra_(std::move(extra)) {
  embed_ = register_module("embed", torch::nn::Embedding(options_.vocab_size, options_.d_model));
  layers_ = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < options_.n_layers; ++i) layers_->push_back(std::make_shared<Block>(options_, make_mixer()));
  norm_ = register_module("norm", std::make_shared<RmsNorm>(options_.d_model, options_.norm_eps));
  head_ = register_module(
      "head", torch::nn::Linear(torch::nn::LinearOptions(options_.d_model, options_.vocab_size).bias(false)));
}

nlohmann::json AffineLm::config() const {
  nlohmann::json j = extra_;
  j["model"] = kind_;
  options_.write(j);
  return j;
}

std::vector<std::string> AffineLm::state_names(int64_t layer) const {
  return layers_->ptr<Block>(layer)->mixer->state_names();
}

std::vector<MixerState> AffineLm::initial_states(int64_t batch) {
  std::vector<MixerState> states;
  for (size_t i = 0; i < layers_->size(); ++i)
    states.push_back(layers_->ptr<Block>(i)->mixer->initial_state(batch, embed_->weight));
  return states;
}

at::Tensor AffineLm::run(const at::Tensor& tokens, std::vector<MixerState>& states, bool single_step) {
  SCANLAB_CHECK(tokens.dim() == 2 && tokens.size(1) >= 1 && tokens.scalar_type() == at::kLong, kind_,
                ": tokens must be int64 [B, T] with T >= 1, got ", tokens.scalar_type(), " ", tokens.sizes());
  SCANLAB_CHECK(!single_step || tokens.size(1) == 1, kind_, ": a single step takes T = 1");
  check_token_batch(tokens, options_.vocab_size, false, kind_);
  return run_unchecked(tokens, states, single_step);
}

at::Tensor AffineLm::run_unchecked(const at::Tensor& tokens, std::vector<MixerState>& states, bool single_step) {
  SCANLAB_ASSERT(states.size() == layers_->size());
  at::Tensor x = embed_(tokens);
  for (size_t i = 0; i < layers_->size(); ++i) {
    auto block = layers_->ptr<Block>(i);
    const double p = options_.dropout;
    x = x + at::dropout(block->mixer->mix(block->mixer_norm->forward(x), states[i], single_step), p, is_training());
    x = x + at::dropout(block->mlp->forward(block->mlp_norm->forward(x)), p, is_training());
  }
  return head_(norm_->forward(x));
}

at::Tensor AffineLm::forward(const at::Tensor& tokens) {
  auto states = initial_states(tokens.size(0));
  return run(tokens, states, /*single_step=*/false);
}

at::Tensor AffineLm::forward_split(const at::Tensor& tokens, SequenceSplit& split) {
  SequenceSplitScope scope(split);
  return forward(tokens);
}

std::unique_ptr<Stream> AffineLm::start_stream(int64_t batch) {
  SCANLAB_CHECK(batch >= 1, kind_, ": stream batch must be >= 1, got ", batch);
  auto self = std::static_pointer_cast<AffineLm>(shared_from_this());
  return std::make_unique<AffineLmStream>(self, initial_states(batch), batch, 0);
}

std::pair<at::Tensor, std::unique_ptr<Stream>> AffineLm::prefill(const at::Tensor& tokens) {
  SCANLAB_CHECK(tokens.dim() == 2, kind_, ": prefill tokens must be [B, T], got ", tokens.sizes());
  auto states = initial_states(tokens.size(0));
  at::Tensor logits = run(tokens, states, /*single_step=*/false);
  // Copies, not views: the CUDA decode step updates states in place, which must not touch tensors
  // the prefill's autograd graph saved.
  for (auto& s : states)
    for (auto& t : s) t = t.detach().clone();
  auto self = std::static_pointer_cast<AffineLm>(shared_from_this());
  return {logits, std::make_unique<AffineLmStream>(self, std::move(states), tokens.size(0), tokens.size(1))};
}

}  // namespace scanlab::models

namespace scanlab::models {

std::vector<std::string> affine_model_names() {
  std::vector<std::string> names;
  for (const auto& entry :
       {gated_deltanet_entry, gla_entry, linear_attention_entry, mamba_entry, mamba2_entry, mlstm_entry, retnet_entry})
    names.push_back(entry().name);
  return names;
}

std::vector<SizeEvidence> affine_evidence() {
  return {{"vocab_size", "embed.weight", 0}, {"d_model", "embed.weight", 1}, {"n_layers", "layers.", -1}};
}

double affine_parameters(const AffineLmOptions& lm, double mixer) {
  const double d = static_cast<double>(lm.d_model), v = static_cast<double>(lm.vocab_size);
  const double block = 2.0 * d + mixer + 3.0 * d * static_cast<double>(lm.mlp_width());
  return 2.0 * v * d + static_cast<double>(lm.n_layers) * block + d;
}

nlohmann::json affine_small_config(const std::string& model) {
  return {{"model", model}, {"vocab_size", 32}, {"d_model", 32}, {"n_layers", 2}, {"chunk_len", 8}, {"mlp_hidden", 48}};
}

nlohmann::json affine_sized_config(const std::string& model, const ModelSize& size, bool heads) {
  nlohmann::json c{{"model", model},         {"vocab_size", size.vocab}, {"d_model", size.width},
                   {"n_layers", size.depth}, {"chunk_len", size.chunk},  {"mlp_hidden", 4 * size.width}};
  if (heads) c["n_heads"] = size.heads_for(size.width);
  return c;
}

}  // namespace scanlab::models
