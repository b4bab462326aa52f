/* weft-openai-pool.c — the agent instance's own SoupSessions, and the
 * deadlines of its requests.
 *
 * Why not the engine's shared session: libsoup 3.2's SoupSession walks its
 * whole queue on every step, and for every connection still connecting it
 * walks the queue again (soup_session_steal_preconnection, a g_weak_ref_get
 * under a global lock per item), so what one step costs grows with the
 * number of requests it holds, and ten thousand requests in one session
 * cost seconds of CPU.  Here requests are spread over sessions ("shards")
 * that never hold more than WEFT_OPENAI_SHARD_SIZE each: every step stays
 * short, and the number of requests in flight is not capped.  A new shard
 * copies the engine session's user agent, accept-language, timeouts, local
 * address and TLS interaction; not its TLS database (each session loads the
 * system's default when a request needs it), nor features added to it (a
 * SoupLogger, say); its proxy is the one looked up below.
 *
 * Proxies: libsoup asks the proxy resolver once per new connection, and
 * the system's (libproxy) answers each question on a worker thread: ten
 * thousand connections, ten thousand lookups and a pool of threads.  The
 * pool asks once, for the agent's URL, before its first request (which
 * waits for the answer), and its sessions use that answer: the proxy
 * settings are read once per agent instance, as most HTTP clients read
 * theirs once per client.  Should the lookup fail, the sessions ask the
 * engine session's resolver per connection, as before.
 *
 * Connections: the first WEFT_OPENAI_SHARDS_KEPT shards (256 connections)
 * keep their connections alive for the next requests, as one session
 * would, and are used first.  Requests beyond those (more than 256 in
 * flight at once) go to surplus shards with "Connection: close": a burst
 * of ten thousand
 * requests must not leave ten thousand idle connections behind, holding
 * file descriptors and about 7 KiB each (libsoup's header buffer and
 * objects) until the sessions' idle timeout; closed, each request's
 * connection and its memory go as soon as it is answered.  Surplus shards
 * themselves are dropped once they have stayed empty for a while.
 *
 * Deadlines: every request of one agent has the same timeout, so their
 * deadlines come in order; one queue and one GSource for all of them,
 * rather than a timeout source per request (each source in the engine's
 * context costs every loop iteration a little, for as long as it exists).
 *
 * Threads: created and freed on any thread; everything else runs on the
 * engine loop.  The sessions belong to that loop's context (where they were
 * made), so the pool is also freed there, from an idle source.
 */
#include "weft-openai.h"

/* Most requests one session holds at once.  libsoup's cost per step grows
 * with it, and while a session's connections are being made, each new
 * request walks the queue once per connection still connecting: about
 * size³/6 weak-reference lookups per session filled at once.  More shards
 * cost a session each (and a GSource in the engine's context).  Measured
 * with 10,000 requests at once: 64 and more cost more CPU, 8 and fewer
 * more memory. */
#define WEFT_OPENAI_SHARD_SIZE 32
/* Shards that keep their connections alive, however long they stay empty:
 * 256 connections, what the engine's shared session allows one host. */
#define WEFT_OPENAI_SHARDS_KEPT (256 / WEFT_OPENAI_SHARD_SIZE)
/* How long a surplus shard may stay empty before it is closed. */
#define WEFT_OPENAI_SHARD_LINGER_MS 2000

struct _WeftOpenaiShard {
  SoupSession *session;
  gboolean kept;               /* keeps its connections alive */
  guint in_use;
  gboolean open;               /* in its `open` stack: has room */
  gint64 emptied_us;           /* when in_use last dropped to 0 */
};

typedef struct {
  GSource source;
  GQueue queue;                /* WeftOpenaiDeadline*, earliest first */
} WeftOpenaiDeadlineSource;

typedef enum {
  WEFT_OPENAI_PROXY_UNKNOWN,
  WEFT_OPENAI_PROXY_LOOKING,
  WEFT_OPENAI_PROXY_KNOWN,
} WeftOpenaiProxyState;

typedef struct {
  WeftOpenaiPool *pool;        /* NULL once the pool is gone */
} WeftOpenaiLookup;

