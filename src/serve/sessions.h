// Idle sessions: a finished request's stream and its pending next-token logits, kept so that
// /v1/sessions/{id}/continue resumes without re-reading earlier text. Least recently used sessions
// leave memory once their bytes exceed the budget: to <dir>/<id>.safetensors when a directory is
// given (infer::generation_state_file: bound to the model's weights SHA-1, as `generate --save-state`
// writes), else they are dropped. take() reloads from disk through infer::load_generation_state_file,
// so a file saved by other weights, or corrupt or truncated, is refused (SessionRefused) and kept.
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

#include "core/check.h"
#include "models/sequence_model.h"

namespace scanlab::serve {

struct Session {
  std::unique_ptr<models::Stream> stream;  // positioned after the last token fed
  at::Tensor logits;                       // [1, V] for the token after it
};

// What a session costs while it waits: the stream's state plus its pending logits.
int64_t session_bytes(const Session& s);

// A session on disk that cannot be restored: saved by another model, or not a valid state file.
// The message names the session and its file; the session stays listed and its file is left as it is.
class SessionRefused : public Error {
 public:
  using Error::Error;
};

class SessionStore {
 public:
  // budget_bytes: memory for idle sessions; dir: where evicted ones go ("" = drop them);
  // model_sha1: the model file's weights SHA-1 (models::ModelFile::weights_sha1), written into every
  // evicted session and required of every restored one (needed when dir is given).
  SessionStore(models::SequenceModel& model, std::string model_sha1, int64_t budget_bytes, std::string dir);

  // Keeps `s` as the most recently used, then evicts past the budget (possibly `s` itself).
  void put(const std::string& id, Session s);
  // Removes and returns the session (reloading it from disk if it was evicted there); none if unknown.
  // Throws SessionRefused when its file was saved by another model or is corrupt or truncated.
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
  std::string model_sha1_;
  int64_t budget_;
  std::string dir_;
  std::list<std::string> lru_;  // front = least recently used
  std::map<std::string, Entry> memory_;
  std::set<std::string> on_disk_;
  int64_t memory_bytes_ = 0;
  int64_t evictions_ = 0;
};

}  // namespace scanlab::serve
