#include "shim.h"

#include <limits.h>

static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
                    unsigned int flags, void* context) {
  (void)from;
  (void)to;
  (void)flags;
  unsigned int* best = context;
  if (id < *best) {
    *best = id;
  }
  // Ids are route order: nothing beats the first route, so stop there.
  return *best == 0;
}

long long matcher_first_match(const hs_database_t* db, hs_scratch_t* scratch, const char* data,
                              unsigned int len) {
  static const char empty[1] = {0};
  unsigned int best = UINT_MAX;
  hs_error_t err = hs_scan(db, data != NULL ? data : empty, len, 0, scratch, on_match, &best);
  if (err != HS_SUCCESS && err != HS_SCAN_TERMINATED) {
    return (long long)err * 4294967296LL;
  }
  return best == UINT_MAX ? -1 : (long long)best;
}
