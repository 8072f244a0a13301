// Transformer-PSM (PSM paper §3, spec §3.1-3.2, prediction variant A). With chunk length C:
//   Enc:  x = Drop(wte[a] + wpe[pos]), chunk i is X[iC:(i+1)C]            [B, C, D] per chunk
//   Agg:  Agg(s, x) = RightHalf(LN(GPT_agg([s | x])))   L1 blocks, mask "bidirectional" (paper)
//         or "causal" (HF's built-in mask in the reference code); no dropout after its LN (as the
//         S5/MQAR reference files; the LM file adds one)
//   Inf:  chunk i's hidden states = RightHalf(Drop(LN(GPT_inf([P_i | x_i])))), causal; chunk 0
//         runs over x_0 alone; logits = head(.), an untied bias-free linear layer.
// P_i is the Blelloch-tree prefix of x_0..x_{i-1} (scan/blelloch.h); Agg is not associative, so
// the tree is part of the model. Parallel: one batched Agg per tree level, Inf on every chunk at
// once. Stream: the online binary counter (scan/online_scanner.h), O(log(T/C)) stored chunk
// states, and per Inf layer a K/V buffer of 2C slots allocated once (the prefix state's C
// entries, then this chunk's tokens). A plain step (no chunk completed) writes its slot in place
// and attends over all 2C slots under a mask built on the device from a device copy of the
// position, so it has fixed shapes and addresses and can be replayed as a CUDA graph; the step
// that completes a chunk then runs the counter and the Inf prefill of the new prefix eagerly. Positions: "global"
// (0..T-1, as the reference training code; streams stop at n_positions) or "chunk_local" (0..C-1 in every chunk;
// unbounded streams). Weight names: wte, wpe, agg.h.<i>.*, agg.ln_f, inf.h.<i>.*, inf.ln_f, head.weight. With
// checkpoint_agg the training forward recomputes each Agg level in the backward (activation checkpointing).
#pragma once
#include <torch/nn/modules/linear.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/cuda_graph_call.h"
#include "core/side_stream.h"
#include "models/layers/gpt2_block.h"
#include "models/layers/token_embedding.h"
#include "models/sequence_model.h"
#include "scan/tensor_state.h"

namespace scanlab::models {

// Where position embeddings count from: the sequence's start (global, bounded by n_positions) or
// each chunk's start (chunk_local: unbounded streams).
enum class PositionMode { kGlobal, kChunkLocal };
// The attention mask inside an Agg call over two chunk states: none, or causal over the 2c tokens.
enum class AggMask { kBidirectional, kCausal };

struct TransformerPsmOptions {
  int64_t vocab_size = 50257;
  int64_t n_positions = 1024;
  int64_t n_embd = 768;
  int64_t n_head = 12;
  int64_t n_layer_agg = 1;                             // L1
  int64_t n_layer_inf = 12;                            // L2
  int64_t chunk_size = 64;                             // C
  PositionMode position_mode = PositionMode::kGlobal;  // "global" | "chunk_local" in configs
  AggMask agg_mask = AggMask::kBidirectional;          // "bidirectional" | "causal"
  double attn_pdrop = 0.1, resid_pdrop = 0.1, embd_pdrop = 0.1;
  // Activation checkpointing per Agg level (core/activation_checkpoint.h): each batched Agg call keeps
  // only its two input states for the backward and recomputes its layers there. Same function and
  // gradients; less memory at long T for one more Agg forward per level. Default off.
  bool checkpoint_agg = false;

  nlohmann::json to_json() const;
  static TransformerPsmOptions from_json(const nlohmann::json& config);
};

class TransformerPsm : public SequenceModel {
 public:
  explicit TransformerPsm(const TransformerPsmOptions& o);
  std::string kind() const override { return "transformer_psm"; }
  nlohmann::json config() const override { return o_.to_json(); }
  int64_t vocab_size() const override { return o_.vocab_size; }
  at::Tensor forward(const at::Tensor& tokens) override;
  std::unique_ptr<Stream> start_stream(int64_t batch) override;
  // Parallel logits; the stream's counter is read off the same scan (no second pass of Agg calls).
  std::pair<at::Tensor, std::unique_ptr<Stream>> prefill(const at::Tensor& tokens) override;

