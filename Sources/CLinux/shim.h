// Linux headers the Glibc module does not import.
#include <sys/xattr.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/pidfd.h>
#include <sys/reboot.h>
#include <linux/loop.h>
#include <stdio.h>

// Swift 6 refuses glibc's `stdout` variable (shared mutable state); the stream itself is
// locked by stdio, so handing out the pointer is safe.
static inline FILE *heal_stdout(void) { return stdout; }

// openat2(2) has no glibc wrapper before 2.41, and Swift cannot call the variadic
// syscall(2) itself. Returns the descriptor, or -1 with errno set (ENOSYS before Linux 5.6).
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdint.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

static inline int heal_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct open_how how = { .flags = flags, .mode = mode, .resolve = resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

// finit_module(2) has no glibc wrapper: the template guest's PID 1 inserts its modules with
// it. Returns 0, or -1 with errno set (EEXIST: already loaded).
static inline int heal_finit_module(int fd, const char *params, int flags) {
    return (int)syscall(SYS_finit_module, fd, params, flags);
}

static const uint64_t HEAL_RESOLVE_IN_ROOT = RESOLVE_IN_ROOT;
static const uint64_t HEAL_RESOLVE_NO_SYMLINKS = RESOLVE_NO_SYMLINKS;
static const uint64_t HEAL_RESOLVE_NO_MAGICLINKS = RESOLVE_NO_MAGICLINKS;

// O_PATH (Linux 2.6.39) is behind _GNU_SOURCE in glibc's headers, which the Glibc module
// is not built with. The value is the same on every Linux architecture but alpha/parisc/sparc.
#ifdef O_PATH
static const int HEAL_O_PATH = O_PATH;
#else
static const int HEAL_O_PATH = 010000000;
#endif
