# Two commands do all set-up on a fresh machine: `make test` and `make demo`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch first and pinned: a bare `torch` requirement pulls a CUDA build of several GB on a CPU machine.
TORCH ?= torch==2.13.0

.PHONY: test demo venv lint e2e clean experiment experiment-quick

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

test: venv
	$(PY) -m pytest -q -p no:cacheprovider

# The main job in small (issue 14), on a CPU with the bundled Lean: a tiny prover's warm start (SFT on the
# toy family's train split, taught to read FD's feedback; committed in lean_project/toy/warm_start and
# reused, made again by lean_project/toy/warm_start.py only when its options change), 16 FD steps through
# `leanfd train` with the hint critic (lean_project/toy/hint_critic.py, an OpenAI-compatible server on
# loopback) writing the teacher's feedback, `leanfd prove` of the warm start and of the trained model on
# two problems of each train shape (k = 8), and `leanfd report` of the two pass@k curves.
# docs/fd_small.md says what it shows, measured.
DEMO_WARM = lean_project/toy/warm_start
DEMO_PROVE = --dataset lean_project/toy/family.jsonl --split train --names '_[01]$$' -k 8 --max-tokens 64 \
	--top-p 1.0 --verifier-backend snapshot --lean bundled
DEMO_CRITIC = --feedback llm --critic openai --critic-model {model} --critic-base-url {url}
demo: venv
	@echo "== leanfd doctor: which Lean and backends are found"
	$(VENV)/bin/leanfd doctor
	@echo "== leanfd check: the toy benchmark's attempts (12 right, 3 wrong) with the bundled Lean"
	$(VENV)/bin/leanfd check lean_project/toy/attempts.jsonl --out runs/demo/verdicts.jsonl --overwrite || echo "(exit code 1: not every attempt is proved, as expected)"
	@echo "== leanfd feedback: compiler feedback on the failed attempts"
	$(VENV)/bin/leanfd feedback runs/demo/verdicts.jsonl --out runs/demo/feedback.jsonl --overwrite
	@echo "== warm start: a 3M-parameter prover taught the toy family's train split (lean_project/toy/warm_start.py)"
	$(PY) lean_project/toy/warm_start.py --out $(DEMO_WARM) --reuse
	@echo "== leanfd train: 16 steps of Feedback Distillation, the teacher reading the hint critic's feedback"
	rm -rf runs/demo/fd
	$(PY) lean_project/toy/hint_critic.py -- $(VENV)/bin/leanfd train --config lean_project/toy/train-cpu.yaml \
		--model $(DEMO_WARM) --max-steps 16 --output-dir runs/demo/fd $(DEMO_CRITIC)
	@echo "== leanfd prove: warm start and FD model on 46 theorems of the train shapes, k = 8"
	$(VENV)/bin/leanfd prove $(DEMO_PROVE) --model $(DEMO_WARM) --out runs/demo/warm_start --overwrite || [ $$? -eq 1 ]
	$(VENV)/bin/leanfd prove $(DEMO_PROVE) --model runs/demo/fd/final --out runs/demo/fd_16_steps --overwrite || [ $$? -eq 1 ]
	@echo "== leanfd report: the two pass@k curves"
	$(VENV)/bin/leanfd report runs/demo/warm_start runs/demo/fd_16_steps --plot runs/demo/pass_at_k.png
	@echo "outputs in runs/demo/: verdicts.jsonl, feedback.jsonl, fd/metrics.jsonl, */summary.json, pass_at_k.png"

# FD vs GRPO vs FD then GRPO from one warm start, 3 seeds (bench/fd_small/run.py; not part of `make test`).
experiment: venv
	$(PY) bench/fd_small/run.py
experiment-quick: venv
	$(PY) bench/fd_small/run.py --quick

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
