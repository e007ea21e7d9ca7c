#!/usr/bin/env bash
# Editor support tests: the VS Code grammar and extension (npm), then the Vim syntax file
# (skipped with a note when vim is not installed).
set -euo pipefail
cd "$(dirname "$0")"
vscode/test.sh
if command -v vim >/dev/null 2>&1; then
  vim/test.sh
else
  echo "editors: vim not installed, vim syntax checks skipped"
fi
