#include "tasks/registry.h"

#include "core/check.h"
#include "core/memory.h"
#include "core/registry.h"
#include "core/strict_json.h"
#include "tokenize/tokenizer.h"

namespace scanlab::tasks {
namespace {

// Messages name keys as an experiment file writes them: 'task.seq_len'.
StrictJson task_reader(const nlohmann::json& section) {
  StrictJson s(section, "config", "task");
  s.allow("kind");
  return s;
}

// The synthetic tasks generate their examples up front, int64 inputs and targets of seq_len tokens
// each: num_train = 10^14 was an allocation failure, not an error.
template <class Options>
Options sized(Options o, int64_t seq_len, const char* kind) {
  if (seq_len > 0) o.seq_len = seq_len;
  const double examples = static_cast<double>(o.num_train) + static_cast<double>(o.num_val);
  check_fits_in_memory(16.0 * examples * static_cast<double>(o.seq_len), at::kCPU,
                       std::string("[task] ") + kind + ": num_train + num_val = " + std::to_string(o.num_train) +
                           " + " + std::to_string(o.num_val) + " examples of seq_len " + std::to_string(o.seq_len));
  return o;
}

// One entry of a task whose options struct has a seq_len: `read` parses a section into it.
template <class TaskType, class Options>
TaskEntry synthetic_entry(const char* name, Options (*read)(const nlohmann::json&)) {
  return {name, [read](const nlohmann::json& s) { return read(s).seq_len; },
          [read, name](const nlohmann::json& s, int64_t seq_len) -> std::unique_ptr<Task> {
            return std::make_unique<TaskType>(sized(read(s), seq_len, name));
          },
          [read, name](const nlohmann::json& s) {
            // The configured size is checked as making the task would (so an experiment that cannot
            // fit fails where its file is named); then the task itself says, made with one example a split.
            Options o = sized(read(s), 0, name);
            o.num_train = o.num_val = 1;
            return TaskType(o).vocab_size();
          }};
}

// The keys every synthetic task shares: split sizes and the two seeds (validation = train seed + 10,
// Zoology's convention, unless given).
template <class Options>
void read_splits(StrictJson& s, Options& o) {
  s.read_at_least("num_train", o.num_train, 1);
  s.read_at_least("num_val", o.num_val, 1);
  s.read("seed", o.seed);
  o.val_seed = o.seed + 10;
  s.read("val_seed", o.val_seed);
}

}  // namespace

MqarOptions read_mqar_options(const nlohmann::json& section) {
  StrictJson s = task_reader(section);
  MqarOptions o;
  s.read_at_least("vocab_size", o.vocab_size, 4);
  s.read_at_least("seq_len", o.seq_len, 4);
  s.read_at_least("num_kv_pairs", o.num_kv_pairs, 1);
  s.read("power_a", o.power_a);
  s.read_at_least("min_query_distance", o.min_query_distance, 0);
  s.read("random_non_queries", o.random_non_queries);
  read_splits(s, o);
  s.finish();
  return o;
}

WordProblemOptions read_word_problem_options(const nlohmann::json& section) {
  StrictJson s = task_reader(section);
  WordProblemOptions o;
  s.read("group", o.group);
  s.read_at_least("seq_len", o.seq_len, 2);
  read_splits(s, o);
  s.finish();
  return o;
}

FlipFlopOptions read_flip_flop_options(const nlohmann::json& section) {
  StrictJson s = task_reader(section);
  FlipFlopOptions o;
  s.read_at_least("num_values", o.num_values, 2);
  s.read_at_least("num_distractors", o.num_distractors, 1);
  s.read_at_least("write_prob", o.write_prob, 0.0);
  s.read_at_least("seq_len", o.seq_len, 1);
  read_splits(s, o);
  s.finish();
  return o;
}

LmOptions read_lm_options(const nlohmann::json& section) {
  StrictJson s = task_reader(section);
  LmOptions o;
  s.read("path", o.corpus.path);
  s.read_choice("format", o.corpus.format, {"auto", "plain", "wikitext"});
  s.read("val_fraction", o.corpus.val_fraction);
  s.read_choice("tokenizer", o.tokenizer, {"gpt2", "byte"});
  s.read("bpe_dir", o.bpe_dir);
  s.read_at_least("seq_len", o.seq_len, 2);
  s.finish();
  return o;
}

const std::vector<TaskEntry>& task_registry() {
  static const std::vector<TaskEntry> registry = {
      synthetic_entry<MqarTask>("mqar", read_mqar_options),
      synthetic_entry<WordProblemTask>("word_problem", read_word_problem_options),
      synthetic_entry<FlipFlopTask>("flip_flop", read_flip_flop_options),
      // A corpus is read from disk when the task is made; its windows are cut, not generated.
      {"lm", [](const nlohmann::json& s) { return read_lm_options(s).seq_len; },
       [](const nlohmann::json& s, int64_t seq_len) -> std::unique_ptr<Task> {
         LmOptions o = read_lm_options(s);
         if (seq_len > 0) o.seq_len = seq_len;
         return std::make_unique<LmTask>(o);
       },
       [](const nlohmann::json& s) {  // the tokenizer's, without reading the corpus
         const LmOptions o = read_lm_options(s);
         return tokenize::make_tokenizer(o.tokenizer, o.bpe_dir)->vocab_size();
       }},
  };
  return registry;
}

std::vector<std::string> task_names() { return names_of(task_registry()); }

const TaskEntry& find_task(const std::string& name) { return find_by_name(task_registry(), name, "task"); }

TaskConfig read_task_config(const nlohmann::json& section) {
  TaskConfig cfg;
  if (section.is_null()) return cfg;
  StrictJson s(section, "config", "task");
  s.read_choice("kind", cfg.kind, task_names());
  cfg.section = section;
  cfg.section["kind"] = cfg.kind;
  find_task(cfg.kind).seq_len(cfg.section);  // every key of the section checked here, once
  return cfg;
}

std::unique_ptr<Task> make_task(const TaskConfig& cfg, int64_t seq_len) {
  return find_task(cfg.kind).make(cfg.section, seq_len);
}

int64_t task_seq_len(const TaskConfig& cfg) { return find_task(cfg.kind).seq_len(cfg.section); }

int64_t task_vocab_size(const TaskConfig& cfg) { return find_task(cfg.kind).vocab_size(cfg.section); }

}  // namespace scanlab::tasks
