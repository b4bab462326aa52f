/* weft-postgres-conn.c — the bottom of the postgres store: opening a
 * connection (libpq), telling a connection that was lost (the server
 * restarted or went away: open another and try again) from a query that
 * failed, errors that name the database without its password, queries
 * with text parameters, and array parameters in PostgreSQL's text form,
 * which let one statement carry a whole batch of rows (unnest).
 */
#include "weft-postgres.h"

#include <string.h>

void
weft_postgres_warn (WeftPostgres *self, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_autofree char *text = g_strdup_vprintf (format, args);
  va_end (args);
  g_autofree char *redacted = weft_secrets_redact (text);
  g_log_structured ("weft-postgres", G_LOG_LEVEL_WARNING, "MESSAGE", "%s: %s", self->where,
                    redacted);
}

/* libpq's messages span lines ("...failed: Connection refused\n\tIs the
 * server running...?"): one line, without the trailing newline. */
static char *
weft_postgres_one_line (const char *message)
{
  g_autoptr(GString) line = g_string_new (NULL);

  for (const char *p = message ? message : ""; *p; p++)
    {
      if (*p == '\n' || *p == '\t' || *p == '\r')
        {
          if (line->len > 0 && line->str[line->len - 1] != ' ')
            g_string_append_c (line, ' ');
          continue;
        }
      g_string_append_c (line, *p);
    }
  while (line->len > 0 && line->str[line->len - 1] == ' ')
    g_string_truncate (line, line->len - 1);
  return g_string_free (g_steal_pointer (&line), FALSE);
}

/* A parse error of libpq quotes the part of the conninfo it stumbled on,
 * which may be a password: every quoted part longer than one character
 * ("=" is the one a message needs) is left out. */
static char *
weft_postgres_unquote (const char *message)
{
  g_autoptr(GString) out = g_string_new (NULL);

  for (const char *p = message; *p; p++)
    {
      const char *close = *p == '"' ? strchr (p + 1, '"') : NULL;
      if (close == NULL)
        {
          g_string_append_c (out, *p);
          continue;
        }
      if (close - p == 2)
        g_string_append_len (out, p, 3);
      else
        g_string_append (out, "\"…\"");
      p = close;
    }
  return weft_postgres_one_line (out->str);
}

gboolean
weft_postgres_check_conninfo (const char *conninfo, GError **error)
{
  char *message = NULL;
  PQconninfoOption *options = PQconninfoParse (conninfo, &message);

  if (options != NULL)
    {
      PQconninfoFree (options);
      return TRUE;
    }
  g_autofree char *shown = message ? weft_postgres_unquote (message) : NULL;
  g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
               "option \"conninfo\" is not a libpq connection string or URI%s%s",
               shown ? ": " : "", shown ? shown : "");
  PQfreemem (message);
  return FALSE;
}

/* user@host:port/db of a connection (made or not), never its password. */
static char *
weft_postgres_where (PGconn *conn)
{
  const char *host = PQhost (conn);

  return g_strdup_printf ("postgres %s@%s:%s/%s", PQuser (conn) ? PQuser (conn) : "?",
                          host && *host ? host : "localhost", PQport (conn) ? PQport (conn) : "?",
                          PQdb (conn) ? PQdb (conn) : "?");
}

/* Refused rather than unreachable: trying again will not help. */
static gboolean
weft_postgres_refused (PGconn *conn)
{
  const char *message = PQerrorMessage (conn);

  return PQconnectionNeedsPassword (conn) || strstr (message, "authentication failed")
         || strstr (message, "does not exist") || strstr (message, "no password supplied")
         || strstr (message, "no pg_hba.conf entry");
}

static void
weft_postgres_ignore_notice (void *data, const char *message)
{
}

PGconn *
weft_postgres_connect (WeftPostgres *self, GError **error)
{
  g_autofree char *timeout = g_strdup_printf ("%d", self->connect_timeout_s);
  /* Keywords are read in order, a later one winning: the conninfo
   * (expanded from dbname) may override the timeout. */
  const char * const keys[] = { "connect_timeout", "fallback_application_name", "dbname", NULL };
  const char * const values[] = { timeout, "weft", self->conninfo, NULL };
  PGconn *conn = PQconnectdbParams (keys, values, 1);

  if (conn == NULL)
    {
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED, "%s: out of memory", self->where);
      return NULL;
    }
  if (!self->where_known)
    {
      g_free (self->where);
      self->where = weft_postgres_where (conn);
      self->where_known = TRUE;
    }
  if (PQstatus (conn) == CONNECTION_OK)
    {
      /* Notices ("relation already exists, skipping") are not for the user. */
      PQsetNoticeProcessor (conn, weft_postgres_ignore_notice, NULL);
      return conn;
    }
  g_autofree char *message = weft_postgres_one_line (PQerrorMessage (conn));
  gboolean refused = weft_postgres_refused (conn);
  PQfinish (conn);
  g_set_error (error, WEFT_ERROR, refused ? WEFT_ERROR_INVALID : WEFT_ERROR_FAILED,
               "%s: %s: %s", self->where,
               refused ? "the server refused the connection" : "cannot reach the database",
               message);
  return NULL;
}

char *
weft_postgres_now_text (void)
{
  return g_strdup_printf ("%" G_GINT64_FORMAT, g_get_real_time ());
}