struct _WeftOpenaiPool {
  GMainContext *context;       /* the engine loop's; set by the first use */
  WeftOpenaiProxyState proxy_state;
  GProxyResolver *proxy;       /* for new sessions, once known; NULL: none */
  WeftOpenaiLookup *lookup;    /* the lookup in flight, or NULL */
  GQueue ready_waiters;        /* WeftOpenaiPoolWaiter*, until it is known */
  GPtrArray *shards;           /* WeftOpenaiShard*, oldest first */
  guint n_kept;
  GPtrArray *open_kept;        /* kept shards with room, the next on top */
  GPtrArray *open_surplus;     /* surplus shards with room, likewise */
  GSource *trim;               /* closes surplus empty shards, or NULL */
  WeftOpenaiDeadlineSource *deadlines;
};

/* ------------------------------------------------------------------------ */
/* Lifetime                                                                 */

WeftOpenaiPool *
weft_openai_pool_new (void)
{
  WeftOpenaiPool *pool = g_new0 (WeftOpenaiPool, 1);

  pool->shards = g_ptr_array_new ();
  pool->open_kept = g_ptr_array_new ();
  pool->open_surplus = g_ptr_array_new ();
  g_queue_init (&pool->ready_waiters);
  return pool;
}

static void
weft_openai_shard_free (WeftOpenaiShard *shard)
{
  g_warn_if_fail (shard->in_use == 0);
  g_object_unref (shard->session);
  g_free (shard);
}

/* On the engine loop, or once it has stopped for good. */
static void
weft_openai_pool_free_now (gpointer data)
{
  WeftOpenaiPool *pool = data;

  if (pool->trim != NULL)
    g_source_destroy (pool->trim);
  g_clear_pointer (&pool->trim, g_source_unref);
  if (pool->deadlines != NULL)
    {
      g_warn_if_fail (g_queue_is_empty (&pool->deadlines->queue));
      g_source_destroy ((GSource *) pool->deadlines);
      g_source_unref ((GSource *) pool->deadlines);
    }
  for (guint i = 0; i < pool->shards->len; i++)
    weft_openai_shard_free (pool->shards->pdata[i]);
  g_ptr_array_unref (pool->shards);
  g_ptr_array_unref (pool->open_kept);
  g_ptr_array_unref (pool->open_surplus);
  g_warn_if_fail (g_queue_is_empty (&pool->ready_waiters));
  if (pool->lookup != NULL)
    pool->lookup->pool = NULL;
  g_clear_object (&pool->proxy);
  g_clear_pointer (&pool->context, g_main_context_unref);
  g_free (pool);
}

static gboolean
weft_openai_pool_free_idle (gpointer data)
{
  return G_SOURCE_REMOVE;      /* the source's destroy notify frees it */
}

/* Any thread, once no request uses the pool.  The sessions and sources
 * belong to the engine loop, whose callbacks (the trim timer, libsoup's
 * own) may be running right now: the pool is freed there, from an idle
 * source.  Should the loop never run again, the context's finalization
 * frees it. */
void
weft_openai_pool_free (WeftOpenaiPool *pool)
{
  g_autoptr(GSource) idle = NULL;

  if (pool == NULL)
    return;
  if (pool->context == NULL)
    {
      weft_openai_pool_free_now (pool);      /* never used: nothing to fear */
      return;
    }
  idle = g_idle_source_new ();
  /* Before the engine's quit request, should the two be queued together. */
  g_source_set_priority (idle, G_PRIORITY_HIGH);
  g_source_set_callback (idle, weft_openai_pool_free_idle, pool, weft_openai_pool_free_now);
  g_source_attach (idle, pool->context);
}

static void
weft_openai_pool_bind (WeftOpenaiPool *pool, GMainContext *context)
{
  if (pool->context == NULL)
    pool->context = g_main_context_ref (context);
  g_return_if_fail (pool->context == context);
}

/* ------------------------------------------------------------------------ */
/* Shards                                                                   */

/* ------------------------------------------------------------------------ */
/* The proxy                                                                */

