/**
 * The leanfd extension: starts `leanfd lsp` for Lean 4 files (found as discovery.ts says), passes
 * it the `leanfd.*` settings, shows its busy/ready state in the status bar, and offers its verified
 * suggestions from the command palette ("leanfd: Suggest next tactic", "leanfd: Prove theorem") in a
 * QuickPick, with a cancellable progress notification while the server searches.
 * Code actions at a `sorry` and inline completions come from the server through the client.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as vscode from "vscode";
import {
  CancellationToken,
  ConfigurationParams,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  WorkDoneProgress,
} from "vscode-languageclient/node";
import { Resolution, resolveServer, ServerCommand } from "./discovery";
import { protocolInlineTriggerKind } from "./inline";
import { ProgressSteps } from "./progress";
import { RESTART_KEYS, serverSettings, ServerSettings } from "./settings";
import { parseStatus, ServerState, STATUS_NOTIFICATION, statusView } from "./status";
import { commandArgument, parseSuggestions, pickLabel, Suggestion } from "./suggestions";

const SECTION = "leanfd";

let client: LanguageClient | undefined;
let statusItem: vscode.StatusBarItem;
let statusState: ServerState = "starting";
let output: vscode.OutputChannel;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("leanfd");
  statusItem = vscode.window.createStatusBarItem("leanfd.status", vscode.StatusBarAlignment.Right, 100);
  statusItem.name = "leanfd";
  statusItem.command = "leanfd.showOutput";
  context.subscriptions.push(
    output,
    statusItem,
    vscode.commands.registerCommand("leanfd.suggest", () => runSuggestionCommand("leanfd.suggestTactics")),
    vscode.commands.registerCommand("leanfd.prove", () => runSuggestionCommand("leanfd.proveTheorem")),
    vscode.commands.registerCommand("leanfd.restart", restart),
    vscode.commands.registerCommand("leanfd.showOutput", () => output.show(true)),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (RESTART_KEYS.some((k) => e.affectsConfiguration(`${SECTION}.${k}`))) {
        void restart();
      }
    }),
    { dispose: () => void client?.stop() },
  );
  await start();
}

export async function deactivate(): Promise<void> {
  const c = client;
  client = undefined;
  await c?.stop();
}

function currentSettings(): ServerSettings {
  const config = vscode.workspace.getConfiguration(SECTION);
  return serverSettings((key) => config.get(key));
}

function setStatus(state: ServerState, message?: string): void {
  statusState = state;
  const view = statusView(state, message);
  statusItem.text = view.text;
  statusItem.tooltip = view.tooltip;
  statusItem.show();
}

/** The Python extension's API, the part used here (ms-python.python, optional). */
interface PythonApi {
  environments: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string };
    resolveEnvironment(env: { path: string }): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
  };
}

async function selectedPython(): Promise<string | undefined> {
  const ext = vscode.extensions.getExtension<PythonApi>("ms-python.python");
  if (ext === undefined) {
    return undefined;
  }
  try {
    const api = ext.isActive ? ext.exports : await ext.activate();
    const env = api.environments.getActiveEnvironmentPath(vscode.workspace.workspaceFolders?.[0]?.uri);
    const resolved = await api.environments.resolveEnvironment(env);
    return resolved?.executable.uri?.fsPath ?? env.path;
  } catch (e) {
    output.appendLine(`leanfd: asking the Python extension for its interpreter: ${errorText(e)}`);
    return undefined;
  }
}

