#!/usr/bin/env bash
# Grammar and extension tests of the VS Code extension: installs the pinned npm packages
# (package-lock.json), then runs the annotated grammar samples and the Node unit tests.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v npm >/dev/null 2>&1; then
  echo "editors/vscode: npm is required (Node.js 18 or later)" >&2
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
# Line assertions in tests/*.sflow (vscode-tmgrammar-test exits non-zero on any failure).
npx --no-install vscode-tmgrammar-test --compact -g syntaxes/sflow.tmLanguage.json 'tests/*.sflow'
# Whole-file grammar checks and the extension's executable lookup.
node --test tests/
