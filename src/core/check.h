// User-facing error checks. SCANLAB_CHECK(cond, parts...) throws scanlab::Error whose message is the
// concatenation of parts: say what was wrong, what was expected, and (where useful) a hint.
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
}  // namespace detail

}  // namespace scanlab

#define SCANLAB_CHECK(cond, ...)                                            \
  do {                                                                      \
    if (!(cond)) throw ::scanlab::Error(::scanlab::detail::concat(__VA_ARGS__)); \
  } while (0)

#define SCANLAB_ASSERT(cond)                                                              \
  do {                                                                                    \
    if (!(cond))                                                                          \
      throw std::logic_error(::scanlab::detail::concat("scanlab internal error: ", #cond, \
                                                        " failed at ", __FILE__, ":", __LINE__)); \
  } while (0)
