// The extension starts `sflow lsp` only when it finds an executable `sflow`.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { findExecutable } = require('../server-path');

function tempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sflow-vscode-'));
}

test('finds an executable on the PATH', { skip: process.platform === 'win32' }, () => {
  const empty = tempDir();
  const bin = tempDir();
  const exe = path.join(bin, 'sflow');
  fs.writeFileSync(exe, '#!/bin/sh\n');
  fs.chmodSync(exe, 0o755);
  const envPath = [empty, bin].join(path.delimiter);
  assert.strictEqual(findExecutable('sflow', envPath), exe);
});

test('ignores a file that is not executable', { skip: process.platform === 'win32' }, () => {
  const bin = tempDir();
  fs.writeFileSync(path.join(bin, 'sflow'), 'not a program');
  fs.chmodSync(path.join(bin, 'sflow'), 0o644);
  assert.strictEqual(findExecutable('sflow', bin), undefined);
});

test('ignores a directory of the same name', () => {
  const bin = tempDir();
  fs.mkdirSync(path.join(bin, 'sflow'));
  assert.strictEqual(findExecutable('sflow', bin), undefined);
});

test('takes an explicit path as is', { skip: process.platform === 'win32' }, () => {
  const bin = tempDir();
  const exe = path.join(bin, 'my-sflow');
  fs.writeFileSync(exe, '#!/bin/sh\n');
  fs.chmodSync(exe, 0o755);
  assert.strictEqual(findExecutable(exe, ''), exe);
  assert.strictEqual(findExecutable(path.join(bin, 'missing'), ''), undefined);
});

test('an empty PATH or name finds nothing', () => {
  assert.strictEqual(findExecutable('sflow', ''), undefined);
  assert.strictEqual(findExecutable('', '/usr/bin'), undefined);
});
