/* weft-openai-limiter.c — requests/min, tokens/min and concurrency limits
 * of one agent instance, shared by every task (and every run) using it.
 *
 * Two token buckets and a counter.  Each bucket holds at most one second's
 * worth of its per-minute rate (at least 1): providers enforce per-minute
 * limits over shorter windows, so a full minute's burst at once would be
 * refused anyway; this spreads requests evenly instead.  The tokens bucket
 * is debited by an estimate before a request is sent, corrected by the
 * usage the provider reports, and may go negative: later requests then wait
 * until it has refilled.
 *
 * A request that must wait joins a FIFO queue; one timeout source on the
 * engine loop wakes the queue when the head may go (a released slot wakes
 * it too).  No thread ever sleeps.  All of this runs on the engine loop,
 * so there is no lock; only the reference count is atomic, because the
 * instance that owns the limiter may be destroyed on another thread.
 */
#include "weft-openai.h"

struct _WeftOpenaiWaiter {
  gint64 tokens;
  WeftOpenaiGrantFunc grant;
  gpointer data;
};

typedef struct {
  double rate_per_us;        /* refill */
  double capacity;
  double level;
} WeftOpenaiBucket;

struct _WeftOpenaiLimiter {
  gatomicrefcount ref_count;
  gint64 max_concurrency;    /* 0 = unlimited; the effective limit */
  gint64 configured_concurrency;
  gint64 max_tpm;
  WeftOpenaiBucket requests; /* unused when rate_per_us is 0 */
  WeftOpenaiBucket tokens;
  gint64 refilled_us;
  gint64 in_flight;
  GQueue queue;              /* WeftOpenaiWaiter*, oldest first */
  GSource *wake;             /* a pending timeout, or NULL */
  GMainContext *context;     /* where `wake` runs; set by the first wait */
};

static void
weft_openai_bucket_init (WeftOpenaiBucket *bucket, gint64 per_minute)
{
  bucket->rate_per_us = (double) per_minute / 60e6;
  bucket->capacity = MAX (1.0, (double) per_minute / 60.0);
  bucket->level = bucket->capacity;
}

WeftOpenaiLimiter *
weft_openai_limiter_new (gint64 max_rpm, gint64 max_tpm, gint64 max_concurrency)
{
  WeftOpenaiLimiter *limiter = g_new0 (WeftOpenaiLimiter, 1);

  g_atomic_ref_count_init (&limiter->ref_count);
  weft_openai_bucket_init (&limiter->requests, max_rpm);
  weft_openai_bucket_init (&limiter->tokens, max_tpm);
  limiter->max_tpm = max_tpm;
  limiter->max_concurrency = max_concurrency;
  limiter->configured_concurrency = max_concurrency;
  limiter->refilled_us = g_get_monotonic_time ();
  g_queue_init (&limiter->queue);
  return limiter;
}

WeftOpenaiLimiter *
weft_openai_limiter_ref (WeftOpenaiLimiter *limiter)
{
  g_atomic_ref_count_inc (&limiter->ref_count);
  return limiter;
}

void
weft_openai_limiter_unref (WeftOpenaiLimiter *limiter)
{
  if (limiter == NULL || !g_atomic_ref_count_dec (&limiter->ref_count))
    return;
  /* The last reference: no task waits any more (a waiting request holds a
   * reference through its client), and the wake-up timer holds one. */
  g_warn_if_fail (g_queue_is_empty (&limiter->queue));
  g_clear_pointer (&limiter->context, g_main_context_unref);
  g_free (limiter);
}

static void
weft_openai_limiter_refill (WeftOpenaiLimiter *limiter)
{
  gint64 now = g_get_monotonic_time ();
  double elapsed = (double) (now - limiter->refilled_us);
  WeftOpenaiBucket *buckets[] = { &limiter->requests, &limiter->tokens };

  for (guint i = 0; i < G_N_ELEMENTS (buckets); i++)
    buckets[i]->level = MIN (buckets[i]->capacity,
                             buckets[i]->level + elapsed * buckets[i]->rate_per_us);
  limiter->refilled_us = now;
}

/* How long until `bucket` holds `need`; 0 when it does (or is unlimited). */
static gint64
weft_openai_bucket_wait_us (const WeftOpenaiBucket *bucket, double need)
{
  if (bucket->rate_per_us <= 0 || bucket->level >= need)
    return 0;
  return (gint64) ((need - bucket->level) / bucket->rate_per_us) + 1;
}

/* A request larger than a bucket's capacity could never start: it waits for
 * a full bucket instead and drives the level negative. */
static double
weft_openai_token_need (const WeftOpenaiLimiter *limiter, gint64 tokens)
{
  return MIN ((double) MAX (tokens, 0), limiter->tokens.capacity);
}

/* After a refill: 0 when a request of `tokens` may start now, -1 when only
 * a released slot can let it start, else the µs to wait. */
