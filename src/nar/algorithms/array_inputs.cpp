// The input snapshot every array algorithm starts with.
#include "core/check.h"
#include "nar/algorithms/algorithms.h"

namespace scanlab::nar {

ProbeRecorder start_on_keys(const std::string& name, Spec spec, const std::vector<double>& keys) {
  SCANLAB_CHECK(!keys.empty(), name, ": needs at least one key");
  const auto n = static_cast<int64_t>(keys.size());
  ProbeRecorder rec(name, std::move(spec), n);
  rec.push(Stage::Input, {{"pos", probe::values(probe::positions(n, n))}, {"key", probe::values(keys)}});
  return rec;
}

}  // namespace scanlab::nar
