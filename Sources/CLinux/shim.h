// Linux headers the Glibc module does not import.
#include <sys/xattr.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
