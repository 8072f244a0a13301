// Idle sessions: a finished request's stream and its pending next-token logits, kept so that
// /v1/sessions/{id}/continue resumes without re-reading earlier text. Least recently used sessions
// leave memory once their bytes exceed the budget: to <dir>/<id>.safetensors when a directory is
// given (infer::save_generation_state), else they are dropped. take() reloads from disk.
// Owned by the scheduler thread; not thread-safe.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "models/sequence_model.h"

namespace scanlab::serve {

struct Session {
  std::unique_ptr<models::Stream> stream;  // positioned after the last token fed
  at::Tensor logits;                       // [1, V] for the token after it
};

// What a session costs while it waits: the stream's state plus its pending logits.
int64_t session_bytes(const Session& s);

class SessionStore {
 public:
  // budget_bytes: memory for idle sessions; dir: where evicted ones go ("" = drop them).
  SessionStore(models::SequenceModel& model, int64_t budget_bytes, std::string dir);

  // Keeps `s` as the most recently used, then evicts past the budget (possibly `s` itself).
  void put(const std::string& id, Session s);
  // Removes and returns the session (reloading it from disk if it was evicted there); none if unknown.
  std::optional<Session> take(const std::string& id);
  bool contains(const std::string& id) const { return memory_.count(id) || on_disk_.count(id); }

  int64_t memory_bytes() const { return memory_bytes_; }
  int64_t in_memory() const { return static_cast<int64_t>(memory_.size()); }
  int64_t on_disk() const { return static_cast<int64_t>(on_disk_.size()); }
  int64_t evictions() const { return evictions_; }

 private:
  struct Entry {
    Session session;
    int64_t bytes;
    std::list<std::string>::iterator lru;
  };
  std::string path_of(const std::string& id) const;
  void evict_past_budget();

  models::SequenceModel& model_;
  int64_t budget_;
  std::string dir_;
  std::list<std::string> lru_;  // front = least recently used
  std::map<std::string, Entry> memory_;
  std::set<std::string> on_disk_;
  int64_t memory_bytes_ = 0;
  int64_t evictions_ = 0;
};

}  // namespace scanlab::serve
