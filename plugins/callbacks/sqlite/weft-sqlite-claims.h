/* weft-sqlite-claims.h — which stored runs a live process is running.
 *
 * A run is claimed with an open-file-description lock on one byte of the
 * file PATH-claims beside the database, at the run's key.  The kernel
 * drops the lock when its holder dies, kill -9 included: that is what
 * tells a run whose process died from one that is still running, with no
 * heartbeat to write.  A file of its own, not the database: closing any
 * descriptor of the database would drop the POSIX locks SQLite holds on it
 * for every connection of this process (sqlite.org/howtocorrupt.html, 2.2).
 * OFD locks belong to the descriptor, not to the process, so two instances
 * in one process claim against each other like two processes. */
#pragma once

#include <glib.h>

typedef struct {
  int fd;                     /* -1: no claims file; nothing is claimed */
  GMutex lock;
  GHashTable *held;           /* run key → itself: what this descriptor holds */
} WeftSqliteClaims;

/* Opens the claims file of the database `path`: created for a writer; a
 * reader only looks (it claims nothing) and creates nothing.  Never fails:
 * without the file, nothing is claimed and whether a run is live cannot be
 * told. */
void     weft_sqlite_claims_open  (WeftSqliteClaims *claims, const char *path,
                                   gboolean reader);
/* Drops every claim this instance holds. */
void     weft_sqlite_claims_close (WeftSqliteClaims *claims);
/* Claims the run for this instance: FALSE only when another descriptor
 * (another process) holds it; TRUE when this one does now or did, and when
 * no claim can be taken here (no file, no locks on this file system). */
gboolean weft_sqlite_claims_take  (WeftSqliteClaims *claims, gint64 key);
void     weft_sqlite_claims_drop  (WeftSqliteClaims *claims, gint64 key);
/* 1 when some process (this one included) holds the run, 0 when none
 * does, -1 when this instance cannot tell. */
int      weft_sqlite_claims_held  (WeftSqliteClaims *claims, gint64 key);
