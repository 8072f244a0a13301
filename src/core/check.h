// User-facing error checks. SCANLAB_CHECK(cond, parts...) throws scanlab::Error whose message is the
// concatenation of parts: say what was wrong, what was expected, and (where useful) a hint.
// SCANLAB_FAIL(parts...) throws the same unconditionally, where the check is already made (a switch's
// default, a lookup that found nothing); it is [[noreturn]], so nothing unreachable follows it.
// Invariants that only a scanlab bug can break use SCANLAB_ASSERT.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace scanlab {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream os;
  (os << ... << std::forward<Parts>(parts));
  return os.str();
}
[[noreturn]] inline void throw_error(std::string message) { throw Error(std::move(message)); }
}  // namespace detail

}  // namespace scanlab

#define SCANLAB_CHECK(cond, ...)                                                 \
  do {                                                                           \
    if (!(cond)) throw ::scanlab::Error(::scanlab::detail::concat(__VA_ARGS__)); \
  } while (0)

#define SCANLAB_FAIL(...) ::scanlab::detail::throw_error(::scanlab::detail::concat(__VA_ARGS__))

#define SCANLAB_ASSERT(cond)                                                                                     \
  do {                                                                                                           \
    if (!(cond))                                                                                                 \
      throw std::logic_error(                                                                                    \
          ::scanlab::detail::concat("scanlab internal error: ", #cond, " failed at ", __FILE__, ":", __LINE__)); \
  } while (0)
