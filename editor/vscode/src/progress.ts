/**
 * The server's work-done progress (`$/progress` under the token the extension sends with a
 * command) as steps of a VS Code progress notification. vscode-languageclient shows server
 * progress in the status bar only; the extension shows its own notification, with a Cancel
 * button that cancels the request (`$/cancelRequest`), and feeds it the server's reports.
 *
 * Pure: no `vscode` import, so it is unit-tested under plain Node.
 */

/** The `value` of a `$/progress` notification: begin, report or end (LSP WorkDoneProgress*). */
export interface ProgressValue {
  kind: "begin" | "report" | "end";
  message?: string;
  percentage?: number;
}

/** One `progress.report` argument: VS Code takes increments, LSP sends absolute percentages. */
export interface ProgressStep {
  message?: string;
  increment?: number;
}

/** Turns absolute percentages into increments; `step` gives undefined when there is nothing to show. */
export class ProgressSteps {
  private done = 0;

  step(value: ProgressValue): ProgressStep | undefined {
    if (value.kind === "end") {
      return undefined;
    }
    const out: ProgressStep = {};
    if (value.message !== undefined && value.message !== "") {
      out.message = value.message;
    }
    if (value.percentage !== undefined && Number.isFinite(value.percentage)) {
      const now = Math.min(100, Math.max(this.done, value.percentage));
      if (now > this.done) {
        out.increment = now - this.done;
        this.done = now;
      }
    }
    return out.message !== undefined || out.increment !== undefined ? out : undefined;
  }
}
