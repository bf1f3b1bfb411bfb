#include "re2shim.h"

#include <cstdio>
#include <new>

#include <re2/re2.h>

struct re2shim_regex {
  re2::RE2 re;
  re2shim_regex(const char* pattern, size_t len) : re(re2::StringPiece(pattern, len), re2::RE2::Quiet) {}
};

extern "C" re2shim_regex* re2shim_compile(const char* pattern, size_t pattern_len, char* err, size_t errlen) {
  re2shim_regex* r = new (std::nothrow) re2shim_regex(pattern, pattern_len);
  if (r == nullptr) {
    std::snprintf(err, errlen, "out of memory");
    return nullptr;
  }
  if (!r->re.ok()) {
    std::snprintf(err, errlen, "%s", r->re.error().c_str());
    delete r;
    return nullptr;
  }
  return r;
}

extern "C" int re2shim_program_size(const re2shim_regex* r) { return r->re.ProgramSize(); }

extern "C" int re2shim_full_match(const re2shim_regex* r, const char* text, size_t text_len) {
  return re2::RE2::FullMatch(re2::StringPiece(text, text_len), r->re) ? 1 : 0;
}

extern "C" void re2shim_free(re2shim_regex* r) { delete r; }
