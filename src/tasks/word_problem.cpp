#include "tasks/word_problem.h"

#include <algorithm>
#include <numeric>

#include "core/check.h"
#include "tasks/rng.h"

namespace scanlab::tasks {
namespace {

constexpr int64_t kMaxSymmetricDegree = 6;  // 720 elements: a 518k-entry composition table
constexpr int64_t kMaxCyclicOrder = 1024;

bool is_even(const std::vector<int>& p) {
  int inversions = 0;
  for (size_t i = 0; i < p.size(); ++i)
    for (size_t j = i + 1; j < p.size(); ++j) inversions += p[i] > p[j];
  return inversions % 2 == 0;
}

int64_t parse_degree(const std::string& name, const std::string& digits, int64_t max, const std::string& hint) {
  int64_t n = 0;
  bool ok = !digits.empty() && digits.size() <= 5 && std::all_of(digits.begin(), digits.end(), ::isdigit);
  if (ok) n = std::stoll(digits);
  SCANLAB_CHECK(ok && n >= 2 && n <= max, "group '", name, "': the degree must be between 2 and ", max, hint);
  return n;
}

}  // namespace

PermutationGroup PermutationGroup::from_name(const std::string& name) {
  const std::string hint = "; expected S<n> or A<n> (n <= 6), Z<n> (n <= 1024) or parity, e.g. S5, A5, S3, Z7";
  SCANLAB_CHECK(!name.empty(), "group name is empty", hint);
  std::vector<std::vector<int>> elements;
  int64_t degree = 0;
  if (name == "parity") {
    degree = 2;
    elements = {{0, 1}, {1, 0}};
  } else if (name[0] == 'S' || name[0] == 'A') {
    degree = parse_degree(name, name.substr(1), kMaxSymmetricDegree, hint);
    std::vector<int> p(static_cast<size_t>(degree));
    std::iota(p.begin(), p.end(), 0);
    do {
      if (name[0] == 'S' || is_even(p)) elements.push_back(p);
    } while (std::next_permutation(p.begin(), p.end()));
  } else if (name[0] == 'Z') {
    degree = parse_degree(name, name.substr(1), kMaxCyclicOrder, hint);
    for (int64_t r = 0; r < degree; ++r) {
      std::vector<int> p(static_cast<size_t>(degree));
      for (int64_t j = 0; j < degree; ++j) p[static_cast<size_t>(j)] = static_cast<int>((j + r) % degree);
      elements.push_back(p);
    }
  } else {
    SCANLAB_FAIL("unknown group '", name, "'", hint);
  }
  std::sort(elements.begin(), elements.end());  // lexicographic one-line order; identity first
  return PermutationGroup(name, degree, std::move(elements));
}

PermutationGroup::PermutationGroup(std::string name, int64_t degree, std::vector<std::vector<int>> elements)
    : name_(std::move(name)), degree_(degree), elements_(std::move(elements)) {
  const int64_t G = size();
  table_.assign(static_cast<size_t>(G * G), -1);
  std::vector<int> composed(static_cast<size_t>(degree_));
  for (int64_t s = 0; s < G; ++s)
    for (int64_t a = 0; a < G; ++a) {
      const auto& ps = elements_[static_cast<size_t>(s)];
      const auto& pa = elements_[static_cast<size_t>(a)];
      for (int64_t j = 0; j < degree_; ++j)
        composed[static_cast<size_t>(j)] = ps[static_cast<size_t>(pa[static_cast<size_t>(j)])];
      auto it = std::lower_bound(elements_.begin(), elements_.end(), composed);
      SCANLAB_ASSERT(it != elements_.end() && *it == composed);  // closure: the set is a group
      table_[static_cast<size_t>(s * G + a)] = it - elements_.begin();
    }
}

std::string PermutationGroup::one_line(int64_t e) const {
  std::string s;
  for (int v : permutation(e))
    s += (degree_ <= 9 ? std::to_string(v + 1) : (s.empty() ? "" : ",") + std::to_string(v + 1));
  return s;
}

WordProblemTask::WordProblemTask(WordProblemOptions opts)
    : opts_(std::move(opts)), group_(PermutationGroup::from_name(opts_.group)) {
  SCANLAB_CHECK(opts_.seq_len >= 2, "word_problem: seq_len ", opts_.seq_len,
                " is too short; the shifted loss needs at least 2 actions");
  SCANLAB_CHECK(opts_.num_train >= 1 && opts_.num_val >= 1, "word_problem: num_train and num_val must be >= 1, got ",
                opts_.num_train, " and ", opts_.num_val);
  SCANLAB_CHECK(opts_.seed != opts_.val_seed, "word_problem: seed and val_seed are both ", opts_.seed,
                "; validation must use a different stream");
}

std::string WordProblemTask::name() const {
  return "word_problem(" + group_.name() + ", T=" + std::to_string(opts_.seq_len) + ")";
}

int64_t WordProblemTask::num_examples(Split split) const {
  return split == Split::Train ? opts_.num_train : opts_.num_val;
}

void WordProblemTask::generate(Split split, int64_t index, std::vector<int64_t>& actions,
                               std::vector<int64_t>& states) const {
  auto rng = Rng::for_example(split == Split::Train ? opts_.seed : opts_.val_seed, static_cast<uint64_t>(index));
  const int64_t T = opts_.seq_len;
  actions.resize(static_cast<size_t>(T));
  states.resize(static_cast<size_t>(T + 1));
  states[0] = group_.identity();
  for (int64_t t = 0; t < T; ++t) {
    actions[static_cast<size_t>(t)] = rng.below(group_.size());
    states[static_cast<size_t>(t + 1)] =
        group_.compose(states[static_cast<size_t>(t)], actions[static_cast<size_t>(t)]);
  }
}

Batch WordProblemTask::examples(Split split, const std::vector<int64_t>& indices) const {
  const int64_t B = static_cast<int64_t>(indices.size()), T = opts_.seq_len;
  auto inputs = at::empty({B, T}, at::kLong), labels = at::empty({B, T}, at::kLong);
  auto* in = inputs.data_ptr<int64_t>();
  auto* lb = labels.data_ptr<int64_t>();
  std::vector<int64_t> actions, states;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t i = indices[static_cast<size_t>(b)];
    SCANLAB_CHECK(i >= 0 && i < num_examples(split), name(), ": example ", i, " is outside the ", split_name(split),
                  " split of ", num_examples(split));
    generate(split, i, actions, states);
    for (int64_t t = 0; t < T; ++t) {
      in[b * T + t] = token_of(actions[static_cast<size_t>(t)]);
      lb[b * T + t] = token_of(states[static_cast<size_t>(t)]);  // s_0..s_{T-1}; scored shifted
    }
  }
  return {inputs, labels};
}

}  // namespace scanlab::tasks
