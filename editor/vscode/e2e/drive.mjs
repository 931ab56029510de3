// Drives code-server in headless Chromium through the extension's paths: open a Lean file, put the
// cursor on `sorry`, and three times (the palette's "leanfd: Suggest next tactic", the code actions
// behind Ctrl+., the palette's "leanfd: Prove theorem") check that the verified candidate
// `Eq.refl n` is offered and the unverified `Eq.refl N.zero` is not, pick it, and check that the
// file now holds it; undo between the three.
//
// Environment (set by run.sh): E2E_URL (code-server, folder opened), E2E_FILE (the .lean file on
// disk), E2E_SHOTS (screenshot folder), E2E_MODULES (node_modules holding playwright-core),
// E2E_CHROMIUM (browser binary), E2E_SUGGEST_TIMEOUT_S (seconds to wait for suggestions).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`drive.mjs: ${name} is not set (run it through run.sh)`);
  return value;
};
const url = env("E2E_URL");
const file = env("E2E_FILE");
const shots = env("E2E_SHOTS");
const suggestTimeout = 1000 * Number(process.env.E2E_SUGGEST_TIMEOUT_S ?? "180");
const { chromium } = createRequire(path.join(env("E2E_MODULES"), "noop.js"))("playwright-core");

const started = Date.now();
const log = (msg) => console.log(`[e2e +${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
const saved = [];

async function shot(page, name) {
  const p = path.join(shots, `${name}.png`);
  await page.screenshot({ path: p });
  saved.push(p);
  log(`screenshot ${p}`);
}

/** Run a command by its palette title. */
async function palette(page, title) {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget .quick-input-box input");
  await input.waitFor({ state: "visible", timeout: 10_000 });
  await input.fill(`>${title}`);
  const row = page.locator(".quick-input-widget .monaco-list-row", { hasText: title }).first();
  await row.waitFor({ state: "visible", timeout: 15_000 });
  await page.keyboard.press("Enter");
}

/** Line and column (both 1-based, as "Go to Line" takes them) of the middle of the first `sorry`. */
function sorryPosition(text) {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const col = lines[i].search(/\bsorry\b/); // not the prelude's `sorryAx`
    if (col >= 0) return { line: i + 1, column: col + 3 };
  }
  throw new Error(`no sorry in ${file}`);
}

const quickInput = (page) => page.locator(".quick-input-widget .quick-input-box input");
const editorLines = (page) => page.locator(".monaco-editor .view-lines").first();

/** The editor's visible text (the file is short enough to be all visible). */
async function editorText(page) {
  return (await editorLines(page).innerText()).replace(/\u00a0/g, " ");
}

async function waitForEditorText(page, predicate, what) {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (predicate(await editorText(page))) return;
    await page.waitForTimeout(200);
  }
  throw new Error(`the editor never showed ${what}:\n${await editorText(page)}`);
}

/** Put the cursor in the middle of the `sorry` of the buffer (saved to disk first). */
async function gotoSorry(page) {
  await page.keyboard.press("Control+S");
  await page.waitForTimeout(500);
  const { line, column } = sorryPosition(readFileSync(file, "utf8"));
  await editorLines(page).click();
  await page.keyboard.press("Control+G");
  await quickInput(page).waitFor({ state: "visible", timeout: 10_000 });
  await quickInput(page).fill(`:${line}:${column}`);
  await page.keyboard.press("Enter");
  await quickInput(page).waitFor({ state: "hidden", timeout: 10_000 });
  log(`cursor at ${line}:${column}`);
}

async function undoToSorry(page) {
  await editorLines(page).click();
  await page.keyboard.press("Control+Z");
  await waitForEditorText(page, (t) => t.includes(":= sorry"), "`:= sorry` after undo");
  await gotoSorry(page);
}

/** Wait for our QuickPick, check what it offers, pick `Eq.refl n`. */
async function pickVerified(page, shotName) {
  const rows = page.locator(".quick-input-widget .monaco-list-row");
  const good = rows.filter({ hasText: "Eq.refl n" }).first();
  // Either the suggestions come, or a leanfd error toast does: fail fast with its text. (Not any
  // toast: the search's progress notification is one too.)
  const toast = page
    .locator(".notifications-toasts .notification-toast", { hasText: "leanfd", has: page.locator(".codicon-error") })
    .first();
  await Promise.race([
    good.waitFor({ state: "visible", timeout: suggestTimeout }),
    toast.waitFor({ state: "visible", timeout: suggestTimeout }).then(async () => {
      if (!(await good.isVisible())) throw new Error(`leanfd said: ${await toast.innerText()}`);
    }),
  ]);
  const offered = await rows.allInnerTexts();
  log(`offered: ${JSON.stringify(offered)}`);
  await shot(page, shotName);
  if (offered.some((t) => t.includes("Eq.refl N.zero"))) {
    throw new Error("the unverified candidate `Eq.refl N.zero` was offered");
  }
  await good.click();
  log("picked Eq.refl n");
}

/**
 * Open the code action menu (Ctrl+.) at the cursor and run the entry starting with `title`; when it
 * is not there, close the menu and reopen it until `timeout` ms have passed.
 */
async function codeAction(page, title, shotName, timeout = 15_000) {
  const rows = page.locator(".action-widget .monaco-list-row");
  const entry = rows.filter({ hasText: title }).first();
  const deadline = Date.now() + timeout;
  for (;;) {
    await page.keyboard.press("Control+.");
    try {
      await entry.waitFor({ state: "visible", timeout: 3_000 });
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await page.keyboard.press("Escape");
      await page.waitForTimeout(500);
    }
  }
  const offered = await rows.allInnerTexts();
  log(`code actions: ${JSON.stringify(offered)}`);
  if (shotName) await shot(page, shotName);
  if (offered.some((t) => t.includes("Eq.refl N.zero"))) {
    throw new Error("the unverified candidate `Eq.refl N.zero` was offered as a code action");
  }
  await entry.click();
  log(`ran code action ${title}`);
}

/** The buffer and, once saved, the file on disk prove `t` with `Eq.refl n` and hold no `sorry`. */
async function expectProved(page, shotName) {
  await waitForEditorText(page, (t) => t.includes(":= Eq.refl n"), "`:= Eq.refl n`");
  await page.keyboard.press("Control+S");
  const deadline = Date.now() + 10_000;
  let onDisk = readFileSync(file, "utf8");
  while (Date.now() < deadline && !onDisk.includes(":= Eq.refl n")) {
    await page.waitForTimeout(200);
    onDisk = readFileSync(file, "utf8");
  }
  await shot(page, shotName);
  if (!onDisk.includes(":= Eq.refl n")) {
    throw new Error(`the file on disk does not hold ":= Eq.refl n":\n${onDisk}`);
  }
  if (/\bsorry\b/.test(onDisk)) {
    throw new Error(`the file on disk still holds sorry:\n${onDisk}`);
  }
  log(`the file now ends with: ${onDisk.trimEnd().split("\n").pop()}`);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: env("E2E_CHROMIUM"),
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 850 } });
  page.on("pageerror", (e) => log(`page error: ${e.message}`));
  try {
    log(`open ${url}`);
    await page.goto(url);
    await page.locator(".monaco-workbench").waitFor({ state: "visible", timeout: 120_000 });
    log("workbench is up");

    // Open the file through Quick Open, then wait for its editor tab.
    const name = path.basename(file);
    await page.locator(".monaco-workbench").click({ position: { x: 700, y: 400 } });
    await page.keyboard.press("Control+P");
    const input = quickInput(page);
    await input.waitFor({ state: "visible", timeout: 10_000 });
    await input.fill(name);
    await page.locator(".quick-input-widget .monaco-list-row", { hasText: name }).first().waitFor({ timeout: 30_000 });
    await page.keyboard.press("Enter");
    await page.locator(".tabs-container .tab", { hasText: name }).waitFor({ timeout: 30_000 });
    await editorLines(page).waitFor({ timeout: 30_000 });
    log(`${name} is open`);

    // The server is up when our status bar item shows (the extension activates on lean4 files).
    const status = page.locator(".statusbar-item", { hasText: "leanfd" }).first();
    await status.waitFor({ state: "visible", timeout: 60_000 });
    log(`status bar: ${await status.getAttribute("aria-label")}`);

    // 1. The palette: "leanfd: Suggest next tactic" at the `sorry`, pick from the QuickPick.
    await gotoSorry(page);
    await shot(page, "1-file-open");
    await palette(page, "leanfd: Suggest next tactic");
    log("ran leanfd: Suggest next tactic");
    await pickVerified(page, "2-suggestions");
    await expectProved(page, "3-applied");
    log(`status bar: ${await status.getAttribute("aria-label")}`);

    // 2. The code actions (Ctrl+.) at a fresh `sorry`: the server offers a search, whose results
    // then come back as code actions that carry their edit.
    await undoToSorry(page);
    await codeAction(page, "leanfd: search for a verified next step");
    // The menu does not refresh by itself: reopen it until the search's results are in.
    await codeAction(page, "leanfd: Eq.refl n", "4-code-actions", suggestTimeout);
    await expectProved(page, "5-code-action-applied");

    // 3. "leanfd: Prove theorem": a whole proof after `:=`.
    await undoToSorry(page);
    await palette(page, "leanfd: Prove theorem");
    log("ran leanfd: Prove theorem");
    await pickVerified(page, "6-proofs");
    await expectProved(page, "7-proof-applied");
    log(`status bar: ${await status.getAttribute("aria-label")}`);
    log("PASS");
  } catch (e) {
    await shot(page, "failure").catch(() => undefined);
    throw e;
  } finally {
    await browser.close();
    console.log(`screenshots:\n${saved.map((p) => `  ${p}`).join("\n")}`);
  }
}

main().catch((e) => {
  console.error(`[e2e] FAIL: ${e instanceof Error ? e.stack : e}`);
  process.exit(1);
});
