/**
 * Which `leanfd` to start, found the way the Python extension finds an interpreter: the
 * `leanfd.serverPath` setting; else the workspace's virtual environment (`.venv`, `venv`); else
 * the interpreter selected in the Python extension, as `python -m leanfd`; else `leanfd` on PATH.
 * The extension host's PATH is often not the terminal's (code-server, a desktop launcher), so a
 * plain `spawn leanfd` fails with ENOENT where the user's shell finds it.
 *
 * Pure: no `vscode` import and no file system access of its own (the caller passes `isFile` and
 * `hasLeanfd`), so it is unit-tested under plain Node for POSIX and Windows alike.
 */
import * as path from "node:path";

export interface Lookup {
  /** `leanfd.serverPath`; blank: unset. May use `${workspaceFolder}`; a relative path is taken from the first folder. */
  serverPath: string | undefined;
  /** The workspace folders' file system paths, first folder first. */
  workspaceFolders: readonly string[];
  platform: NodeJS.Platform;
  /** The extension host's PATH. */
  pathEnv: string | undefined;
  /** The interpreter selected in the Python extension, when it is installed and has one (asked only
   * when no setting or virtual environment answers: it activates that extension). */
  selectedPython: () => Promise<string | undefined>;
  /** Whether `path` is an existing (executable) file. */
  isFile: (path: string) => boolean;
  /** Whether `python` can import leanfd. */
  hasLeanfd: (python: string) => Promise<boolean>;
}

/** A command to start the server with, and where it was found (for the output channel). */
export interface ServerCommand {
  command: string;
  /** Arguments before `lsp`. */
  args: string[];
  source: string;
}

export type Resolution = { ok: true; server: ServerCommand } | { ok: false; message: string };

const VENVS = [".venv", "venv"];
const INSTALL_HINT = "install it (pip install 'leanfd[lsp]') or set leanfd.serverPath to its path";

export async function resolveServer(lookup: Lookup): Promise<Resolution> {
  const p = lookup.platform === "win32" ? path.win32 : path.posix;
  const exe = lookup.platform === "win32" ? "leanfd.exe" : "leanfd";
  const first = lookup.workspaceFolders[0];

  const setting = lookup.serverPath?.trim();
  if (setting) {
    const expanded = first === undefined ? setting : setting.replaceAll("${workspaceFolder}", first);
    if (!expanded.includes("/") && !expanded.includes("\\")) {
      const found = onPath(expanded, lookup, p);
      return found !== undefined
        ? { ok: true, server: { command: found, args: [], source: `leanfd.serverPath (${expanded} on PATH)` } }
        : { ok: false, message: `leanfd.serverPath is "${setting}", which is not on PATH; set it to the full path of leanfd` };
    }
    const full = p.isAbsolute(expanded) || first === undefined ? expanded : p.resolve(first, expanded);
    return lookup.isFile(full)
      ? { ok: true, server: { command: full, args: [], source: "leanfd.serverPath" } }
      : { ok: false, message: `leanfd.serverPath is "${setting}", but ${full} does not exist; ${INSTALL_HINT}` };
  }

  for (const folder of lookup.workspaceFolders) {
    for (const venv of VENVS) {
      const candidate =
        lookup.platform === "win32" ? p.join(folder, venv, "Scripts", exe) : p.join(folder, venv, "bin", exe);
      if (lookup.isFile(candidate)) {
        return { ok: true, server: { command: candidate, args: [], source: `the workspace's ${venv}` } };
      }
    }
  }

  const python = (await lookup.selectedPython())?.trim();
  if (python && (await lookup.hasLeanfd(python))) {
    return { ok: true, server: { command: python, args: ["-m", "leanfd"], source: "the Python extension's interpreter" } };
  }

  const found = onPath(exe, lookup, p);
  if (found !== undefined) {
    return { ok: true, server: { command: found, args: [], source: "PATH" } };
  }

  const looked = [
    "leanfd.serverPath is not set",
    lookup.workspaceFolders.length > 0 ? `no ${VENVS.join(" or ")} in the workspace has leanfd` : "no workspace folder is open",
    python ? `the selected Python (${python}) cannot import leanfd` : "no Python interpreter is selected",
    "leanfd is not on PATH",
  ];
  return { ok: false, message: `cannot find the leanfd server (${looked.join("; ")}): ${INSTALL_HINT}` };
}

function onPath(name: string, lookup: Lookup, p: typeof path.posix): string | undefined {
  const win = lookup.platform === "win32";
  const names = win && p.extname(name) === "" ? [`${name}.exe`, name] : [name];
  for (const dir of (lookup.pathEnv ?? "").split(win ? ";" : ":")) {
    for (const n of dir === "" ? [] : names) {
      if (lookup.isFile(p.join(dir, n))) {
        return p.join(dir, n);
      }
    }
  }
  return undefined;
}
