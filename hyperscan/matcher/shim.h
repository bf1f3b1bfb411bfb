// A minimal C layer over hs_scan: the match callback stays in C, so a scan costs one cgo call
// and no Go allocation.
#ifndef MESHACCEL_MATCHER_SHIM_H
#define MESHACCEL_MATCHER_SHIM_H

#include <hs/hs.h>

// matcher_first_match scans data and returns the lowest pattern id that matched, -1 when none
// did, or a Hyperscan error code multiplied by 2^32 (always <= -2^32).
long long matcher_first_match(const hs_database_t* db, hs_scratch_t* scratch, const char* data,
                              unsigned int len);

#endif
