#ifndef LIFEBOAT_CBUILDINFO_SHIM_H
#define LIFEBOAT_CBUILDINFO_SHIM_H

/* The git commit the binary was built from. Scripts/build-info writes build_commit.h beside
   this file (git-ignored) before Scripts/test and Scripts/package build; a plain `swift build`
   in a fresh clone has no such file and the binary says its commit is unknown. */
#if __has_include("build_commit.h")
#include "build_commit.h"
#endif

#ifndef LIFEBOAT_BUILD_COMMIT
#define LIFEBOAT_BUILD_COMMIT ""
#endif

static inline const char *lifeboat_build_commit(void) { return LIFEBOAT_BUILD_COMMIT; }

#endif
