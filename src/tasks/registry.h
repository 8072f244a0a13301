// The task registry: every task a [task] section can name, with the reader of its keys and its
// factory. A new task is its own file plus one entry in registry.cpp; parse_experiment, the trainer,
// the evaluator and the demos reach tasks only through here.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tasks/flip_flop.h"
#include "tasks/lm_corpus.h"
#include "tasks/mqar.h"
#include "tasks/task.h"
#include "tasks/word_problem.h"

namespace scanlab::tasks {

// A [task] section: which task, and its keys as written (checked by read_task_config).
struct TaskConfig {
  std::string kind = "mqar";
  nlohmann::json section = {{"kind", "mqar"}};
};

struct TaskEntry {
  std::string name;
  // The sequence length a section configures; reads every key strictly (errors name 'task.<key>').
  std::function<int64_t(const nlohmann::json& section)> seq_len;
  // The task a section describes; seq_len > 0 replaces the configured length (curriculum stages,
  // length sweeps).
  std::function<std::unique_ptr<Task>(const nlohmann::json& section, int64_t seq_len)> make;
  // The vocabulary the task would have, without making it (no corpus read or encoded, no examples
  // generated): what a model config needs when it leaves vocab_size out.
  std::function<int64_t(const nlohmann::json& section)> vocab_size;
};

const std::vector<TaskEntry>& task_registry();
std::vector<std::string> task_names();
const TaskEntry& find_task(const std::string& name);

// Reads and checks a [task] section (null: the default MQAR task): the kind, then that task's keys.
TaskConfig read_task_config(const nlohmann::json& section);
std::unique_ptr<Task> make_task(const TaskConfig& cfg, int64_t seq_len = 0);
int64_t task_seq_len(const TaskConfig& cfg);
int64_t task_vocab_size(const TaskConfig& cfg);

// Each task's options as read from a section ("kind" allowed, every other key checked), for the
// factories above and for callers that want the struct.
MqarOptions read_mqar_options(const nlohmann::json& section);
WordProblemOptions read_word_problem_options(const nlohmann::json& section);
FlipFlopOptions read_flip_flop_options(const nlohmann::json& section);
LmOptions read_lm_options(const nlohmann::json& section);

}  // namespace scanlab::tasks
