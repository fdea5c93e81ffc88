#ifndef LIFEBOAT_CMALLOC_SHIM_H
#define LIFEBOAT_CMALLOC_SHIM_H
// glibc's malloc tuning (mallopt), which Swift's Glibc module does not expose.
#include <malloc.h>

/// Fixes the mmap and trim thresholds (bytes); returns 1 when glibc took both.
static inline int lb_malloc_fix_thresholds(int mmap_threshold, int trim_threshold) {
    return mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1;
}
#endif
