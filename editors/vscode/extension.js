// The sflow VS Code extension: the grammar and language configuration are declared in
// package.json; this entry only starts `sflow lsp` over stdio when the executable is found.
'use strict';

const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');
const { findExecutable } = require('./server-path');

let client;
let output;

async function startClient() {
  const config = vscode.workspace.getConfiguration('sflow');
  if (!config.get('lsp.enabled', true)) {
    output.appendLine('sflow.lsp.enabled is false: syntax highlighting only');
    return;
  }
  const command = config.get('path', 'sflow');
  const executable = findExecutable(command);
  if (!executable) {
    // Highlighting works without the binary, so a missing one is a note, not an error popup.
    output.appendLine(`"${command}" was not found on the PATH: syntax highlighting only`);
    return;
  }
  const serverOptions = {
    command: executable,
    args: ['lsp'],
    transport: TransportKind.stdio,
  };
  const clientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'sflow' },
      { scheme: 'untitled', language: 'sflow' },
    ],
    outputChannel: output,
    synchronize: {
      // Inventories change what a workflow resolves to, so the server hears about them too.
      fileEvents: vscode.workspace.createFileSystemWatcher('**/*.{sflow,ini,yaml,yml,json}'),
    },
  };
  client = new LanguageClient('sflow', 'sflow language server', serverOptions, clientOptions);
  output.appendLine(`starting ${executable} lsp`);
  await client.start();
}

async function stopClient() {
  if (client) {
    const running = client;
    client = undefined;
    await running.stop();
  }
}

async function activate(context) {
  output = vscode.window.createOutputChannel('sflow');
  context.subscriptions.push(output);
  context.subscriptions.push(
    vscode.commands.registerCommand('sflow.restartServer', async () => {
      await stopClient();
      await startClient();
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration('sflow')) {
        await stopClient();
        await startClient();
      }
    }),
  );
  try {
    await startClient();
  } catch (err) {
    output.appendLine(`could not start sflow lsp: ${err && err.message ? err.message : err}`);
  }
}

function deactivate() {
  return stopClient();
}

module.exports = { activate, deactivate };
