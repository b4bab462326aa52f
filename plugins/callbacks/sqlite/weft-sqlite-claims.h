/* weft-sqlite-claims.h — which stored runs a live process is running.
 *
 * A run is claimed with an open-file-description lock on one byte of the
 * database file, at WEFT_SQLITE_CLAIM_BASE + the run's key.  The kernel
 * drops the lock when its holder dies, kill -9 included: that is what
 * tells a run whose process died from one that is still running, with no
 * heartbeat to write.  OFD locks belong to the descriptor, not to the
 * process, so SQLite closing a descriptor of the same file (which drops
 * every fcntl F_SETLK lock of the process) leaves them alone; SQLite's own
 * locks are on the bytes just above 1 GiB, far below these. */
#pragma once

#include <glib.h>

typedef struct {
  int fd;                     /* -1: the file could not be opened; nothing is claimed */
  GMutex lock;
  GHashTable *held;           /* run key → itself: what this descriptor holds */
} WeftSqliteClaims;

/* Opens `path` (the database, already created) for claims.  Never fails:
 * a database that cannot be opened for writing just keeps no claims, and
 * cannot tell whether a run is live. */
void     weft_sqlite_claims_open  (WeftSqliteClaims *claims, const char *path);
/* Drops every claim this instance holds. */
void     weft_sqlite_claims_close (WeftSqliteClaims *claims);
/* Claims the run for this instance: TRUE when it holds it now (also when it
 * already did), FALSE when another descriptor (another process) does. */
gboolean weft_sqlite_claims_take  (WeftSqliteClaims *claims, gint64 key);
void     weft_sqlite_claims_drop  (WeftSqliteClaims *claims, gint64 key);
/* 1 when some process (this one included) holds the run, 0 when none
 * does, -1 when this instance cannot tell. */
int      weft_sqlite_claims_held  (WeftSqliteClaims *claims, gint64 key);