static void
weft_openai_pool_proxy_known (WeftOpenaiPool *pool, GProxyResolver *proxy)
{
  GList *link;

  pool->proxy_state = WEFT_OPENAI_PROXY_KNOWN;
  g_set_object (&pool->proxy, proxy);
  /* A waiter's callback may start a request, never withdraw another. */
  while ((link = g_queue_pop_head_link (&pool->ready_waiters)) != NULL)
    {
      WeftOpenaiPoolWaiter *w = link->data;

      link->data = NULL;
      w->func (w->data);
    }
}

static void
weft_openai_pool_proxy_looked_up (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autofree WeftOpenaiLookup *lookup = data;
  WeftOpenaiPool *pool = lookup->pool;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) proxies = g_proxy_resolver_lookup_finish (G_PROXY_RESOLVER (source), result, &error);
  g_autoptr(GProxyResolver) proxy = NULL;

  if (pool == NULL)
    return;
  pool->lookup = NULL;
  if (proxies == NULL || proxies[0] == NULL)
    proxy = g_object_ref (G_PROXY_RESOLVER (source));  /* ask per connection */
  else if (!g_str_equal (proxies[0], "direct://"))
    proxy = g_simple_proxy_resolver_new (proxies[0], NULL);
  weft_openai_pool_proxy_known (pool, proxy);
}

/* On the engine loop.  TRUE when a request may take a shard now; else
 * `func (data)` is called later, once the proxy is known, unless `w` is
 * withdrawn first.  `like` is the engine's session, `url` the requests'. */
gboolean
weft_openai_pool_ready (WeftOpenaiPool *pool, SoupSession *like, GMainContext *context,
                        const char *url, WeftOpenaiPoolWaiter *w, WeftOpenaiDeadlineFunc func,
                        gpointer data)
{
  g_autoptr(GProxyResolver) resolver = NULL;

  if (pool->proxy_state == WEFT_OPENAI_PROXY_KNOWN)
    return TRUE;
  weft_openai_pool_bind (pool, context);
  if (pool->proxy_state == WEFT_OPENAI_PROXY_UNKNOWN)
    {
      g_object_get (like, "proxy-resolver", &resolver, NULL);
      if (resolver == NULL)
        {
          /* The engine's session uses no proxy: neither do these. */
          pool->proxy_state = WEFT_OPENAI_PROXY_KNOWN;
          return TRUE;
        }
    }
  w->func = func;
  w->data = data;
  w->link.data = w;
  g_queue_push_tail_link (&pool->ready_waiters, &w->link);
  if (pool->proxy_state == WEFT_OPENAI_PROXY_LOOKING)
    return FALSE;
  pool->proxy_state = WEFT_OPENAI_PROXY_LOOKING;
  pool->lookup = g_new0 (WeftOpenaiLookup, 1);
  pool->lookup->pool = pool;
  g_proxy_resolver_lookup_async (resolver, url, NULL, weft_openai_pool_proxy_looked_up, pool->lookup);
  return FALSE;
}

void
weft_openai_pool_withdraw (WeftOpenaiPool *pool, WeftOpenaiPoolWaiter *w)
{
  if (w->link.data == NULL)
    return;
  g_queue_unlink (&pool->ready_waiters, &w->link);
  w->link.data = NULL;
}

/* ------------------------------------------------------------------------ */
/* Shards                                                                   */

/* A session with the settings of `like` (the engine's) but the proxy the
 * pool found, on this thread's default context, the engine loop's.  Not
 * its TLS database: asking for it loads the system's (every CA
 * certificate) even when no request uses TLS; the sessions load the same
 * default themselves, when a request does. */
