/* weft-test.h — helpers shared by weft's test programs. */
#pragma once

#include <weft.h>
#include <glib/gstdio.h>
#include <string.h>

#define weft_test_assert_contains(haystack, needle)                                 \
  G_STMT_START {                                                                    \
    const char *weft_h_ = (haystack), *weft_n_ = (needle);                          \
    if (weft_h_ == NULL || strstr (weft_h_, weft_n_) == NULL)                       \
      g_error ("%s:%d: expected \"%s\" in \"%s\"", __FILE__, __LINE__, weft_n_,     \
               weft_h_ ? weft_h_ : "(null)");                                       \
  } G_STMT_END

/* The build tree's folder of working test plugins. */
static inline char *
weft_test_plugin_dir (void)
{
  return g_build_filename (g_getenv ("WEFT_BUILD_ROOT"), "tests", "plugins", "good", NULL);
}

/* An engine with the test plugins and the build tree's plugins loaded. */
static inline WeftEngine *
weft_test_engine_new (guint threads)
{
  WeftEngine *engine = weft_engine_new (threads);
  g_autofree char *dir = weft_test_plugin_dir ();
  const char *dirs[] = { dir, NULL };
  g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;

  if (!weft_engine_load_plugins (engine, dirs, warnings, &error))
    g_error ("loading plugins: %s", error->message);
  for (guint i = 0; i < warnings->len; i++)
    g_error ("plugin warning: %s", (const char *) warnings->pdata[i]);
  return engine;
}

/* Loads a flow that must be valid. */
static inline WeftFlow *
weft_test_flow (WeftEngine *engine, const char *json)
{
  g_autoptr(GError) error = NULL;
  WeftFlow *flow = weft_flow_load_data (engine, json, -1, "test.json", &error);

  g_assert_no_error (error);
  g_assert_nonnull (flow);
  return flow;
}

static inline guint
weft_test_task_index (WeftFlow *flow, const char *name)
{
  for (guint i = 0; i < weft_flow_get_n_tasks (flow); i++)
    if (g_str_equal (weft_flow_get_task_name (flow, i), name))
      return i;
  g_error ("no task %s", name);
}
