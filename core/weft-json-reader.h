/* weft-json-reader.h — a pull reader over the grammar weft_json_check
 * accepts (weft-json.c); never installed.
 *
 * The caller asks for one value, member or element at a time, and the
 * reader checks the text exactly as weft_json_check does, as it goes:
 * the same refusals with the same line, column and path, so that a reader
 * that reaches the end of the text has checked all of it.  Flow files are
 * read this way (weft-flow-parse.c) without building a json-glib tree. */
#pragma once

#include "weft-private.h"

G_BEGIN_DECLS

typedef struct _WeftJsonReader WeftJsonReader;

typedef enum {
  WEFT_JSON_NONE,             /* an error (the reader has set it) */
  WEFT_JSON_OBJECT,           /* entered: weft_json_reader_next() walks its members */
  WEFT_JSON_ARRAY,            /* entered: weft_json_reader_next() walks its elements */
  WEFT_JSON_STRING,
  WEFT_JSON_INT,              /* no fraction, no exponent: fits 64 bits */
  WEFT_JSON_DOUBLE,
  WEFT_JSON_BOOL,
  WEFT_JSON_NULL,
} WeftJsonToken;

/* A UTF-8 byte order mark's length at the start of `text`: 3 or 0. */
gsize weft_json_bom_length (const char *text, gsize length);

/* Reads `text` (not copied: it must outlive the reader); errors name
 * `origin` as weft_json_check's do, and go to `error`. */
WeftJsonReader *weft_json_reader_new  (const char *text, gsize length, const char *origin,
                                       GError **error);
void            weft_json_reader_free (WeftJsonReader *reader);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeftJsonReader, weft_json_reader_free)

/* Reads the value that is due: the text's own first, then a member's
 * after next() found it, or an element's.  A scalar is read whole; a
 * container is entered. */
WeftJsonToken weft_json_reader_read (WeftJsonReader *reader);
/* In the container entered last: moves to its next member (whose name
 * weft_json_reader_get_key() then gives) or element, whose value is due.
 * FALSE at its end, which leaves it, or on an error. */
gboolean weft_json_reader_next (WeftJsonReader *reader);
/* Reads past the value that is due, checking all of it. */
gboolean weft_json_reader_skip (WeftJsonReader *reader);
/* Reads past the rest of the container entered last; the span is then
 * the container's. */
gboolean weft_json_reader_skip_rest (WeftJsonReader *reader);
/* After the text's value: nothing but space may follow. */
gboolean weft_json_reader_end (WeftJsonReader *reader);
/* Whether an error has been set. */
gboolean weft_json_reader_failed (WeftJsonReader *reader);

/* The member name found by next(), decoded; valid until the next call.
 * Never holds a NUL (the reader refuses "\u0000"). */
const char *weft_json_reader_get_key    (WeftJsonReader *reader, gsize *length);
/* The string just read, decoded, likewise. */
const char *weft_json_reader_get_string (WeftJsonReader *reader, gsize *length);
gint64      weft_json_reader_get_int    (WeftJsonReader *reader);
/* An INT or a DOUBLE. */
double      weft_json_reader_get_double (WeftJsonReader *reader);
gboolean    weft_json_reader_get_bool   (WeftJsonReader *reader);
/* The text of the value read (or skipped) last, from its first byte to
 * where the reader now is. */
const char *weft_json_reader_get_span   (WeftJsonReader *reader, gsize *length);

G_END_DECLS
