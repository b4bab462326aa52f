/* weft-file.c — reading a file whose size weft does not choose.
 *
 * g_file_get_contents reads until the end, and /dev/zero, a FIFO fed
 * forever or a mistyped multi-gigabyte path have none that comes before
 * the memory runs out.  Files from users (flows, inputs) are read through
 * weft_read_file instead, which stops at a limit. */
#include "weft-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static gboolean
weft_read_fd (int fd, const char *path, gsize max_bytes, GByteArray *out, GError **error)
{
  guint8 block[65536];

  for (;;)
    {
      gsize want = MIN (sizeof block, max_bytes + 1 - out->len);
      gssize n = read (fd, block, want);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND, "%s: %s", path,
                       g_strerror (saved));
          return FALSE;
        }
      if (n == 0)
        return TRUE;
      g_byte_array_append (out, block, (guint) n);
      if (out->len > max_bytes)
        {
          g_autofree char *limit = max_bytes % (1024 * 1024) == 0
            ? g_strdup_printf ("%" G_GSIZE_FORMAT " MiB", max_bytes / (1024 * 1024))
            : g_strdup_printf ("%" G_GSIZE_FORMAT " bytes", max_bytes);
          g_set_error (error, WEFT_ERROR, WEFT_ERROR_INVALID,
                       "%s: larger than %s, the most weft reads of such a file", path, limit);
          return FALSE;
        }
    }
}

char *
weft_read_file (const char *path, gsize max_bytes, gsize *length, GError **error)
{
  g_return_val_if_fail (path != NULL && max_bytes < G_MAXUINT - 1, NULL);

  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, WEFT_ERROR, WEFT_ERROR_NOT_FOUND, "%s: %s", path, g_strerror (saved));
      return NULL;
    }
  g_autoptr(GByteArray) out = g_byte_array_new ();
  gboolean ok = weft_read_fd (fd, path, max_bytes, out, error);
  close (fd);
  if (!ok)
    return NULL;
  gsize n = out->len;
  if (length)
    *length = n;
  g_byte_array_append (out, (const guint8 *) "", 1);
  /* The array grew by doubling: a flow kept as its text keeps no more. */
  return g_realloc (g_byte_array_free (g_steal_pointer (&out), FALSE), n + 1);
}
