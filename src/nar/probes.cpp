// Probe recorder, validation and the helper probes of CLRS probing.py.
#include "nar/probes.h"

#include <cmath>
#include <set>

#include "core/check.h"

namespace scanlab::nar {
namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

bool is_class_value(double v) { return v == kPositive || v == kNegative || v == kMasked; }

// Every row of the last axis (length `row`) sums in absolute value to one (CLRS one-hot check).
void check_one_hot_rows(const Array& v, int64_t row, const std::string& where) {
  for (int64_t r = 0; r * row < v.numel(); ++r) {
    double s = 0;
    for (int64_t k = 0; k < row; ++k) s += std::fabs(v.data[r * row + k]);
    SCANLAB_CHECK(s == 1.0, where, ": row ", r, " is not one-hot (absolute sum ", s,
                  "); mask_one and categorical rows need exactly one entry of 1 or -1");
  }
}

}  // namespace

int64_t Array::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

const Datapoint& Trajectory::get(const std::string& name) const {
  for (const auto& d : data)
    if (d.entry.name == name) return d;
  throw Error(detail::concat("algorithm ", algorithm, " has no datapoint '", name, "'"));
}

Datapoint& Trajectory::get(const std::string& name) {
  return const_cast<Datapoint&>(static_cast<const Trajectory&>(*this).get(name));
}

Spec Trajectory::spec() const {
  Spec s;
  for (const auto& d : data) s.push_back(d.entry);
  return s;
}

std::vector<int64_t> value_shape(const SpecEntry& e, int64_t nodes, int64_t categories) {
  std::vector<int64_t> shape;
  if (e.location == Location::Node) shape = {nodes};
  if (e.location == Location::Edge) shape = {nodes, nodes};
  if (e.type == Type::Categorical) shape.push_back(categories);
  if (e.type == Type::PermutationPointer || e.type == Type::SoftPointer) shape.push_back(nodes);
  return shape;
}

void validate_value(const SpecEntry& e, int64_t nodes, const Array& v, const std::string& where) {
  const std::string at = where + " '" + e.name + "' (" + to_string(e.location) + " " + to_string(e.type) + ")";
  SCANLAB_CHECK(static_cast<int64_t>(v.data.size()) == v.numel(), at, ": ", v.data.size(), " values for shape ",
                shape_str(v.shape));
  const int64_t categories = (e.type == Type::Categorical && !v.shape.empty()) ? v.shape.back() : 0;
  const auto expected = value_shape(e, nodes, categories);
  SCANLAB_CHECK(v.shape == expected, at, ": shape ", shape_str(v.shape), ", expected ", shape_str(expected));
  if (e.type == Type::Categorical) SCANLAB_CHECK(categories >= 1, at, ": needs at least one category");
  for (double x : v.data) SCANLAB_CHECK(std::isfinite(x), at, ": value ", x, " is not finite");
  switch (e.type) {
    case Type::Scalar:
      break;
    case Type::Mask:
    case Type::MaskOne:
    case Type::Categorical:
      for (double x : v.data) SCANLAB_CHECK(is_class_value(x), at, ": value ", x, " is not 0, 1 or -1 (masked)");
      if (e.type != Type::Mask) check_one_hot_rows(v, v.shape.empty() ? 1 : v.shape.back(), at);
      break;
    case Type::Pointer:
    case Type::ShouldBePermutation:
      for (double x : v.data)
        SCANLAB_CHECK(x == std::floor(x) && x >= 0 && x < static_cast<double>(nodes), at, ": pointer ", x,
                      " is not a node index in [0, ", nodes, ")");
      break;
    case Type::PermutationPointer:
      for (double x : v.data) SCANLAB_CHECK(x == 0.0 || x == 1.0, at, ": value ", x, " is not 0 or 1");
      check_one_hot_rows(v, nodes, at);
      break;
    case Type::SoftPointer:
      for (int64_t r = 0; r * nodes < v.numel(); ++r) {
        double s = 0;
        for (int64_t k = 0; k < nodes; ++k) {
          const double x = v.data[r * nodes + k];
          SCANLAB_CHECK(x >= 0, at, ": row ", r, " has negative weight ", x);
          s += x;
        }
        SCANLAB_CHECK(std::fabs(s - 1.0) < 1e-6, at, ": row ", r, " sums to ", s, ", expected 1");
      }
      break;
  }
}

void validate(const Trajectory& t) {
  SCANLAB_CHECK(t.length >= 1, t.algorithm, ": trajectory length ", t.length, ", expected at least 1");
  std::set<std::string> names;
  for (const auto& d : t.data) {
    SCANLAB_CHECK(names.insert(d.entry.name).second, t.algorithm, ": datapoint '", d.entry.name, "' twice");
    if (d.entry.stage != Stage::Hint) {
      validate_value(d.entry, t.nodes, d.value, t.algorithm + " " + to_string(d.entry.stage));
      continue;
    }
    SCANLAB_CHECK(!d.value.shape.empty() && d.value.shape[0] == t.length, t.algorithm, " hint '", d.entry.name,
                  "': shape ", shape_str(d.value.shape), " does not start with the length ", t.length);
    Array step;
    step.shape.assign(d.value.shape.begin() + 1, d.value.shape.end());
    const int64_t per = step.numel();
    SCANLAB_CHECK(static_cast<int64_t>(d.value.data.size()) == per * t.length, t.algorithm, " hint '", d.entry.name,
                  "': ", d.value.data.size(), " values for shape ", shape_str(d.value.shape));
    for (int64_t i = 0; i < t.length; ++i) {
      step.data.assign(d.value.data.begin() + i * per, d.value.data.begin() + (i + 1) * per);
      validate_value(d.entry, t.nodes, step, t.algorithm + " hint at step " + std::to_string(i));
    }
  }
}

