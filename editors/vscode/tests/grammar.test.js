// Whole-file checks the line assertions cannot express: every sample tokenises without an
// `invalid` scope and closes every begin/end rule it opens (nothing leaks into later lines).
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

const root = path.join(__dirname, '..');
const grammarPath = path.join(root, 'syntaxes', 'sflow.tmLanguage.json');

let grammarPromise;
function loadGrammar() {
  if (!grammarPromise) {
    const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm')).buffer;
    const onigLib = oniguruma.loadWASM(wasm).then(() => ({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }));
    const registry = new vsctm.Registry({
      onigLib,
      loadGrammar: async () =>
        vsctm.parseRawGrammar(fs.readFileSync(grammarPath, 'utf8'), grammarPath),
    });
    grammarPromise = registry.loadGrammar('source.sflow');
  }
  return grammarPromise;
}

// The source a sample holds once its header and assertion lines are dropped, as the
// grammar-test runner sees it.
function sampleSource(file) {
  return fs
    .readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .slice(1)
    .filter((line) => !/^#\s*(\^|<~*-)/.test(line));
}

async function tokenise(lines) {
  const grammar = await loadGrammar();
  let stack = vsctm.INITIAL;
  const invalid = [];
  lines.forEach((line, n) => {
    const result = grammar.tokenizeLine(line, stack);
    for (const token of result.tokens) {
      if (token.scopes.some((s) => s.startsWith('invalid'))) {
        invalid.push(`${n + 1}:${token.startIndex + 1} ${line.slice(token.startIndex, token.endIndex)}`);
      }
    }
    stack = result.ruleStack;
  });
  return { invalid, depth: stack.depth };
}

const samples = fs
  .readdirSync(__dirname)
  .filter((f) => f.endsWith('.sflow') && f !== 'invalid.sflow')
  .map((f) => path.join(__dirname, f));

// The repository's own .sflow files (stdlib modules, examples) must highlight cleanly too.
const repo = path.join(root, '..', '..');
const repoFiles = ['stdlib', 'examples']
  .map((dir) => path.join(repo, dir))
  .filter((dir) => fs.existsSync(dir))
  .flatMap((dir) =>
    fs
      .readdirSync(dir, { withFileTypes: true })
      // Only files: a run leaves its journal in a `.sflow/` folder beside the workflow.
      .filter((e) => e.isFile() && e.name.endsWith('.sflow'))
      .map((e) => path.join(dir, e.name)),
  );

for (const file of repoFiles) {
  test(`${path.relative(repo, file)} has no invalid token and closes every rule`, async () => {
    const lines = fs.readFileSync(file, 'utf8').split(/\r?\n/);
    const { invalid, depth } = await tokenise(lines);
    assert.deepStrictEqual(invalid, []);
    assert.strictEqual(depth, 1, 'a begin/end rule is still open at the end of the file');
  });
}

test('there are samples for the five example workflows', () => {
  const names = samples.map((f) => path.basename(f, '.sflow'));
  for (const example of [
    'os_patching',
    'emergency_openssl',
    'ntp_standard',
    'db_failover_maintenance',
    'web_triage',
  ]) {
    assert.ok(names.includes(example), `missing sample ${example}.sflow`);
  }
});

for (const file of samples) {
  test(`${path.basename(file)} has no invalid token and closes every rule`, async () => {
    const { invalid, depth } = await tokenise(sampleSource(file));
    assert.deepStrictEqual(invalid, []);
    assert.strictEqual(depth, 1, 'a begin/end rule is still open at the end of the file');
  });
}

test('an unknown escape is marked invalid', async () => {
  const { invalid } = await tokenise(sampleSource(path.join(__dirname, 'invalid.sflow')));
  assert.deepStrictEqual(invalid, ['4:17 \\q']);
});

test('an unterminated triple-quoted string stays open', async () => {
  const { depth } = await tokenise(['task t on all {', '  run = """', '    echo hi']);
  assert.ok(depth > 1);
});

test('a task header spanning lines ends at its brace', async () => {
  const { depth } = await tokenise([
    'task t on web_servers',
    '    after a, b',
    '    when a.failed {',
    '  run = "x"',
    '}',
  ]);
  assert.strictEqual(depth, 1);
});
