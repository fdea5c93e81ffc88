#ifndef LIFEBOAT_CDIRECTIO_SHIM_H
#define LIFEBOAT_CDIRECTIO_SHIM_H
// O_DIRECT and sync_file_range, which Swift's Glibc module does not expose (glibc defines them
// only with _GNU_SOURCE).
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

/// Starts writeback of the file's dirty pages without waiting for it (0, or -1 with errno);
/// where sync_file_range is missing, does nothing.
static inline int lb_start_writeback(int fd) {
#if defined(__linux__) && defined(SYNC_FILE_RANGE_WRITE)
    return sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd;
    return 0;
#endif
}
#endif
