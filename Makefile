# Two commands do all set-up on a fresh machine: `make test` and `make demo`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch first and pinned: a bare `torch` requirement pulls a CUDA build of several GB on a CPU machine.
TORCH ?= torch==2.13.0

.PHONY: test demo venv lint e2e clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

test: venv
	$(PY) -m pytest -q -p no:cacheprovider

demo: venv
	@echo "== leanfd doctor: which Lean and backends are found"
	$(VENV)/bin/leanfd doctor
	@echo "== leanfd check: the toy benchmark's attempts (12 right, 3 wrong) with the bundled Lean"
	$(VENV)/bin/leanfd check lean_project/toy/attempts.jsonl --out runs/demo/verdicts.jsonl --overwrite || echo "(exit code 1: not every attempt is proved, as expected)"
	@echo "== leanfd feedback: compiler feedback on the failed attempts"
	$(VENV)/bin/leanfd feedback runs/demo/verdicts.jsonl --out runs/demo/feedback.jsonl --overwrite
	@echo "== leanfd prove --proofs: pass@k of those attempts on the toy benchmark"
	$(VENV)/bin/leanfd prove --dataset lean_project/toy/toy.jsonl --proofs lean_project/toy/attempts.jsonl --out runs/demo/prove --overwrite
	@echo "outputs in runs/demo/: verdicts.jsonl, feedback.jsonl, prove/summary.json, prove/pass_at_k.png"

lint: venv
	$(VENV)/bin/ruff check leanfd tests bench

clean:
	rm -rf $(VENV) runs .pytest_cache

# The VS Code extension (editor/vscode): `npm ci` when its lock is newer than node_modules, then
# editor/vscode/leanfd-<version>.vsix (vsce compiles first).
.PHONY: vsix
vsix:
	cd editor/vscode && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } \
		&& npm run package

# The extension in a real VS Code: code-server + headless Chromium (editor/vscode/e2e/run.sh). Not part
# of `make test`: the first run installs about 830 MB into .e2e/ and needs Debian's chromium.
e2e: venv vsix
	editor/vscode/e2e/run.sh
