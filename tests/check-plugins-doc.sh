#!/usr/bin/env bash
# check-plugins-doc.sh WEFT DOC [--update]
#
# docs/plugins.md is what `weft plugins --markdown` prints for the plugins
# of the build tree (their options tables).  Without --update: fails,
# showing the difference, when the committed page is not that (`meson test
# plugins-doc`).  With --update: writes it (`ninja plugins-doc`).
set -euo pipefail

weft=$1
doc=$2
made=$(mktemp)
trap 'rm -f "$made"' EXIT

# Only the build tree's plugins: none from the caller's environment.
WEFT_PLUGIN_PATH= "$weft" plugins --markdown >"$made"
if [ "${3:-}" = "--update" ]; then
  cp "$made" "$doc"
  echo "check-plugins-doc: wrote $doc"
  exit 0
fi
if ! diff -u "$doc" "$made"; then
  echo "check-plugins-doc: $doc is not what the plugins' tables say (above: - the page," \
       "+ the tables); run: ninja -C BUILDDIR plugins-doc" >&2
  exit 1
fi
echo "check-plugins-doc: $doc matches the plugins' tables"
