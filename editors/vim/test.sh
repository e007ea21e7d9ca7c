#!/usr/bin/env bash
# Checks the Vim syntax file against the grammar samples of editors/vscode/tests (needs vim).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v vim >/dev/null 2>&1; then
  echo "editors/vim: vim is not installed" >&2
  exit 1
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
SFLOW_VIM_TEST_OUT="$out" vim -Nu NONE -i NONE -Es -S test.vim </dev/null || status=$?
cat "$out"
exit "$status"
