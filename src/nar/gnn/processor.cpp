#include "nar/gnn/processor.h"

#include <ATen/ATen.h>

#include "core/check.h"
#include "core/text.h"
#include "nar/gnn/processors/gat.h"
#include "nar/gnn/processors/pgn.h"

namespace scanlab::nar::gnn {

namespace {
std::string shape_string(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? "," : "") + std::to_string(t.size(d));
  return s + "]";
}
}  // namespace

const std::vector<std::string>& processor_kinds() {
  static const std::vector<std::string> kinds = {"deepsets",     "mpnn",         "pgn",         "gmpnn",
                                                 "gpgn",         "triplet_mpnn", "triplet_pgn", "triplet_gmpnn",
                                                 "triplet_gpgn", "gat",          "gat_full"};
  return kinds;
}

std::shared_ptr<Processor> make_processor(const ProcessorOptions& opts) {
  SCANLAB_CHECK(opts.hidden > 0, "processor hidden size must be positive, got ", opts.hidden);
  SCANLAB_CHECK(opts.triplet_features > 0, "triplet features must be positive, got ", opts.triplet_features);
  if (opts.kind == "gat" || opts.kind == "gat_full") {
    return std::make_shared<GatProcessor>(opts, opts.kind == "gat_full");
  }
  std::string base = opts.kind;
  PgnConfig config;
  if (base.rfind("triplet_", 0) == 0) {
    config.triplets = true;
    base = base.substr(8);
  }
  if (base == "gmpnn" || base == "gpgn") {
    config.gated = true;
    base = base.substr(1);
  }
  if (base == "pgn") {
    config.senders = SenderSet::DataAdjacency;
  } else if (base == "mpnn") {
    config.senders = SenderSet::Everyone;
  } else if (base == "deepsets" && !config.triplets && !config.gated) {
    config.senders = SenderSet::SelfOnly;
  } else {
    SCANLAB_FAIL("unknown processor '", opts.kind, "'; known processors: ", join(processor_kinds()));
  }
  return std::make_shared<PgnProcessor>(opts, config);
}

void check_processor_inputs(const at::Tensor& node_fts, const at::Tensor& edge_fts, const at::Tensor& graph_fts,
                            const at::Tensor& adj, const at::Tensor& hidden, int64_t h) {
  SCANLAB_CHECK(node_fts.dim() == 3 && node_fts.size(2) == h, "processor node_fts must be [B,N,", h, "], got ",
                shape_string(node_fts));
  const int64_t b = node_fts.size(0), n = node_fts.size(1);
  SCANLAB_CHECK(edge_fts.dim() == 4 && edge_fts.size(0) == b && edge_fts.size(1) == n && edge_fts.size(2) == n &&
                    edge_fts.size(3) == h,
                "processor edge_fts must be [", b, ",", n, ",", n, ",", h, "], got ", shape_string(edge_fts));
  SCANLAB_CHECK(graph_fts.dim() == 2 && graph_fts.size(0) == b && graph_fts.size(1) == h,
                "processor graph_fts must be [", b, ",", h, "], got ", shape_string(graph_fts));
  SCANLAB_CHECK(adj.dim() == 3 && adj.size(0) == b && adj.size(1) == n && adj.size(2) == n, "processor adj must be [",
                b, ",", n, ",", n, "], got ", shape_string(adj));
  SCANLAB_CHECK(hidden.sizes() == node_fts.sizes(), "processor hidden must be [", b, ",", n, ",", h, "], got ",
                shape_string(hidden));
}

at::Tensor masked_max_over_senders(const at::Tensor& values, const at::Tensor& adj) {
  const at::Tensor admitted = (adj > 0.5).unsqueeze(-1);
  return std::get<0>(at::where(admitted, values, at::full({}, -1e6, values.options())).max(1));
}

}  // namespace scanlab::nar::gnn
