#include "serve/text.h"

namespace scanlab::serve {
namespace {

constexpr const char* kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Continuation bytes are 0x80..0xBF, except right after E0/ED/F0/F4, where the ranges shrink to
// refuse overlong forms, surrogates and code points above U+10FFFF (RFC 3629).
bool continues(const std::string& pending, unsigned char b) {
  if (b < 0x80 || b > 0xBF) return false;
  if (pending.size() != 1) return true;
  const auto lead = static_cast<unsigned char>(pending[0]);
  if (lead == 0xE0) return b >= 0xA0;
  if (lead == 0xED) return b <= 0x9F;
  if (lead == 0xF0) return b >= 0x90;
  if (lead == 0xF4) return b <= 0x8F;
  return true;
}

}  // namespace

std::string TokenText::push(int64_t id) {
  if (!byte_level_ || id < 0 || id > 255) return {};
  return push_byte(static_cast<unsigned char>(id));
}

std::string TokenText::push_byte(unsigned char b) {
  std::string out;
  if (need_ > 0) {
    if (continues(pending_, b)) {
      pending_.push_back(static_cast<char>(b));
      if (--need_ == 0) out.swap(pending_);
      return out;
    }
    out = kReplacement;  // the held bytes cannot be completed; b starts afresh below
    pending_.clear();
    need_ = 0;
  }
  if (b < 0x80) {
    out.push_back(static_cast<char>(b));
  } else if (b >= 0xC2 && b <= 0xF4) {
    pending_.push_back(static_cast<char>(b));
    need_ = b < 0xE0 ? 1 : b < 0xF0 ? 2 : 3;
  } else {
    out += kReplacement;
  }
  return out;
}

std::string TokenText::flush() {
  if (pending_.empty()) return {};
  pending_.clear();
  need_ = 0;
  return kReplacement;
}

}  // namespace scanlab::serve
