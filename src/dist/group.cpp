#include "dist/group.h"

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef SCANLAB_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef SCANLAB_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "core/check.h"
#include "core/torch_compat.h"

namespace scanlab::dist {

#if SCANLAB_C10D_BACKEND_IS_SEPARATE
using Backend = c10d::Backend;
#else
using Backend = c10d::ProcessGroup;
#endif

namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

std::string first_line(const std::string& s) {
  const auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }
std::string text(const std::vector<uint8_t>& b) { return {b.begin(), b.end()}; }

std::string hb_key(int rank) { return "heartbeat/" + std::to_string(rank); }
std::string error_key(int rank) { return "error/" + std::to_string(rank); }
std::string verdict_key(int rank) { return "verdict/" + std::to_string(rank); }

bool is_loopback(const std::string& addr) { return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1"; }

// Runs fn on a detached thread and waits up to `limit`: a store whose host is stopped can block a
// client call for good, and a diagnosis must not hang the rank that makes it.
template <class T, class Fn>
std::optional<T> within(milliseconds limit, Fn fn) {
  auto task = std::make_shared<std::packaged_task<T()>>(std::move(fn));
  auto result = task->get_future();
  std::thread([task] { (*task)(); }).detach();
  if (result.wait_for(limit) != std::future_status::ready) return std::nullopt;
  try {
    return result.get();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::string resolve_backend(const std::string& name, at::Device device) {
  SCANLAB_CHECK(name == "auto" || name == "gloo" || name == "nccl", "--backend '", name,
                "' is unknown; expected gloo, nccl or auto");
  const std::string b = name == "auto" ? (device.is_cuda() ? "nccl" : "gloo") : name;
  SCANLAB_CHECK(!(b == "nccl" && !device.is_cuda()), "--backend nccl needs CUDA tensors; this run is on ", device.str(),
                " (use --backend gloo, or --device cuda)");
#ifndef SCANLAB_WITH_GLOO
  SCANLAB_CHECK(b != "gloo",
                "--backend gloo: this scanlab was built without c10d's Gloo (LibTorch's "
                "ProcessGroupGloo.hpp or gloo's headers were not found; Debian: apt-get install libgloo-dev)");
#endif
#ifndef SCANLAB_WITH_NCCL
  SCANLAB_CHECK(b != "nccl",
                "--backend nccl: this scanlab was built without c10d's NCCL (it needs a CUDA LibTorch "
                "with ProcessGroupNCCL.hpp and nccl.h); use --backend gloo");
#endif
  return b;
}

struct Group::Pending {
  c10::intrusive_ptr<c10d::Work> work;
  std::string what;
  int64_t seq = 0;
};

struct Group::Impl {
  World world;
  GroupOptions opts;
  milliseconds beat{1000};
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Backend> backend;
  std::atomic<bool> broken{false};
  // The heartbeat thread's state outlives the Group: the thread is detached (a store call can block
  // for good when rank 0 is stopped) and holds its own reference.
  struct Beat {
    std::mutex mu;
    std::condition_variable cv;
    bool stop = false;
    std::atomic<int64_t> seq{0};  // collectives this rank has entered
    std::string peer_verdict;     // the first fault another rank posted, kept in case the store goes
  };
  std::shared_ptr<Beat> beat_state = std::make_shared<Beat>();

  std::atomic<int64_t>& seq() { return beat_state->seq; }

  void start_heartbeat() {
    auto state = beat_state;
    auto st = store;
    const int rank = world.rank, size = world.size;
    const milliseconds every = beat;
    std::thread([state, st, rank, size, every] {
      for (int64_t n = 1;; ++n) {
        const int64_t entered = state->seq.load();
        try {
          st->set(hb_key(rank), bytes(std::to_string(n) + " " + std::to_string(entered)));
          // A peer's verdict is read now, while the store is there: rank 0 hosts it and may be gone
          // by the time this rank's own collective fails.
          if (st->add("verdicts", 0) > 0 && state->peer_verdict.empty())
            for (int r = 0; r < size; ++r)
              if (r != rank && st->check({verdict_key(r)})) {
                const std::string v = "as rank " + std::to_string(r) + " found, " + text(st->get(verdict_key(r)));
                std::lock_guard<std::mutex> lock(state->mu);
                state->peer_verdict = v;
                break;
              }
        } catch (const std::exception&) {
          return;  // the store is gone: rank 0 ended or died; the collectives report it
        }
        std::unique_lock<std::mutex> lock(state->mu);
        if (state->cv.wait_for(lock, every, [&] { return state->stop; })) return;
      }
    }).detach();
  }

  void stop_heartbeat() {
    {
      std::lock_guard<std::mutex> lock(beat_state->mu);
      beat_state->stop = true;
    }
    beat_state->cv.notify_all();
  }

  // (beats, collectives entered) of `rank`, if it has written a heartbeat.
  std::optional<std::pair<int64_t, int64_t>> heartbeat(int rank) {
    if (!store->check({hb_key(rank)})) return std::nullopt;
    const std::string v = text(store->get(hb_key(rank)));
    const auto sp = v.find(' ');
    return std::make_pair(std::stoll(v.substr(0, sp)), std::stoll(v.substr(sp + 1)));
  }

  std::string posted_error(int rank) {
    return store->check({error_key(rank)}) ? text(store->get(error_key(rank))) : std::string();
  }

  struct Culprit {
    std::string text;       // which rank is at fault, in words; empty if the store shows none
    std::vector<int> dead;  // ranks whose heartbeat stopped
  };
  Culprit find_culprit(int64_t my_seq) {
    const int me = world.rank, n = world.size;
    std::vector<std::optional<std::pair<int64_t, int64_t>>> first(n), second(n);
    for (int r = 0; r < n; ++r)
      if (r != me) first[r] = heartbeat(r);
    std::this_thread::sleep_for(2 * beat + milliseconds(100));
    for (int r = 0; r < n; ++r)
      if (r != me) second[r] = heartbeat(r);
    Culprit c;
    for (int r = 0; r < n; ++r)
      if (r != me && (!second[r] || (first[r] && first[r]->first == second[r]->first))) c.dead.push_back(r);
    for (int r = 0; r < n; ++r)
      if (r != me)
        if (auto e = posted_error(r); !e.empty()) {
          c.text = fmt::format("rank {} failed: {}", r, e);
          return c;
        }
    std::vector<std::string> found;
    for (int r : c.dead)
      found.push_back(
          fmt::format("rank {} stopped responding (its heartbeat stopped: it died, was killed or is "
                      "stopped)",
                      r));
    if (found.empty())
      for (int r = 0; r < n; ++r)
        if (r != me && second[r] && second[r]->second < my_seq)
          found.push_back(
              fmt::format("rank {} is alive but has not reached collective #{} (it is at #{}): it "
                          "hangs or is slower than --dist-timeout",
                          r, my_seq, second[r]->second));
    for (const auto& f : found) c.text += (c.text.empty() ? "" : "; ") + f;
    return c;
  }

  // Leaves the group broken and throws the error naming the culprit.
  // The heartbeat goes on meanwhile: the others, diagnosing too, must not take this rank for dead.
  [[noreturn]] void fail(const std::string& what, int64_t my_seq, const std::string& cause) {
    broken = true;
    const int me = world.rank;
    std::string who, peer;
    {
      std::lock_guard<std::mutex> lock(beat_state->mu);
      peer = beat_state->peer_verdict;
    }
    // A peer that already found the culprit was heard first: this failure is most likely its leaving.
    std::optional<Culprit> culprit;
    if (peer.empty())
      culprit = within<Culprit>(4 * beat + milliseconds(3000), [this, my_seq] { return find_culprit(my_seq); });
    if (culprit && !culprit->text.empty())
      who = culprit->text;
    else if (!peer.empty())
      who = peer;
    else if (!culprit && me != 0)
      who = fmt::format(
          "rank 0 stopped responding (the store it hosts at {}:{} does not answer: it died, was "
          "killed or is stopped)",
          world.master_addr, world.master_port);
    else
      who = "no rank is known to be at fault";
    // Rank 0 hosts the store: it stays until the live ranks have said what they found, or for a
    // heartbeat and a half, by when their heartbeat threads have read this verdict.
    within<bool>(milliseconds(500), [this, me, who] {
      store->set(verdict_key(me), bytes(who));
      store->add("verdicts", 1);
      return true;
    });
    if (me == 0) {
      const auto until = Clock::now() + beat + beat / 2 + milliseconds(200);
      while (Clock::now() < until) {
        bool all = true;
        for (int r = 1; r < world.size && all; ++r) {
          if (culprit && std::count(culprit->dead.begin(), culprit->dead.end(), r)) continue;
          const auto key = verdict_key(r);
          auto hb = within<bool>(milliseconds(200), [this, key] { return store->check({key}); });
          all = hb.value_or(true);
        }
        if (all) break;
        std::this_thread::sleep_for(milliseconds(50));
      }
    }
    stop_heartbeat();
    throw Error(fmt::format("rank {}: {} failed: {} [{}]", me, what, who, first_line(cause)));
  }
};

Group::Group() = default;

Group::Group(const World& world, at::Device device, const GroupOptions& opts)
    : impl_(std::make_shared<Impl>()), rank_(world.rank), size_(world.size), device_(device) {
  // A peer that dies leaves its sockets closed; gloo's next write to one must fail with EPIPE (which
  // becomes this rank's "rank N stopped responding") instead of SIGPIPE killing this rank silently.
  // Python ignores SIGPIPE for torchrun's ranks; a C++ rank has to say so itself, for its lifetime.
  std::signal(SIGPIPE, SIG_IGN);
  auto& im = *impl_;
  im.world = world;
  im.opts = opts;
  im.beat = std::clamp(milliseconds(opts.timeout.count() / 10), milliseconds(100), milliseconds(1000));
  backend_ = resolve_backend(opts.backend, device);
  const std::string where = fmt::format("{}:{}", world.master_addr, world.master_port);

  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(world.master_port);
  so.isServer = world.rank == 0 && !world.agent_store;
  so.numWorkers = world.size;
  so.waitWorkers = false;  // the join below names the missing ranks
  so.timeout = opts.timeout;
  c10::intrusive_ptr<c10d::TCPStore> tcp;
  try {
    tcp = c10::make_intrusive<c10d::TCPStore>(world.master_addr, so);
  } catch (const std::exception& e) {
    SCANLAB_FAIL("rank ", world.rank, ": ",
                 world.rank == 0 ? "cannot host the store at " : "cannot reach rank 0's store at ", where,
                 " within --dist-timeout (", opts.timeout.count() / 1000.0,
                 " s; MASTER_ADDR / MASTER_PORT): ", first_line(e.what()));
  }
  // Keys of this attempt only: an elastic restart reuses torchrun's store.
  auto store = c10::make_intrusive<c10d::PrefixStore>("scanlab/attempt_" + std::to_string(world.restart), tcp);
  im.store = store;

  // The join: every rank claims its RANK once and says its WORLD_SIZE; rank 0's is the world's.
  const auto claims = store->add("rank/" + std::to_string(world.rank), 1);
  SCANLAB_CHECK(claims == 1, "rank ", world.rank, ": another process already joined as RANK=", world.rank, " at ",
                where, "; each process needs its own RANK in 0..", world.size - 1);
  store->set("world_size/" + std::to_string(world.rank), bytes(std::to_string(world.size)));
  std::vector<std::string> keys;
  for (int r = 0; r < world.size; ++r) keys.push_back("world_size/" + std::to_string(r));
  const auto deadline = Clock::now() + opts.timeout;
  auto wait_for = [&](const std::vector<std::string>& wanted) {
    while (!store->check(wanted)) {
      if (Clock::now() > deadline) {
        std::string missing;
        for (int r = 0; r < world.size; ++r)
          if (!store->check({keys[r]})) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
        SCANLAB_FAIL("rank ", world.rank, ": rank(s) ", missing, " of WORLD_SIZE=", world.size, " did not join at ",
                     where, " within --dist-timeout (", opts.timeout.count() / 1000.0, " s)");
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
  };
  auto check_size = [&](int r) {
    const std::string theirs = text(store->get(keys[r]));
    SCANLAB_CHECK(theirs == std::to_string(world.size), "rank ", world.rank, ": WORLD_SIZE=", world.size,
                  " here but rank ", r, " has WORLD_SIZE=", theirs, "; every process must be given the same");
  };
  wait_for({keys[0]});  // rank 0's size is the world's: compared first, so a mismatch is said at once
  check_size(0);
  wait_for(keys);
  for (int r = 1; r < world.size; ++r) check_size(r);

  auto prefixed = c10::make_intrusive<c10d::PrefixStore>("c10d", im.store);
  try {
    if (backend_ == "gloo") {
#ifdef SCANLAB_WITH_GLOO
      auto o = c10d::ProcessGroupGloo::Options::create(opts.timeout);
      if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"))
        o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      else if (is_loopback(world.master_addr))
        o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      im.backend = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, world.rank, world.size, o);
#endif
    } else {
#ifdef SCANLAB_WITH_NCCL
      // NVLink multicast (NVLS) can take a host's GPUs out of service on the machines scanlab is run on:
      // off unless the caller chose; a timed-out wait throws instead of the watchdog aborting.
      setenv("NCCL_NVLS_ENABLE", "0", 0);
      setenv("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1", 0);
      setenv("NVSHMEM_DISABLE_NVLS", "1", 0);
      setenv("TORCH_NCCL_BLOCKING_WAIT", "1", 0);
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = opts.timeout;
      im.backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, world.rank, world.size, o);
#endif
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    SCANLAB_FAIL("rank ", world.rank, ": starting c10d's ", backend_, " over the store at ", where,
                 " failed: ", first_line(e.what()));
  }
  SCANLAB_ASSERT(im.backend);
  im.start_heartbeat();
}

Group::~Group() {
  if (!impl_) return;
  impl_->stop_heartbeat();
  // A broken group may still have collectives blocked on a dead peer: leave it to the process's
  // exit rather than wait for them here.
  if (impl_->broken) new std::shared_ptr<Impl>(impl_);  // NOLINT: leaked on purpose
}

std::shared_ptr<Group::Pending> Group::all_reduce_sum_async(const at::Tensor& t, const std::string& what) {
  if (!impl_) return nullptr;
  auto p = std::make_shared<Pending>();
  p->what = what;
  p->seq = ++impl_->seq();
  std::vector<at::Tensor> ts{t};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::SUM;
  traffic_.all_reduce_bytes += static_cast<int64_t>(t.numel()) * static_cast<int64_t>(t.element_size());
  ++traffic_.collectives;
  try {
    p->work = impl_->backend->allreduce(ts, o);
  } catch (const std::exception& e) {
    impl_->fail(what, p->seq, e.what());
  }
  return p;
}

std::vector<double> Group::reduce_values(std::vector<double> values, Reduce op, const std::string& what) {
  if (!impl_ || values.empty()) return values;
  // gloo reduces host tensors, NCCL device ones.
  auto t = at::tensor(values, at::TensorOptions().dtype(at::kDouble))
               .to(backend_ == "nccl" ? device_ : at::Device(at::kCPU));
  std::vector<at::Tensor> ts{t};
  c10d::AllreduceOptions o;
  o.reduceOp = op == Reduce::Sum ? c10d::ReduceOp::SUM : c10d::ReduceOp::MAX;
  const int64_t seq = ++impl_->seq();
  try {
    impl_->backend->allreduce(ts, o)->wait(impl_->opts.timeout + std::chrono::seconds(5));
  } catch (const std::exception& e) {
    impl_->fail(what, seq, e.what());
  }
  auto host = ts[0].to(at::kCPU).contiguous();
  return {host.data_ptr<double>(), host.data_ptr<double>() + host.numel()};
}

void Group::wait(const std::shared_ptr<Pending>& p) {
  if (!impl_ || !p) return;
  try {
    // The backend's own timeout ends a collective first; this one is a net under it.
    p->work->wait(impl_->opts.timeout + std::chrono::seconds(5));
  } catch (const std::exception& e) {
    impl_->fail(p->what, p->seq, e.what());
  }
}

at::Tensor Group::all_gather(const at::Tensor& t, const std::string& what) {
  if (!impl_) return t.unsqueeze(0);
  std::vector<at::Tensor> in{t.contiguous()};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < size_; ++r) out[0].push_back(at::empty_like(in[0]));
  traffic_.all_gather_bytes += static_cast<int64_t>(t.numel()) * static_cast<int64_t>(t.element_size());
  ++traffic_.collectives;
  const int64_t seq = ++impl_->seq();
  try {
    impl_->backend->allgather(out, in)->wait(impl_->opts.timeout + std::chrono::seconds(5));
  } catch (const std::exception& e) {
    impl_->fail(what, seq, e.what());
  }
  return at::stack(out[0], 0);
}

void Group::broadcast(std::vector<at::Tensor> tensors, int root, const std::string& what) {
  if (!impl_) return;
  // One collective per dtype: the tensors travel flattened into one buffer.
  std::map<at::ScalarType, std::vector<at::Tensor>> by_dtype;
  for (auto& t : tensors) by_dtype[t.scalar_type()].push_back(t);
  for (auto& [dtype, ts] : by_dtype) {
    std::vector<at::Tensor> flat_parts;
    for (auto& t : ts) flat_parts.push_back(t.detach().reshape(-1));
    std::vector<at::Tensor> flat{at::cat(flat_parts)};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    const int64_t seq = ++impl_->seq();
    try {
      impl_->backend->broadcast(flat, o)->wait(impl_->opts.timeout + std::chrono::seconds(5));
    } catch (const std::exception& e) {
      impl_->fail(what, seq, e.what());
    }
    int64_t offset = 0;
    at::NoGradGuard no_grad;
    for (auto& t : ts) {
      t.detach().copy_(flat[0].narrow(0, offset, t.numel()).view_as(t));
      offset += t.numel();
    }
  }
}

void Group::post_error(const std::string& message) noexcept {
  if (!impl_ || impl_->broken) return;
  auto store = impl_->store;
  const int rank = rank_;
  const std::string line = first_line(message);
  within<bool>(milliseconds(1000), [store, rank, line] {
    store->set(error_key(rank), bytes(line));
    return true;
  });
}

}  // namespace scanlab::dist
