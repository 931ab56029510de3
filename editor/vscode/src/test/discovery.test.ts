import { strict as assert } from "node:assert";
import { test } from "node:test";
import { Lookup, resolveServer } from "../discovery";

/** A lookup over a fake file system: `files` exist, `pythons` can import leanfd. */
function lookup(
  files: string[],
  extra: Partial<Omit<Lookup, "selectedPython">> & { python?: string } = {},
  pythons: string[] = [],
): Lookup {
  const { python, ...rest } = extra;
  return {
    serverPath: undefined,
    workspaceFolders: ["/ws"],
    platform: "linux",
    pathEnv: "/usr/local/bin:/usr/bin",
    selectedPython: () => Promise.resolve(python),
    isFile: (p) => files.includes(p),
    hasLeanfd: (p) => Promise.resolve(pythons.includes(p)),
    ...rest,
  };
}

async function command(l: Lookup): Promise<[string, string[], string]> {
  const r = await resolveServer(l);
  assert.ok(r.ok, r.ok ? "" : r.message);
  return [r.server.command, r.server.args, r.server.source];
}

async function found(l: Lookup): Promise<string> {
  return (await command(l))[0];
}

test("the setting wins over everything else", async () => {
  const files = ["/opt/leanfd/bin/leanfd", "/ws/.venv/bin/leanfd", "/usr/bin/leanfd"];
  assert.deepEqual(await command(lookup(files, { serverPath: " /opt/leanfd/bin/leanfd " })), [
    "/opt/leanfd/bin/leanfd",
    [],
    "leanfd.serverPath",
  ]);
  // Relative to the first workspace folder, or with ${workspaceFolder}.
  assert.equal(await found(lookup(files, { serverPath: ".venv/bin/leanfd" })), "/ws/.venv/bin/leanfd");
  assert.equal(await found(lookup(files, { serverPath: "${workspaceFolder}/.venv/bin/leanfd" })), "/ws/.venv/bin/leanfd");
  // A bare name is looked up on PATH.
  assert.equal(await found(lookup(files, { serverPath: "leanfd" })), "/usr/bin/leanfd");
});

test("a setting that points nowhere is an error naming the setting, not a fallback", async () => {
  for (const serverPath of ["/nope/leanfd", "nope"]) {
    const r = await resolveServer(lookup(["/ws/.venv/bin/leanfd"], { serverPath }));
    assert.ok(!r.ok);
    assert.match(r.message, /leanfd\.serverPath is "nope|leanfd\.serverPath is "\/nope/);
  }
});

test("the workspace's .venv, then venv, before the Python extension and PATH", async () => {
  const all = ["/ws/.venv/bin/leanfd", "/ws/venv/bin/leanfd", "/usr/bin/leanfd"];
  assert.deepEqual(await command(lookup(all, { python: "/py/bin/python" }, ["/py/bin/python"])), [
    "/ws/.venv/bin/leanfd",
    [],
    "the workspace's .venv",
  ]);
  assert.equal(await found(lookup(all.slice(1))), "/ws/venv/bin/leanfd");
  // Every folder of a multi-root workspace is looked at.
  assert.equal(await found(lookup(["/b/.venv/bin/leanfd"], { workspaceFolders: ["/a", "/b"] })), "/b/.venv/bin/leanfd");
});

test("the Python extension is not asked (and activated) when the setting or a virtual environment answers", async () => {
  let asked = 0;
  const counting = (l: Lookup): Lookup => ({ ...l, selectedPython: () => ((asked += 1), Promise.resolve(undefined)) });
  await found(counting(lookup(["/ws/.venv/bin/leanfd"])));
  await found(counting(lookup(["/x/leanfd"], { serverPath: "/x/leanfd" })));
  assert.equal(asked, 0);
  await found(counting(lookup(["/usr/bin/leanfd"])));
  assert.equal(asked, 1);
});

test("the selected interpreter runs `python -m leanfd` when it has leanfd", async () => {
  const l = lookup(["/usr/bin/leanfd"], { python: "/py/bin/python" }, ["/py/bin/python"]);
  assert.deepEqual(await command(l), ["/py/bin/python", ["-m", "leanfd"], "the Python extension's interpreter"]);
  // Without leanfd it is skipped: PATH next.
  assert.equal(await found(lookup(["/usr/bin/leanfd"], { python: "/py/bin/python" })), "/usr/bin/leanfd");
});

test("PATH in order, empty entries skipped", async () => {
  const l = lookup(["/usr/bin/leanfd", "/home/u/.local/bin/leanfd"], { pathEnv: "::/home/u/.local/bin:/usr/bin" });
  assert.deepEqual(await command(l), ["/home/u/.local/bin/leanfd", [], "PATH"]);
});

test("Windows: Scripts\\leanfd.exe and PATH with ';'", async () => {
  const win = { platform: "win32" as const, workspaceFolders: ["C:\\ws"], pathEnv: "C:\\Python\\Scripts;C:\\bin" };
  assert.equal(await found(lookup(["C:\\ws\\.venv\\Scripts\\leanfd.exe"], win)), "C:\\ws\\.venv\\Scripts\\leanfd.exe");
  assert.equal(await found(lookup(["C:\\bin\\leanfd.exe"], win)), "C:\\bin\\leanfd.exe");
  assert.equal(await found(lookup(["C:\\bin\\leanfd.exe"], { ...win, serverPath: "leanfd" })), "C:\\bin\\leanfd.exe");
});

test("nothing found: one message saying where it looked and how to fix it", async () => {
  const r = await resolveServer(lookup([], { python: "/py/bin/python" }));
  assert.ok(!r.ok);
  assert.match(r.message, /cannot find the leanfd server/);
  assert.match(r.message, /\/py\/bin\/python/);
  assert.match(r.message, /pip install 'leanfd\[lsp\]'/);
  assert.match(r.message, /leanfd\.serverPath/);
  const none = await resolveServer(lookup([], { workspaceFolders: [] }));
  assert.ok(!none.ok);
  assert.match(none.message, /no workspace folder is open; no Python interpreter is selected/);
});