  // Sequence parallelism's hook (dist/seq_parallel.h): the forward of one contiguous block of
  // chunks, global chunks [first_chunk, first_chunk + n), from tokens [B, t] (t <= n·C; only the
  // sequence's last block may end in a partial chunk). `scan` gets the block's chunk encodings
  // [B, n, C, D] and Agg, and returns each chunk's exclusive prefix (PSM bracketing, global order;
  // only global chunk 0 has none) and the encodings Inf is to read: an exchanging scan returns them
  // through its own autograd node, so that node's backward runs on every rank with tokens.
  // forward(tokens) is forward_block(tokens, 0, the single-device Blelloch scan).
  struct BlockScanResult {
    at::Tensor chunks;
    std::vector<scan::Prefix<scan::TensorState>> prefixes;
  };
  using BlockScan =
      std::function<BlockScanResult(const at::Tensor& chunks, const scan::BatchedAgg<scan::TensorState>& agg)>;
  at::Tensor forward_block(const at::Tensor& tokens, int64_t first_chunk, const BlockScan& scan);

  const TransformerPsmOptions& options() const { return o_; }
  // Agg network evaluations so far (each is one batched call over a tree level or one carry).
  int64_t agg_calls() const { return agg_calls_; }

 private:
  // The single-device scan over one whole sequence's chunks (forward()'s); `keep` (if given) receives
  // its up-sweep tree and down-sweep prefixes, from which prefill reads the stream's counter.
  struct ScanSweeps {
    std::vector<scan::Prefix<scan::TensorState>> tree, down;
    int64_t scanned = 0;  // chunks the scan covered: all but the sequence's last
  };
  static BlockScanResult whole_sequence_scan(const at::Tensor& chunks, const scan::BatchedAgg<scan::TensorState>& agg,
                                             ScanSweeps* keep);
  friend class TransformerPsmStream;
  at::Tensor encode(const at::Tensor& tokens, int64_t start);  // [B, T] -> [B, T, D]
  // encode() for one token per sequence at the position held in `position` ([1] int64 on the
  // device); no host read, so a CUDA graph can capture it.
  at::Tensor encode_at(const at::Tensor& tokens, const at::Tensor& position);
  scan::TensorState agg(const scan::TensorState& older, const scan::TensorState& newer);
  at::Tensor inf_head(const at::Tensor& h);  // final dropout and head: [.., D] -> [.., V]

  TransformerPsmOptions o_;
  TokenEmbedding emb_;
  std::shared_ptr<torch::nn::Module> agg_holder_, inf_holder_;  // "agg." and "inf." names
  Gpt2Stack agg_stack_, inf_stack_;
  torch::nn::Linear head_{nullptr};
  int64_t agg_calls_ = 0;
};

class TransformerPsmStream : public Stream {
 public:
  TransformerPsmStream(std::shared_ptr<TransformerPsm> model, int64_t batch);
  // The scanner's Agg callback holds `this` (it replays the stream's Agg graph): not copyable or movable.
  TransformerPsmStream(const TransformerPsmStream&) = delete;
  TransformerPsmStream& operator=(const TransformerPsmStream&) = delete;
  at::Tensor step(const at::Tensor& token) override;
  int64_t position() const override { return position_; }
  int64_t state_bytes() const override;
  std::map<std::string, at::Tensor> save() const override;
  void restore(const std::map<std::string, at::Tensor>& tensors) override;

  void check_next_step() const override;  // a global position past n_positions
  std::vector<std::unique_ptr<Stream>> split() const override;
  int64_t agg_calls() const override { return scanner_.agg_counter().calls; }
  bool use_cuda_graphs(bool on) override;
  bool use_boundary_overlap(bool on) override;
  int64_t stored_chunk_states() const { return scanner_.stored_states(); }
  // Inf K/V entries a query of the next token can see: the prefix state's C (from chunk 1 on),
  // then this chunk's tokens so far.
  int64_t inf_cache_entries() const;

