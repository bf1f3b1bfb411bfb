// A C interface to the few RE2 calls the compatibility checker needs.
#ifndef MESHACCEL_RE2SHIM_H
#define MESHACCEL_RE2SHIM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct re2shim_regex re2shim_regex;

// re2shim_compile compiles pattern with the options Envoy uses (RE2::Quiet). On failure it
// returns NULL and writes the error into err (NUL-terminated, truncated to errlen).
re2shim_regex* re2shim_compile(const char* pattern, size_t pattern_len, char* err, size_t errlen);
int re2shim_program_size(const re2shim_regex* re);
int re2shim_full_match(const re2shim_regex* re, const char* text, size_t text_len);
void re2shim_free(re2shim_regex* re);

#ifdef __cplusplus
}
#endif

#endif