static gint64
weft_openai_limiter_wait_us (const WeftOpenaiLimiter *limiter, gint64 tokens)
{
  if (limiter->max_concurrency > 0 && limiter->in_flight >= limiter->max_concurrency)
    return -1;
  return MAX (weft_openai_bucket_wait_us (&limiter->requests, 1.0),
              weft_openai_bucket_wait_us (&limiter->tokens,
                                          weft_openai_token_need (limiter, tokens)));
}

static void
weft_openai_limiter_take (WeftOpenaiLimiter *limiter, gint64 tokens)
{
  limiter->in_flight++;
  if (limiter->requests.rate_per_us > 0)
    limiter->requests.level -= 1.0;
  if (limiter->max_tpm > 0)
    limiter->tokens.level -= (double) MAX (tokens, 0);
}

static void weft_openai_limiter_schedule (WeftOpenaiLimiter *limiter);

static gboolean
weft_openai_limiter_wake (gpointer data)
{
  WeftOpenaiLimiter *limiter = data;

  g_clear_pointer (&limiter->wake, g_source_unref);
  weft_openai_limiter_schedule (limiter);
  return G_SOURCE_REMOVE;
}

/* Grants queued requests in order while the limits allow, then arms the
 * timer for the head, if it waits on a bucket.  A granted request's
 * callback starts its HTTP request; it never calls back into the limiter
 * before returning (a release comes from a later callback). */
static void
weft_openai_limiter_schedule (WeftOpenaiLimiter *limiter)
{
  WeftOpenaiWaiter *head;
  gint64 wait_us = 0;

  weft_openai_limiter_refill (limiter);
  while ((head = g_queue_peek_head (&limiter->queue)) != NULL
         && (wait_us = weft_openai_limiter_wait_us (limiter, head->tokens)) == 0)
    {
      g_queue_pop_head (&limiter->queue);
      weft_openai_limiter_take (limiter, head->tokens);
      head->grant (head->data);
      g_free (head);
    }
  if (head == NULL || wait_us < 0 || limiter->wake != NULL)
    return;
  limiter->wake = g_timeout_source_new ((guint) MIN ((wait_us + 999) / 1000, G_MAXUINT));
  g_source_set_callback (limiter->wake, weft_openai_limiter_wake,
                         weft_openai_limiter_ref (limiter),
                         (GDestroyNotify) weft_openai_limiter_unref);
  g_source_attach (limiter->wake, limiter->context);
}

WeftOpenaiWaiter *
weft_openai_limiter_acquire (WeftOpenaiLimiter *limiter, GMainContext *context, gint64 tokens,
                             WeftOpenaiGrantFunc grant, gpointer data)
{
  WeftOpenaiWaiter *waiter;

  weft_openai_limiter_refill (limiter);
  /* Nobody jumps the queue: a request that could start now still waits
   * behind older ones. */
  if (g_queue_is_empty (&limiter->queue) && weft_openai_limiter_wait_us (limiter, tokens) == 0)
    {
      weft_openai_limiter_take (limiter, tokens);
      return NULL;
    }
  if (limiter->context == NULL)
    limiter->context = g_main_context_ref (context);
  waiter = g_new0 (WeftOpenaiWaiter, 1);
  waiter->tokens = tokens;
  waiter->grant = grant;
  waiter->data = data;
  g_queue_push_tail (&limiter->queue, waiter);
  weft_openai_limiter_schedule (limiter);
  return waiter;
}

void
weft_openai_limiter_cap_concurrency (WeftOpenaiLimiter *limiter, gint64 cap)
{
  gint64 configured = limiter->configured_concurrency;

  if (cap <= 0)
    return;
  limiter->max_concurrency = configured > 0 ? MIN (configured, cap) : cap;
}

void
weft_openai_limiter_withdraw (WeftOpenaiLimiter *limiter, WeftOpenaiWaiter *waiter)
{
  gboolean was_head = g_queue_peek_head (&limiter->queue) == waiter;

  g_queue_remove (&limiter->queue, waiter);
  g_free (waiter);
  if (g_queue_is_empty (&limiter->queue) && limiter->wake != NULL)
    {
      g_source_destroy (limiter->wake);
      g_clear_pointer (&limiter->wake, g_source_unref);
    }
  else if (was_head)
    weft_openai_limiter_schedule (limiter);
}

void
weft_openai_limiter_release (WeftOpenaiLimiter *limiter, gint64 estimated, gint64 used)
{
  g_return_if_fail (limiter->in_flight > 0);

  limiter->in_flight--;
  if (limiter->max_tpm > 0 && used >= 0)
    limiter->tokens.level = MIN (limiter->tokens.capacity,
                                 limiter->tokens.level + (double) (estimated - used));
  if (!g_queue_is_empty (&limiter->queue))
    weft_openai_limiter_schedule (limiter);
}