function isExecutableFile(path: string): boolean {
  try {
    if (!fs.statSync(path).isFile()) {
      return false;
    }
    fs.accessSync(path, process.platform === "win32" ? fs.constants.F_OK : fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function hasLeanfd(python: string): Promise<boolean> {
  const probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('leanfd') is None)";
  return new Promise((resolve) => execFile(python, ["-c", probe], { timeout: 20_000 }, (e) => resolve(e === null)));
}

function findServer(): Promise<Resolution> {
  return resolveServer({
    serverPath: vscode.workspace.getConfiguration(SECTION).get<string>("serverPath"),
    workspaceFolders: (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === "file").map((f) => f.uri.fsPath),
    platform: process.platform,
    pathEnv: process.env["PATH"],
    selectedPython,
    isFile: isExecutableFile,
    hasLeanfd,
  });
}

function createClient(server: ServerCommand): LanguageClient {
  const config = vscode.workspace.getConfiguration(SECTION);
  const command = server.command;
  const args = [...server.args, "lsp", ...config.get<string[]>("serverArgs", [])];
  const cwd = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const serverOptions: ServerOptions = {
    command,
    args,
    // No `transport`: with TransportKind.stdio the client would append `--stdio`, which
    // `leanfd lsp` does not take; stdio is its default.
    options: cwd !== undefined ? { cwd } : {},
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "lean4" },
      { scheme: "untitled", language: "lean4" },
    ],
    outputChannel: output,
    initializationOptions: () => ({ [SECTION]: currentSettings() }),
    synchronize: { configurationSection: SECTION },
    middleware: {
      // The client passes triggerKind through unconverted: hand it the protocol's number (inline.ts).
      provideInlineCompletionItems: (document, position, context, token, next) => {
        const triggerKind = protocolInlineTriggerKind(context.triggerKind) as number as vscode.InlineCompletionTriggerKind;
        return next(document, position, { ...context, triggerKind }, token);
      },
      workspace: {
        // Answer the section "leanfd" with the same object as initializationOptions.leanfd
        // (client-only keys and unset values left out); anything else goes the default way.
        configuration: (params: ConfigurationParams, token: CancellationToken, next) =>
          params.items.every((item) => item.section === SECTION)
            ? params.items.map(() => currentSettings())
            : next(params, token),
      },
    },
  };
  const c = new LanguageClient("leanfd", "leanfd", serverOptions, clientOptions);
  // textDocument/inlineCompletion (LSP 3.18) is still a "proposed" feature of vscode-languageclient 9.
  c.registerProposedFeatures();
  c.onNotification(STATUS_NOTIFICATION, (params: unknown) => {
    const status = parseStatus(params);
    if (status !== undefined) {
      setStatus(status.state, status.message);
    }
  });
  c.onDidChangeState((e) => {
    if (e.newState === State.Starting) {
      setStatus("starting", `leanfd: starting "${command} ${args.join(" ")}"`);
    } else if (e.newState === State.Stopped) {
      setStatus("stopped");
    }
  });
  return c;
}

async function start(): Promise<void> {
  setStatus("starting", "leanfd: looking for the server");
  const found = await findServer();
  if (!found.ok) {
    await startFailed(`leanfd: ${found.message}`);
    return;
  }
  const server = found.server;
  output.appendLine(`leanfd: starting ${[server.command, ...server.args].join(" ")} lsp (from ${server.source})`);
  client = createClient(server);
  try {
    await client.start();
    // Started and no `leanfd/status` yet: ready.
    if (statusState === "starting") {
      setStatus("ready");
    }
  } catch (e) {
    await startFailed(`leanfd: could not start "${[server.command, ...server.args].join(" ")} lsp" (from ${server.source}): ${errorText(e)}`);
  }
}

async function startFailed(message: string): Promise<void> {
  setStatus("error", message);
  output.appendLine(message);
  const choice = await vscode.window.showErrorMessage(message, "Open Settings");
  if (choice === "Open Settings") {
    await vscode.commands.executeCommand("workbench.action.openSettings", "leanfd.serverPath");
  }
}

async function restart(): Promise<void> {
  const old = client;
  client = undefined;
  try {
    await old?.stop();
  } catch (e) {
    output.appendLine(`leanfd: stopping the old server: ${errorText(e)}`);
  }
  await start();
}