 protected:
  // Every stream's token at once: the encoding, the Inf layers' projections, attention and MLPs, and
  // the head, the streams' Inf slots copied into one [2L, N, H, 2C, D/H] tensor (same shape for
  // every stream: each row under its own mask), the new keys and values copied back. The streams
  // whose chunk completes then run their boundary work (complete_chunks_together), in order: no
  // CUDA graphs and no second stream on this path.
  at::Tensor step_group(const std::vector<Stream*>& streams, const at::Tensor& tokens) override;

 private:
  friend class TransformerPsm;
  int64_t in_chunk() const { return position_ % m_->o_.chunk_size; }
  bool has_prefix() const { return scanner_.count() > 0; }
  at::Tensor plain_step(const at::Tensor& token);  // the graphable part of step(): one token, no Agg
  scan::TensorState stream_agg(const scan::TensorState& older, const scan::TensorState& newer);
  // The chunk-boundary work: insert `chunk` (a complete chunk's encodings) into the counter, then
  // run Inf over the new prefix into the staging slots. Touches neither chunk_ nor inf_kv_.
  void complete_chunk(const at::Tensor& chunk);
  void prefill_inf_prefix();  // staging slots := Inf K/V of the current prefix state (none before chunk 1)
  // Writes the Inf K/V of `prefix` [N, C, D] (prefix states) into the first C slots of `kv`.
  void inf_prefix_into(const at::Tensor& prefix, std::vector<KvSlots>& kv) const;
  // complete_chunk + publish_prefix for streams whose chunk completed in one step_group call. Those
  // whose counters hold the same count make the same Agg calls on other states: they run as one
  // counter over the states stacked along the batch (one batched Agg call each), then one Inf
  // prefill of the new prefixes. agg_calls() does not count these calls (they were not the
  // stream's own); the states are what separate boundaries give, to rounding.
  static void complete_chunks_together(const std::vector<TransformerPsmStream*>& done);
  void publish_prefix();  // Inf slots [0, C) := the staging slots
  // sealed_ := chunk_ with its last row set to the encoding of `token` (the chunk's last token).
  void seal_chunk(const at::Tensor& token);
  std::vector<CudaGraphCall*> graphs() { return {&step_graph_, &agg_graph_, &prefix_graph_, &seal_graph_}; }
  // [rows, 2C] bool: which Inf slots tokens at positions position..position+rows-1 of the current
  // chunk may see (`position` is a [1] int64 device tensor): the prefix's C slots once a prefix
  // exists, and this chunk's slots up to their own. With rows 1, `position` may be [N], one
  // position per row (streams stepped together).
  at::Tensor inf_mask(const at::Tensor& position, int64_t rows) const;

  std::shared_ptr<TransformerPsm> m_;
  int64_t batch_;
  int64_t position_ = 0;
  scan::TensorOnlineScanner scanner_;
  at::Tensor chunk_;      // [B, C, D]: this chunk's encodings; the first in_chunk() rows are valid
  at::Tensor inf_slots_;  // [2L, B, H, 2C, D/H] (Gpt2Stack::slot_storage): slots [0, C) prefix, [C, 2C) this chunk
  std::vector<KvSlots> inf_kv_;  // its per-layer K, V views
  at::Tensor staged_slots_;      // [2L, B, H, C, D/H]: the next prefix's Inf K/V, computed before it is published
  std::vector<KvSlots> staged_kv_;
  at::Tensor sealed_;  // [B, C, D]: the complete chunk handed to the boundary work
  // Chunk-boundary work on a second CUDA stream, overlapping the boundary token's own step (which
  // reads the old prefix slots, hence the staging slots). In order on the CPU.
  bool overlap_boundary_ = true;
  SideStream boundary_side_;
  at::Tensor position_dev_;  // [1] int64: position_ on the model's device, advanced by the step itself
  at::Tensor slot_ids_;      // [2C] int64: 0 .. 2C-1 on the device
  // CUDA graphs (when use_cuda_graphs is on): the plain step, one Agg call, the Inf prefill of a
  // prefix, the sealing of a chunk; each has fixed shapes in a stream, so a chunk-boundary step is
  // a few replays too.
  CudaGraphCall step_graph_, agg_graph_, prefix_graph_, seal_graph_;
};

}  // namespace scanlab::models