static SoupSession *
weft_openai_session_new (WeftOpenaiPool *pool, SoupSession *like)
{
  SoupSession *session;
  g_autoptr(GTlsInteraction) interaction = NULL;
  g_autoptr(GInetSocketAddress) local = NULL;
  g_autofree char *user_agent = NULL, *accept_language = NULL;
  guint timeout = 0, idle_timeout = 0;
  gboolean accept_language_auto = FALSE;

  g_object_get (like, "tls-interaction", &interaction, "local-address", &local,
                "user-agent", &user_agent, "accept-language", &accept_language,
                "accept-language-auto", &accept_language_auto,
                "timeout", &timeout, "idle-timeout", &idle_timeout, NULL);
  session = soup_session_new_with_options ("max-conns", WEFT_OPENAI_SHARD_SIZE,
                                           "max-conns-per-host", WEFT_OPENAI_SHARD_SIZE,
                                           "proxy-resolver", pool->proxy,
                                           "local-address", local,
                                           "tls-interaction", interaction,
                                           "user-agent", user_agent,
                                           "timeout", timeout, "idle-timeout", idle_timeout,
                                           NULL);
  if (accept_language_auto)
    soup_session_set_accept_language_auto (session, TRUE);
  else if (accept_language != NULL)
    soup_session_set_accept_language (session, accept_language);
  return session;
}

static GPtrArray *
weft_openai_pool_open_stack (WeftOpenaiPool *pool, WeftOpenaiShard *shard)
{
  return shard->kept ? pool->open_kept : pool->open_surplus;
}

/* Drops the surplus shards that have been empty for long enough; comes
 * back later for those that have not. */
static gboolean
weft_openai_pool_trim (gpointer data)
{
  WeftOpenaiPool *pool = data;
  gint64 now = g_get_monotonic_time ();
  gboolean again = FALSE;

  for (guint i = pool->shards->len; i-- > 0;)
    {
      WeftOpenaiShard *shard = pool->shards->pdata[i];

      if (shard->kept || shard->in_use > 0)
        continue;
      if (now - shard->emptied_us < WEFT_OPENAI_SHARD_LINGER_MS * G_TIME_SPAN_MILLISECOND)
        {
          again = TRUE;
          continue;
        }
      if (shard->open)
        g_ptr_array_remove (pool->open_surplus, shard);
      g_ptr_array_remove_index (pool->shards, i);
      weft_openai_shard_free (shard);
    }
  if (again)
    return G_SOURCE_CONTINUE;
  g_clear_pointer (&pool->trim, g_source_unref);
  return G_SOURCE_REMOVE;
}

static void
weft_openai_pool_schedule_trim (WeftOpenaiPool *pool)
{
  if (pool->trim != NULL)
    return;
  pool->trim = g_timeout_source_new (WEFT_OPENAI_SHARD_LINGER_MS);
  /* No reference: the pool destroys the source before it goes. */
  g_source_set_callback (pool->trim, weft_openai_pool_trim, pool, NULL);
  g_source_attach (pool->trim, pool->context);
}

static WeftOpenaiShard *
weft_openai_pool_add_shard (WeftOpenaiPool *pool, SoupSession *like)
{
  WeftOpenaiShard *shard = g_new0 (WeftOpenaiShard, 1);

  shard->session = weft_openai_session_new (pool, like);
  shard->kept = pool->n_kept < WEFT_OPENAI_SHARDS_KEPT;
  pool->n_kept += shard->kept;
  shard->open = TRUE;
  g_ptr_array_add (pool->shards, shard);
  g_ptr_array_add (weft_openai_pool_open_stack (pool, shard), shard);
  return shard;
}

/* On the engine loop, once weft_openai_pool_ready() said so.  A shard with
 * room for one more request: a kept one if any has room, else a surplus
 * one (a new one when all are full).  Give it back with
 * weft_openai_pool_give(). */
WeftOpenaiShard *
weft_openai_pool_take (WeftOpenaiPool *pool, SoupSession *like, GMainContext *context)
{
  GPtrArray *open;
  WeftOpenaiShard *shard;

  g_return_val_if_fail (pool->proxy_state == WEFT_OPENAI_PROXY_KNOWN, NULL);
  weft_openai_pool_bind (pool, context);
  open = pool->open_kept->len > 0 ? pool->open_kept : pool->open_surplus;
  if (open->len == 0)
    {
      shard = weft_openai_pool_add_shard (pool, like);
      open = weft_openai_pool_open_stack (pool, shard);
    }
  /* The last opened first: requests pack into few shards, which reuse
   * their kept-alive connections. */
  shard = open->pdata[open->len - 1];
  if (++shard->in_use == WEFT_OPENAI_SHARD_SIZE)
    {
      shard->open = FALSE;
      g_ptr_array_remove_index (open, open->len - 1);
    }
  return shard;
}

