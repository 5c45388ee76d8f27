#include <systemd/sd-journal.h>
#include "lazy.h"

#define S HEAL_LIBRARY_SYSTEMD
HEAL_LAZY(S, int, sd_journal_open_directory, (sd_journal **ret, const char *path, int flags), (ret, path, flags))
HEAL_LAZY_VOID(S, sd_journal_close, (sd_journal *j), (j))
HEAL_LAZY(S, int, sd_journal_add_match, (sd_journal *j, const void *data, size_t size), (j, data, size))
HEAL_LAZY_VOID(S, sd_journal_flush_matches, (sd_journal *j), (j))
HEAL_LAZY(S, int, sd_journal_seek_head, (sd_journal *j), (j))
HEAL_LAZY(S, int, sd_journal_seek_tail, (sd_journal *j), (j))
HEAL_LAZY(S, int, sd_journal_next, (sd_journal *j), (j))
HEAL_LAZY(S, int, sd_journal_previous, (sd_journal *j), (j))
HEAL_LAZY(S, int, sd_journal_get_data, (sd_journal *j, const char *field, const void **data, size_t *l), (j, field, data, l))
HEAL_LAZY(S, int, sd_journal_get_realtime_usec, (sd_journal *j, uint64_t *ret), (j, ret))
HEAL_LAZY(S, int, sd_journal_query_unique, (sd_journal *j, const char *field), (j, field))
HEAL_LAZY(S, int, sd_journal_enumerate_available_unique, (sd_journal *j, const void **data, size_t *l), (j, data, l))
HEAL_LAZY_VOID(S, sd_journal_restart_unique, (sd_journal *j), (j))