/** Ask the server for suggestions at the cursor, show them ranked, apply the one picked. */
async function runSuggestionCommand(command: "leanfd.suggestTactics" | "leanfd.proveTheorem"): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (editor === undefined || editor.document.languageId !== "lean4") {
    void vscode.window.showWarningMessage("leanfd: open a Lean 4 file and put the cursor in a proof first.");
    return;
  }
  const c = client;
  if (c === undefined || !c.isRunning()) {
    void vscode.window.showErrorMessage("leanfd: the server is not running (run \"leanfd: Restart server\").");
    return;
  }
  const document = editor.document;
  const uri = document.uri.toString();
  const version = document.version;
  const cursor = editor.selection.active;
  const what = command === "leanfd.proveTheorem" ? "proving the theorem" : "suggesting tactics";

  let result: unknown;
  try {
    // A notification with Cancel (vscode-languageclient would show the server's progress in the
    // status bar only): the server reports under our token, Cancel cancels the request.
    result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `leanfd: ${what}`, cancellable: true },
      async (progress, token) => {
        const workDoneToken = `leanfd-${randomUUID()}`;
        const steps = new ProgressSteps();
        const reports = c.onProgress(WorkDoneProgress.type, workDoneToken, (value) => {
          const step = steps.step(value);
          if (step !== undefined) {
            progress.report(step);
          }
        });
        try {
          const answer: unknown = await c.sendRequest(
            ExecuteCommandRequest.type,
            { command, arguments: [commandArgument(uri, cursor.line, cursor.character)], workDoneToken },
            token,
          );
          return answer;
        } finally {
          reports.dispose();
        }
      },
    );
  } catch (e) {
    if (!(e instanceof vscode.CancellationError) && !isCancelled(e)) {
      void vscode.window.showErrorMessage(`leanfd: ${what} failed: ${errorText(e)}`);
    }
    return;
  }

  const suggestions = parseSuggestions(result, uri);
  if (suggestions.length === 0) {
    void vscode.window.showInformationMessage("leanfd: no verified suggestion here.");
    return;
  }
  const picked = await vscode.window.showQuickPick(
    suggestions.map((s) => ({ ...pickLabel(s), suggestion: s })),
    {
      title: command === "leanfd.proveTheorem" ? "leanfd: verified proofs" : "leanfd: verified next tactics",
      placeHolder: "Pick one to insert it (Lean checked every entry)",
      matchOnDescription: true,
      matchOnDetail: true,
    },
  );
  if (picked === undefined) {
    return;
  }
  const stale = picked.suggestion.version !== undefined && picked.suggestion.version !== document.version;
  if (document.version !== version || stale) {
    void vscode.window.showWarningMessage("leanfd: the file changed while the server was working; ask again.");
    return;
  }
  await applySuggestion(c, picked.suggestion, editor, cursor);
}

async function applySuggestion(
  c: LanguageClient,
  s: Suggestion,
  editor: vscode.TextEditor,
  cursor: vscode.Position,
): Promise<void> {
  let edit: vscode.WorkspaceEdit;
  if (s.edit !== undefined) {
    edit = await c.protocol2CodeConverter.asWorkspaceEdit(s.edit);
  } else {
    // No edit from the server: replace the `sorry` under the cursor, or insert at the cursor.
    const word = editor.document.getWordRangeAtPosition(cursor);
    const range = word !== undefined && editor.document.getText(word) === "sorry" ? word : new vscode.Range(cursor, cursor);
    edit = new vscode.WorkspaceEdit();
    edit.replace(editor.document.uri, range, s.text);
  }
  if (!(await vscode.workspace.applyEdit(edit))) {
    void vscode.window.showErrorMessage("leanfd: VS Code refused the edit (the file may have changed); ask again.");
  }
}

function isCancelled(e: unknown): boolean {
  // -32800: LSP RequestCancelled.
  return typeof e === "object" && e !== null && (e as { code?: unknown }).code === -32800;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
