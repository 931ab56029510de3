"""The README's commands, run as written (issue 24.7).

A fenced shell block right after a `<!-- runnable -->` line runs as it is, with `bash -e`, in order
(a block may use what an earlier one wrote), in a copy of the repository's files it needs, with the
bundled Lean, on a CPU and offline. A README command that fails is a failing test. The other shell
blocks (a GPU, Mathlib, a hosted model, the network) are listed as skipped. The shipped configs
load and name data the README says how to get."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO

MARKER = "<!-- runnable -->"
SHELLS = ("bash", "sh", "shell")
# What the runnable blocks read: copied, so that what they write stays in the temporary copy.
NEEDED = ("lean_project/toy", "configs")
BLOCK = re.compile(r"^(?P<marker><!-- runnable -->\n)?```(?P<lang>[a-z]*)\n(?P<body>.*?)^```$", re.M | re.S)


def shell_blocks(text: str) -> list[tuple[bool, str, int]]:
    """(runnable, body, line) of every fenced shell block, in order."""
    return [(bool(m["marker"]), m["body"], text.count("\n", 0, m.start("body")) + 1)
            for m in BLOCK.finditer(text) if m["lang"] in SHELLS]


def test_markers_stand_before_a_shell_block():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    runnable = [b for b in shell_blocks(text) if b[0]]
    markers = sum(line == MARKER for line in text.splitlines())
    assert len(runnable) == markers >= 5  # no marker before prose or another language


def test_readme_runnable_blocks_run_in_order(tmp_path):
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = shell_blocks(text)
    for rel in NEEDED:
        shutil.copytree(REPO / rel, tmp_path / rel)
    env = {**os.environ, "LEANFD_LEAN": "bundled", "HF_HUB_OFFLINE": "1", "COLUMNS": "100",
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    skipped = [line for runnable, _, line in blocks if not runnable]
    print(f"README: {len(blocks) - len(skipped)} runnable shell blocks; {len(skipped)} skipped (GPU, Mathlib, "
          f"a model or the network), at lines {skipped}")
    for runnable, body, line in blocks:
        if not runnable:
            continue
        start = time.monotonic()
        res = subprocess.run(["bash", "-e", "-c", body], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=180)
        assert res.returncode == 0, f"README.md:{line}: exit {res.returncode}\n{body}\n{res.stdout[-3000:]}" \
                                    f"\n{res.stderr[-3000:]}"
        assert "Traceback" not in res.stderr, f"README.md:{line}\n{res.stderr[-3000:]}"
        print(f"README.md:{line}: exit 0 in {time.monotonic() - start:.0f} s")
    assert (tmp_path / "feedback.jsonl").is_file() and (tmp_path / "pass_at_k.png").is_file()


@pytest.mark.parametrize("config", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_config_loads_and_the_readme_says_how_to_get_its_data(config):
    from leanfd.config import load
    from leanfd.train.config import TrainConfig

    c = load(TrainConfig, config)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    data = Path(c.dataset)
    if (REPO / data).exists():
        return
    # not in the repository: the README gives the command that writes it, and the config says it too
    command = next((line for line in readme.splitlines() if "--local-dir " + str(data.parent) in line
                    and data.name in line), None)
    assert command is not None, f"{config.name}: dataset {c.dataset} is neither here nor explained in README.md"
    assert command.split("#")[0].strip() in config.read_text(encoding="utf-8")
