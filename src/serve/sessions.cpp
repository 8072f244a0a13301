#include "serve/sessions.h"

#include <filesystem>
#include <tuple>

#include "core/check.h"
#include "infer/generate.h"
#include "io/safetensors.h"

namespace scanlab::serve {

int64_t session_bytes(const Session& s) {
  return s.stream->state_bytes() + static_cast<int64_t>(s.logits.numel() * s.logits.element_size());
}

SessionStore::SessionStore(models::SequenceModel& model, std::string model_sha1, int64_t budget_bytes, std::string dir)
    : model_(model), model_sha1_(std::move(model_sha1)), budget_(budget_bytes), dir_(std::move(dir)) {
  SCANLAB_CHECK(budget_ >= 0, "--session-bytes ", budget_, ": expected >= 0");
  SCANLAB_CHECK(dir_.empty() || !model_sha1_.empty(), "--session-dir '", dir_,
                "': sessions on disk are bound to the model's weights SHA-1, and none was given");
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
      // The file is bound to this model's weights (as `generate --save-state` writes it): take() refuses
      // it under other weights.
      io::Safetensors file = infer::generation_state_file(*it->second.session.stream, it->second.session.logits,
                                                          model_.config(), model_sha1_);
      for (auto& [name, t] : file.tensors) t = t.to(at::kCPU).contiguous();
      io::save_safetensors(path_of(id), file);
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
  const std::string source = "session '" + id + "' (" + path + ")";
  std::unique_ptr<models::Stream> stream;
  at::Tensor logits;
  try {
    auto st = io::load_safetensors(path);
    auto params = model_.parameters();
    const at::Device device = params.empty() ? at::Device(at::kCPU) : params.front().device();
    for (auto& [name, t] : st.tensors) t = t.to(device);
    // Checks the weights' SHA-1 first (errors name `source`), then every field of the state.
    std::tie(stream, logits) = infer::load_generation_state_file(model_, st, model_sha1_, source);
  } catch (const std::exception& e) {
    // Nothing is forgotten: the file stays for inspection and a retry is refused the same way.
    // (The safetensors reader's errors start with the path already.)
    const std::string what = e.what();
    throw SessionRefused(what.rfind(source, 0) == 0 ? what
                         : what.rfind(path, 0) == 0 ? "session '" + id + "': " + what
                                                    : source + ": " + what);
  }
  on_disk_.erase(id);
  std::error_code ec;
  std::filesystem::remove(path, ec);  // the session lives in memory again; a stale file would only mislead
  return Session{std::move(stream), logits};
}

}  // namespace scanlab::serve
