// Finds the `sflow` executable the extension starts as a language server (`sflow lsp`).
// Kept free of the `vscode` module so that it can be tested with plain Node.
'use strict';

const fs = require('fs');
const path = require('path');

function isExecutable(file) {
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) {
      return false;
    }
    if (process.platform === 'win32') {
      return true;
    }
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolves `command` (a bare name such as "sflow", or a path) to an executable file.
 * A bare name is looked up in `envPath` (the PATH); on Windows each PATHEXT suffix is tried.
 * Returns the absolute path, or undefined when nothing executable is found.
 */
function findExecutable(command, envPath = process.env.PATH || '', platform = process.platform) {
  if (!command) {
    return undefined;
  }
  const suffixes =
    platform === 'win32' ? ['', ...(process.env.PATHEXT || '.EXE;.CMD;.BAT').split(';')] : [''];
  // A name with a separator is a path: relative ones are taken from the working directory.
  if (command.includes('/') || command.includes(path.sep)) {
    for (const suffix of suffixes) {
      const candidate = path.resolve(command + suffix);
      if (isExecutable(candidate)) {
        return candidate;
      }
    }
    return undefined;
  }
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) {
      continue;
    }
    for (const suffix of suffixes) {
      const candidate = path.join(dir, command + suffix);
      if (isExecutable(candidate)) {
        return path.resolve(candidate);
      }
    }
  }
  return undefined;
}

module.exports = { findExecutable };
