#ifndef LIFEBOAT_CDIRECTIO_SHIM_H
#define LIFEBOAT_CDIRECTIO_SHIM_H
// O_DIRECT, which Swift's Glibc module does not expose (glibc defines it only with _GNU_SOURCE).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>

/// The O_DIRECT open flag, or 0 where it is unknown (writes then go through the page cache).
static inline int lb_o_direct(void) {
#if defined(O_DIRECT)
    return O_DIRECT;
#elif defined(__linux__) && (defined(__x86_64__) || defined(__i386__))
    return 040000;
#elif defined(__linux__) && (defined(__aarch64__) || defined(__arm__))
    return 0200000;
#else
    return 0;
#endif
}
#endif
