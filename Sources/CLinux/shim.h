// Linux headers the Glibc module does not import.
#include <sys/xattr.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/pidfd.h>
#include <linux/loop.h>
#include <stdio.h>

// Swift 6 refuses glibc's `stdout` variable (shared mutable state); the stream itself is
// locked by stdio, so handing out the pointer is safe.
static inline FILE *heal_stdout(void) { return stdout; }
