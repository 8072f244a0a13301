#include "dist/world.h"

#include <cstdlib>
#include <optional>

#include "core/check.h"

namespace scanlab::dist {
namespace {

constexpr int64_t kMaxWorldSize = 1 << 16;

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

int64_t parse_count(const std::string& what, const std::string& value, int64_t lo, int64_t hi) {
  const bool digits = !value.empty() && value.size() <= 9 && value.find_first_not_of("0123456789") == std::string::npos;
  const int64_t n = digits ? std::stoll(value) : -1;
  SCANLAB_CHECK(digits && n >= lo && n <= hi, what, "='", value, "' is not valid; expected an integer in ", lo, "..",
                hi);
  return n;
}

}  // namespace

int parse_port(const std::string& what, const std::string& value) {
  return static_cast<int>(parse_count(what, value, 1, 65535));
}

World world_from_env() {
  World w;
  const auto size = env("WORLD_SIZE"), rank = env("RANK");
  if (!size) {
    SCANLAB_CHECK(!rank, "RANK=", *rank, " is set but WORLD_SIZE is not; set both (as torchrun does) or neither");
    return w;
  }
  w.size = static_cast<int>(parse_count("WORLD_SIZE", *size, 1, kMaxWorldSize));
  if (w.size == 1 && !rank) return w;
  SCANLAB_CHECK(rank.has_value(), "WORLD_SIZE=", w.size, " is set but RANK is not; each process needs its RANK in 0..",
                w.size - 1);
  w.rank = static_cast<int>(parse_count("RANK", *rank, 0, kMaxWorldSize));
  SCANLAB_CHECK(w.rank < w.size, "RANK=", w.rank, " is outside the world: WORLD_SIZE=", w.size, " allows RANK 0..",
                w.size - 1);
  const auto local = env("LOCAL_RANK");
  w.local_rank = local ? static_cast<int>(parse_count("LOCAL_RANK", *local, 0, kMaxWorldSize)) : w.rank;
  if (w.size == 1) return w;
  const auto addr = env("MASTER_ADDR"), port = env("MASTER_PORT");
  SCANLAB_CHECK(addr && !addr->empty(), "WORLD_SIZE=", w.size,
                " but MASTER_ADDR is not set; it names the host of rank 0 (127.0.0.1 on one machine)");
  SCANLAB_CHECK(port.has_value(), "WORLD_SIZE=", w.size,
                " but MASTER_PORT is not set; it is the port rank 0 listens on");
  w.master_addr = *addr;
  w.master_port = parse_port("MASTER_PORT", *port);
  w.agent_store = env("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
  if (const auto restart = env("TORCHELASTIC_RESTART_COUNT"))
    w.restart = static_cast<int>(parse_count("TORCHELASTIC_RESTART_COUNT", *restart, 0, 1 << 30));
  return w;
}

}  // namespace scanlab::dist
