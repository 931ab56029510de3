/**
 * The status bar item's look for each state the server reports with the `leanfd/status`
 * notification (`{"state": "busy" | "ready" | "error", "message": string}`).
 *
 * Pure: no `vscode` import, so it is unit-tested under plain Node.
 */

export const STATUS_NOTIFICATION = "leanfd/status";

export type ServerState = "starting" | "busy" | "ready" | "error" | "stopped";

export interface StatusView {
  text: string;
  tooltip: string;
}

const ICONS: Record<ServerState, string> = {
  starting: "$(sync~spin)",
  busy: "$(sync~spin)",
  ready: "$(check)",
  error: "$(error)",
  stopped: "$(error)",
};

const DEFAULT_TOOLTIPS: Record<ServerState, string> = {
  starting: "leanfd: starting the server",
  busy: "leanfd: working",
  ready: "leanfd: ready",
  error: "leanfd: error",
  stopped: "leanfd: the server stopped (run \"leanfd: Restart server\")",
};

export function statusView(state: ServerState, message?: string): StatusView {
  const tooltip = message !== undefined && message.trim() !== "" ? message : DEFAULT_TOOLTIPS[state];
  return { text: `${ICONS[state]} leanfd`, tooltip };
}

/** The notification's params, or undefined when they are not the documented shape. */
export function parseStatus(params: unknown): { state: "busy" | "ready" | "error"; message: string } | undefined {
  if (typeof params !== "object" || params === null) {
    return undefined;
  }
  const { state, message } = params as { state?: unknown; message?: unknown };
  if (state !== "busy" && state !== "ready" && state !== "error") {
    return undefined;
  }
  return { state, message: typeof message === "string" ? message : "" };
}
