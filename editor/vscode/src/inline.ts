/**
 * A fix for vscode-languageclient 9.0.1's inline completion requests: its converter
 * (`codeConverter.asInlineCompletionParams`) copies VS Code's `InlineCompletionTriggerKind`
 * (Invoke = 0, Automatic = 1) into the request unchanged, but LSP 3.18 numbers them Invoked = 1,
 * Automatic = 2, and a strict server (pygls/lsprotocol, as `leanfd lsp`) rejects 0 as invalid
 * params. The middleware hands the client the protocol number instead.
 *
 * Pure: no `vscode` import, so it is unit-tested under plain Node.
 */

/** VS Code's trigger kind (0 Invoke, 1 Automatic) as LSP 3.18's (1 Invoked, 2 Automatic). */
export function protocolInlineTriggerKind(vscodeKind: number): 1 | 2 {
  return vscodeKind === 0 ? 1 : 2;
}
