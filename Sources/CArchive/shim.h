#include <archive.h>
#include <archive_entry.h>

// AE_IF* are cast macros Swift cannot import.
static const unsigned int heal_ae_ifreg = AE_IFREG;
static const unsigned int heal_ae_ifdir = AE_IFDIR;
static const unsigned int heal_ae_iflnk = AE_IFLNK;
static const unsigned int heal_ae_ifmt = AE_IFMT;
// The template guest's initramfs holds /dev/console (the kernel opens it for /init).
static const unsigned int heal_ae_ifchr = AE_IFCHR;
