/**
 * The settings the extension passes to `leanfd lsp`: the same object goes out as
 * `initializationOptions.leanfd` at start-up and answers `workspace/configuration` for the
 * section "leanfd" afterwards, so the server sees one shape whichever way it asks.
 *
 * Pure: no `vscode` import, so it is unit-tested under plain Node.
 */

/** The settings the server reads (leanfd/lsp/settings.py, camelCase), named as in `package.json`. */
export const SERVER_KEYS = [
  "backend",
  "model",
  "baseUrl",
  "samples",
  "timeout",
  "maxTokens",
  "temperature",
  "lean",
  "leanJobs",
  "inlineTimeout",
  "maxFileChars",
] as const;

export type ServerKey = (typeof SERVER_KEYS)[number];
export type ServerSettings = Partial<Record<ServerKey, string | number>>;

/**
 * The server's settings from a getter over the "leanfd" section. Unset values (null, undefined,
 * blank strings) are left out, so that the server's own defaults apply; client-only settings
 * (`serverPath`, `serverArgs`, `trace`) are never sent.
 */
export function serverSettings(get: (key: ServerKey) => unknown): ServerSettings {
  const out: ServerSettings = {};
  for (const key of SERVER_KEYS) {
    const value = get(key);
    if (typeof value === "string" && value.trim() !== "") {
      out[key] = value.trim();
    } else if (typeof value === "number" && Number.isFinite(value)) {
      out[key] = value;
    }
  }
  return out;
}

/** Settings whose change needs a new server process rather than `didChangeConfiguration`. */
export const RESTART_KEYS = ["serverPath", "serverArgs"] as const;
