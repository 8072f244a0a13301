#include "serve/sessions.h"

#include <filesystem>

#include "core/check.h"
#include "infer/generate.h"
#include "io/safetensors.h"

namespace scanlab::serve {

int64_t session_bytes(const Session& s) {
  return s.stream->state_bytes() + static_cast<int64_t>(s.logits.numel() * s.logits.element_size());
}

SessionStore::SessionStore(models::SequenceModel& model, int64_t budget_bytes, std::string dir)
    : model_(model), budget_(budget_bytes), dir_(std::move(dir)) {
  SCANLAB_CHECK(budget_ >= 0, "--session-bytes ", budget_, ": expected >= 0");
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    SCANLAB_CHECK(std::filesystem::is_directory(dir_), "--session-dir '", dir_, "': cannot create the directory",
                  ec ? ": " + ec.message() : std::string());
  }
}

std::string SessionStore::path_of(const std::string& id) const {
  return (std::filesystem::path(dir_) / (id + ".safetensors")).string();
}

void SessionStore::put(const std::string& id, Session s) {
  const int64_t bytes = session_bytes(s);
  on_disk_.erase(id);
  lru_.push_back(id);
  memory_[id] = Entry{std::move(s), bytes, std::prev(lru_.end())};
  memory_bytes_ += bytes;
  evict_past_budget();
}

void SessionStore::evict_past_budget() {
  while (memory_bytes_ > budget_ && !lru_.empty()) {
    const std::string id = lru_.front();
    auto it = memory_.find(id);
    // Written before anything is forgotten: if the write fails the session stays in memory.
    if (!dir_.empty()) {
      // Tensors go to the CPU first: the file format holds CPU tensors, and the device memory is what
      // the eviction is meant to free.
      std::map<std::string, at::Tensor> tensors;
      for (auto& [name, t] : infer::save_generation_state(*it->second.session.stream, it->second.session.logits))
        tensors[name] = t.to(at::kCPU).contiguous();
      io::save_safetensors(path_of(id), {std::move(tensors), {{"scanlab.generation_of", model_.config().dump()}}});
      on_disk_.insert(id);
    }
    lru_.pop_front();
    memory_bytes_ -= it->second.bytes;
    ++evictions_;
    memory_.erase(it);
  }
}

std::optional<Session> SessionStore::take(const std::string& id) {
  if (auto it = memory_.find(id); it != memory_.end()) {
    Session s = std::move(it->second.session);
    memory_bytes_ -= it->second.bytes;
    lru_.erase(it->second.lru);
    memory_.erase(it);
    return s;
  }
  if (!on_disk_.count(id)) return std::nullopt;
  const std::string path = path_of(id);
  auto st = io::load_safetensors(path);
  auto params = model_.parameters();
  const at::Device device = params.empty() ? at::Device(at::kCPU) : params.front().device();
  for (auto& [name, t] : st.tensors) t = t.to(device);
  auto [stream, logits] = infer::load_generation_state(model_, st.tensors);
  on_disk_.erase(id);
  std::error_code ec;
  std::filesystem::remove(path, ec);  // the session lives in memory again; a stale file would only mislead
  return Session{std::move(stream), logits};
}

}  // namespace scanlab::serve