ProbeRecorder::ProbeRecorder(std::string algorithm, Spec spec, int64_t nodes)
    : algorithm_(std::move(algorithm)), spec_(std::move(spec)), nodes_(nodes) {
  SCANLAB_CHECK(nodes_ >= 1, algorithm_, ": ", nodes_, " nodes, expected at least 1");
}

void ProbeRecorder::push(Stage stage, Snapshot values) {
  const std::string where = algorithm_ + " " + to_string(stage);
  auto& target = stage == Stage::Input ? inputs_ : stage == Stage::Output ? outputs_ : hints_;
  SCANLAB_CHECK(stage == Stage::Hint || target.empty(), where, " pushed twice; inputs and outputs are pushed once");
  Snapshot ordered;
  for (const auto& e : spec_) {
    if (e.stage != stage) continue;
    const std::pair<std::string, Array>* found = nullptr;
    for (const auto& kv : values)
      if (kv.first == e.name) {
        SCANLAB_CHECK(found == nullptr, where, ": '", e.name, "' given twice");
        found = &kv;
      }
    SCANLAB_CHECK(found != nullptr, where, ": missing '", e.name, "' (every ", to_string(stage),
                  " of the spec must be pushed)");
    validate_value(e, nodes_, found->second, where);
    if (!target.empty()) {
      const auto& first = target.front()[ordered.size()].second;
      SCANLAB_CHECK(first.shape == found->second.shape, where, " '", e.name, "': shape changed between steps");
    }
    ordered.push_back(*found);
  }
  SCANLAB_CHECK(ordered.size() == values.size(), where, ": ", values.size() - ordered.size(),
                " pushed value(s) are not ", to_string(stage), "s of the spec");
  target.push_back(std::move(ordered));
}

Trajectory ProbeRecorder::finalize() const {
  SCANLAB_CHECK(inputs_.size() == 1 && outputs_.size() == 1 && !hints_.empty(), algorithm_,
                ": finalize needs one input push, one output push and at least one hint push (got ", inputs_.size(),
                ", ", outputs_.size(), ", ", hints_.size(), ")");
  Trajectory t;
  t.algorithm = algorithm_;
  t.nodes = nodes_;
  t.length = static_cast<int64_t>(hints_.size());
  size_t in = 0, out = 0, hint = 0;
  for (const auto& e : spec_) {
    Datapoint d{e, {}};
    if (e.stage == Stage::Input) d.value = inputs_[0][in++].second;
    if (e.stage == Stage::Output) d.value = outputs_[0][out++].second;
    if (e.stage == Stage::Hint) {
      d.value.shape = hints_[0][hint].second.shape;
      d.value.shape.insert(d.value.shape.begin(), t.length);
      for (const auto& snap : hints_) {
        const auto& v = snap[hint].second.data;
        d.value.data.insert(d.value.data.end(), v.begin(), v.end());
      }
      ++hint;
    }
    t.data.push_back(std::move(d));
  }
  return t;
}

namespace probe {

Array scalar(double x) { return Array{{}, {x}}; }

Array values(const std::vector<double>& v) { return Array{{static_cast<int64_t>(v.size())}, v}; }

Array matrix(const std::vector<double>& m, int64_t n) {
  SCANLAB_ASSERT(static_cast<int64_t>(m.size()) == n * n);
  return Array{{n, n}, m};
}

Array mask_one(int64_t i, int64_t n) {
  SCANLAB_ASSERT(i >= 0 && i < n);
  Array a{{n}, std::vector<double>(static_cast<size_t>(n), 0.0)};
  a.data[static_cast<size_t>(i)] = 1.0;
  return a;
}

Array pointers(const std::vector<int64_t>& p) {
  Array a{{static_cast<int64_t>(p.size())}, {}};
  for (auto x : p) a.data.push_back(static_cast<double>(x));
  return a;
}

Array array_order(const std::vector<int64_t>& a_pos) {
  std::vector<int64_t> p(a_pos.size());
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<int64_t>(i);
  for (size_t i = 1; i < a_pos.size(); ++i) p[static_cast<size_t>(a_pos[i])] = a_pos[i - 1];
  return pointers(p);
}

Array categorical(const std::vector<int64_t>& classes, int64_t categories) {
  const auto n = static_cast<int64_t>(classes.size());
  Array a{{n, categories}, std::vector<double>(static_cast<size_t>(n * categories), 0.0)};
  for (int64_t i = 0; i < n; ++i) a.data[static_cast<size_t>(i * categories + classes[i])] = 1.0;
  return a;
}

Array graph(const std::vector<double>& adjacency, int64_t n) {
  Array a = matrix(adjacency, n);
  for (int64_t i = 0; i < n; ++i) a.data[static_cast<size_t>(i * n + i)] += 1.0;
  for (auto& x : a.data) x = x != 0.0 ? 1.0 : 0.0;
  return a;
}

std::vector<double> positions(int64_t count, int64_t divisor) {
  std::vector<double> p(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) p[i] = static_cast<double>(i) / static_cast<double>(divisor);
  return p;
}

std::vector<int64_t> identity(int64_t n) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  return p;
}

}  // namespace probe
}  // namespace scanlab::nar