SoupSession *
weft_openai_shard_get_session (WeftOpenaiShard *shard)
{
  return shard->session;
}

/* Whether the shard's requests should leave their connection open. */
gboolean
weft_openai_shard_keeps_connections (WeftOpenaiShard *shard)
{
  return shard->kept;
}

/* On the engine loop: the request is over (its message and stream let go). */
void
weft_openai_pool_give (WeftOpenaiPool *pool, WeftOpenaiShard *shard)
{
  g_return_if_fail (shard->in_use > 0);

  if (!shard->open)
    {
      shard->open = TRUE;
      g_ptr_array_add (weft_openai_pool_open_stack (pool, shard), shard);
    }
  if (--shard->in_use == 0 && !shard->kept)
    {
      shard->emptied_us = g_get_monotonic_time ();
      weft_openai_pool_schedule_trim (pool);
    }
}

/* ------------------------------------------------------------------------ */
/* Deadlines                                                                */

static void
weft_openai_deadlines_rearm (WeftOpenaiDeadlineSource *source)
{
  WeftOpenaiDeadline *head = g_queue_peek_head (&source->queue);

  g_source_set_ready_time ((GSource *) source, head != NULL ? head->deadline : -1);
}

static gboolean
weft_openai_deadlines_dispatch (GSource *base, GSourceFunc callback, gpointer data)
{
  WeftOpenaiDeadlineSource *source = (WeftOpenaiDeadlineSource *) base;
  gint64 now = g_source_get_time (base);
  WeftOpenaiDeadline *head;

  /* Each expiry may add or remove deadlines: take the head afresh. */
  while ((head = g_queue_peek_head (&source->queue)) != NULL && head->deadline <= now)
    {
      g_queue_unlink (&source->queue, &head->link);
      head->link.data = NULL;
      head->func (head->data);
    }
  weft_openai_deadlines_rearm (source);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs weft_openai_deadline_funcs = {
  NULL, NULL, weft_openai_deadlines_dispatch, NULL, NULL, NULL
};

/* On the engine loop: `func (data)` is called at `deadline` (monotonic µs)
 * unless removed first.  `d` is the caller's, until then. */
void
weft_openai_pool_add_deadline (WeftOpenaiPool *pool, GMainContext *context, WeftOpenaiDeadline *d,
                               gint64 deadline, WeftOpenaiDeadlineFunc func, gpointer data)
{
  GList *after;

  g_return_if_fail (d->link.data == NULL);

  weft_openai_pool_bind (pool, context);
  if (pool->deadlines == NULL)
    {
      pool->deadlines = (WeftOpenaiDeadlineSource *)
        g_source_new (&weft_openai_deadline_funcs, sizeof (WeftOpenaiDeadlineSource));
      g_queue_init (&pool->deadlines->queue);
      g_source_set_name ((GSource *) pool->deadlines, "weft-openai deadlines");
      g_source_attach ((GSource *) pool->deadlines, pool->context);
    }
  d->deadline = deadline;
  d->func = func;
  d->data = data;
  d->link.data = d;
  /* From the tail: with one timeout for all, that is where it goes. */
  for (after = pool->deadlines->queue.tail;
       after != NULL && ((WeftOpenaiDeadline *) after->data)->deadline > deadline;
       after = after->prev)
    ;
  if (after != NULL)
    g_queue_insert_after_link (&pool->deadlines->queue, after, &d->link);
  else
    g_queue_push_head_link (&pool->deadlines->queue, &d->link);
  weft_openai_deadlines_rearm (pool->deadlines);
}

/* On the engine loop (or once it has stopped); nothing when not added. */
void
weft_openai_pool_remove_deadline (WeftOpenaiPool *pool, WeftOpenaiDeadline *d)
{
  if (d->link.data == NULL)
    return;
  g_queue_unlink (&pool->deadlines->queue, &d->link);
  d->link.data = NULL;
  weft_openai_deadlines_rearm (pool->deadlines);
}