void
weft_postgres_forget (WeftPostgres *self, PGconn **conn)
{
  if (*conn == NULL)
    return;
  g_mutex_lock (&self->prepared_lock);
  g_hash_table_remove (self->prepared, *conn);
  g_mutex_unlock (&self->prepared_lock);
  g_clear_pointer (conn, PQfinish);
}

gboolean
weft_postgres_is_lost (PGconn *conn, const PGresult *result)
{
  const char *state = result ? PQresultErrorField (result, PG_DIAG_SQLSTATE) : NULL;

  if (conn == NULL || PQstatus (conn) != CONNECTION_OK)
    return TRUE;
  /* Class 08: connection exceptions; 57P01-03: the server shutting down
   * or starting up. */
  return state != NULL && (g_str_has_prefix (state, "08") || g_str_has_prefix (state, "57P"));
}

gboolean
weft_postgres_fail (WeftPostgres *self, PGconn *conn, PGresult *result, const char *what,
                    GError **error)
{
  const char *text = result && PQresultErrorMessage (result)[0]
                     ? PQresultErrorMessage (result) : conn ? PQerrorMessage (conn) : "";
  g_autofree char *message = weft_postgres_one_line (text);

  g_set_error (error, WEFT_ERROR, WEFT_ERROR_FAILED, "%s: %s: %s", self->where, what,
               *message ? message : "the connection was lost");
  PQclear (result);
  return FALSE;
}

/* The name of the statement `sql` (a literal: its address names it) on
 * `conn`, prepared there at its first use: a statement the plugin runs
 * for every run is parsed and planned once a connection. */
static char *
weft_postgres_prepared (WeftPostgres *self, PGconn *conn, const char *sql, int n,
                        GError **error)
{
  char *name = g_strdup_printf ("weft_%p", (const void *) sql);

  g_mutex_lock (&self->prepared_lock);
  GHashTable *names = g_hash_table_lookup (self->prepared, conn);
  gboolean known = names != NULL && g_hash_table_contains (names, sql);
  g_mutex_unlock (&self->prepared_lock);
  if (known)
    return name;
  PGresult *result = PQprepare (conn, name, sql, n, NULL);
  if (result == NULL || PQresultStatus (result) != PGRES_COMMAND_OK)
    {
      weft_postgres_fail (self, conn, result, "cannot prepare a statement", error);
      g_free (name);
      return NULL;
    }
  PQclear (result);
  g_mutex_lock (&self->prepared_lock);
  names = g_hash_table_lookup (self->prepared, conn);
  if (names == NULL)
    {
      names = g_hash_table_new (g_direct_hash, g_direct_equal);
      g_hash_table_insert (self->prepared, conn, names);
    }
  g_hash_table_add (names, (gpointer) sql);
  g_mutex_unlock (&self->prepared_lock);
  return name;
}

gboolean
weft_postgres_query (WeftPostgres *self, PGconn *conn, const char *sql, int n,
                     const char * const *params, ExecStatusType expected, PGresult **out,
                     const char *what, GError **error)
{
  g_autofree char *name = weft_postgres_prepared (self, conn, sql, n, error);

  if (out)
    *out = NULL;
  if (name == NULL)
    return FALSE;
  PGresult *result = PQexecPrepared (conn, name, n, params, NULL, NULL, 0);

  if (result == NULL || PQresultStatus (result) != expected)
    return weft_postgres_fail (self, conn, result, what, error);
  if (out)
    *out = result;
  else
    PQclear (result);
  return TRUE;
}

gboolean
weft_postgres_exec (WeftPostgres *self, PGconn *conn, const char *sql, const char *what,
                    GError **error)
{
  /* The simple protocol: `sql` may be several commands (a schema step). */
  PGresult *result = PQexec (conn, sql);

  if (result == NULL || PQresultStatus (result) != PGRES_COMMAND_OK)
    return weft_postgres_fail (self, conn, result, what, error);
  PQclear (result);
  return TRUE;
}

/* ---- array parameters --------------------------------------------------------- */

void
weft_postgres_array_begin (GString *array)
{
  g_string_assign (array, "{");
}

static void
weft_postgres_array_comma (GString *array)
{
  if (array->len > 1)
    g_string_append_c (array, ',');
}

void
weft_postgres_array_text (GString *array, const char *value, gssize length)
{
  const char *end = value + (length < 0 ? strlen (value) : (gsize) length);

  weft_postgres_array_comma (array);
  g_string_append_c (array, '"');
  for (const char *p = value; p < end; p++)
    {
      const char *run = p;
      while (p < end && *p != '"' && *p != '\\')
        p++;
      g_string_append_len (array, run, p - run);
      if (p == end)
        break;
      g_string_append_c (array, '\\');
      g_string_append_c (array, *p);
    }
  g_string_append_c (array, '"');
}

void
weft_postgres_array_int (GString *array, gint64 value)
{
  weft_postgres_array_comma (array);
  g_string_append_printf (array, "%" G_GINT64_FORMAT, value);
}

void
weft_postgres_array_null (GString *array)
{
  weft_postgres_array_comma (array);
  g_string_append (array, "NULL");
}

void
weft_postgres_array_end (GString *array)
{
  g_string_append_c (array, '}');
}
