#include "scan/tensor_state.h"

#include <sstream>

#include "core/check.h"

namespace scanlab::scan {
namespace {

std::string shape_str(const at::Tensor& t) {
  std::ostringstream os;
  os << t.sizes() << " " << t.scalar_type() << " on " << t.device();
  return os.str();
}

}  // namespace

void check_state_matches(const TensorState& like, const TensorState& state, const std::string& what) {
  SCANLAB_CHECK(state.size() == like.size(), what, " has ", state.size(), " tensors; expected ", like.size(),
                " like the first state");
  for (size_t i = 0; i < like.size(); ++i) {
    const at::Tensor &a = like[i], &b = state[i];
    SCANLAB_CHECK(b.defined(), what, " component ", i, " is an undefined tensor");
    SCANLAB_CHECK(a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type() && a.device() == b.device(), what,
                  " component ", i, " is ", shape_str(b), "; expected ", shape_str(a), " like the first state");
  }
}

void check_state_sequence(const std::vector<TensorState>& xs) {
  SCANLAB_CHECK(!xs.empty(), "prefix scan of an empty sequence: expected at least one state");
  const TensorState& first = xs.front();
  SCANLAB_CHECK(!first.empty(), "state 0 has no tensors; expected at least one");
  for (size_t i = 0; i < first.size(); ++i) {
    SCANLAB_CHECK(first[i].defined(), "state 0 component ", i, " is an undefined tensor");
    SCANLAB_CHECK(first[i].dim() >= 1, "state 0 component ", i, " is a 0-d tensor; expected a leading batch dimension");
  }
  for (size_t n = 1; n < xs.size(); ++n) check_state_matches(first, xs[n], "state " + std::to_string(n));
}

BatchedAgg<TensorState> batch_tensor_agg(TensorAgg agg) {
  return [agg = std::move(agg)](const std::vector<TensorState>& older, const std::vector<TensorState>& newer) {
    const size_t pairs = older.size(), comps = older.front().size();
    auto concat = [&](const std::vector<TensorState>& side) {
      if (pairs == 1) return side.front();
      TensorState cat(comps);
      for (size_t c = 0; c < comps; ++c) {
        std::vector<at::Tensor> parts;
        parts.reserve(pairs);
        for (const auto& s : side) parts.push_back(s[c]);
        cat[c] = at::cat(parts, 0);
      }
      return cat;
    };
    TensorState out = agg(concat(older), concat(newer));
    SCANLAB_CHECK(out.size() == comps, "Agg returned ", out.size(), " tensors; expected ", comps,
                  " (one per state component)");
    std::vector<TensorState> split(pairs, TensorState(comps));
    for (size_t c = 0; c < comps; ++c) {
      const int64_t b = older.front()[c].size(0);
      SCANLAB_CHECK(out[c].dim() >= 1 && out[c].size(0) == b * static_cast<int64_t>(pairs), "Agg output component ", c,
                    " has leading size ", (out[c].dim() ? out[c].size(0) : 0), "; expected ",
                    b * static_cast<int64_t>(pairs), " (", pairs, " pairs of batch ", b, ")");
      std::vector<at::Tensor> parts = out[c].split(b, 0);
      for (size_t p = 0; p < pairs; ++p) split[p][c] = parts[p];
    }
    return split;
  };
}

std::vector<Prefix<TensorState>> tensor_blelloch_scan(const std::vector<TensorState>& xs, const TensorAgg& agg,
                                                      ScanKind kind, AggCounter* counter) {
  check_state_sequence(xs);
  return blelloch_scan<TensorState>(xs, batch_tensor_agg(agg), kind, counter);
}

void TensorOnlineScanner::insert(TensorState x) {
  if (like_.empty()) {
    check_state_sequence({x});
    like_ = x;
  } else {
    check_state_matches(like_, x, "inserted state " + std::to_string(scanner_.count()));
  }
  scanner_.insert(std::move(x));
}

std::map<std::string, at::Tensor> TensorOnlineScanner::save(const std::string& prefix) const {
  std::map<std::string, at::Tensor> out;
  auto snap = scanner_.snapshot();
  out[prefix + "count"] = at::full({1}, snap.count, at::kLong);
  auto put = [&](const char* kind, const std::vector<Prefix<TensorState>>& slots) {
    for (size_t k = 0; k < slots.size(); ++k) {
      if (!slots[k]) continue;
      for (size_t i = 0; i < slots[k]->size(); ++i)
        out[prefix + kind + "." + std::to_string(k) + "." + std::to_string(i)] = (*slots[k])[i].detach();
    }
  };
  put("root", snap.roots);
  put("fold", snap.folds);
  return out;
}

void TensorOnlineScanner::restore(const std::map<std::string, at::Tensor>& tensors, const std::string& prefix) {
  auto it = tensors.find(prefix + "count");
  SCANLAB_CHECK(it != tensors.end(), "scanner state: tensor '", prefix, "count' is missing");
  SCANLAB_CHECK(it->second.numel() == 1 && it->second.scalar_type() == at::kLong, "scanner state: '", prefix,
                "count' must be one int64, got ", shape_str(it->second));
  OnlineScanner<TensorState>::Snapshot snap;
  snap.count = it->second.item<int64_t>();
  SCANLAB_CHECK(snap.count >= 0 && snap.count < (int64_t{1} << 62), "scanner state: count ", snap.count,
                " is out of range");
  const size_t slots = static_cast<size_t>(ceil_log2(snap.count + 1));
  snap.roots.resize(slots);
  snap.folds.resize(slots);
  size_t consumed = 1;
  auto take = [&](const char* kind, std::vector<Prefix<TensorState>>& dest) {
    for (size_t k = 0; k < slots; ++k) {
      TensorState s;
      for (size_t i = 0;; ++i) {
        auto t = tensors.find(prefix + kind + "." + std::to_string(k) + "." + std::to_string(i));
        if (t == tensors.end()) break;
        s.push_back(t->second);
      }
      if (!s.empty()) {
        consumed += s.size();
        dest[k] = std::move(s);
      }
    }
  };
  take("root", snap.roots);
  take("fold", snap.folds);
  size_t with_prefix = 0;
  for (const auto& kv : tensors) with_prefix += kv.first.rfind(prefix, 0) == 0 ? 1 : 0;
  SCANLAB_CHECK(consumed == with_prefix, "scanner state: ", with_prefix - consumed, " tensor(s) under '", prefix,
                "' do not belong to a scanner with count ", snap.count);
  restore_snapshot(std::move(snap));
}

void TensorOnlineScanner::restore_snapshot(OnlineScanner<TensorState>::Snapshot snap) {
  TensorState like;
  for (const auto& slot : snap.roots)
    if (slot) {
      like = *slot;
      break;
    }
  for (size_t k = 0; k < snap.roots.size() && k < snap.folds.size(); ++k) {
    if (snap.roots[k]) check_state_matches(like, *snap.roots[k], "scanner state root " + std::to_string(k));
    if (snap.folds[k]) check_state_matches(like, *snap.folds[k], "scanner state fold " + std::to_string(k));
  }
  scanner_.restore(std::move(snap));  // checks the roots and folds against the count
  like_ = std::move(like);
}

}  // namespace scanlab::scan
