# One-command set-up on a fresh machine: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: demo demo-long test test-all bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# The CPU wheel of torch 2.13.0 on disk; any other version would download gigabytes.
	$(PIP) install -q torch==2.13.0
	# kenlm (a test peer of the perplexity filter's models) builds from source; its CMakeLists predates CMake 4.
	CMAKE_POLICY_VERSION_MINIMUM=3.5 $(PIP) install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/axk1 demo -o out

# Context extension shown: passkey heat-maps before and after a YaRN stage (6-8 minutes on 2 cores; README).
demo-long: $(STAMP)
	$(VENV)/bin/axk1 demo-long -o out/long-context

# One pytest-xdist worker per logical CPU (at most 4: the torchrun tests start two ranks each), a test file per
# worker so that a file's module fixtures are built once. A worker that crashes ends the run at once, its test named
# (--max-worker-restart 0): replaced under --dist loadfile, xdist 3.8 can wait for ever on work it re-queued.
TEST_WORKERS ?= logical
test: $(STAMP)
	$(PY) -m pytest -q -m "not slow" -n $(TEST_WORKERS) --maxprocesses 4 --dist loadfile --max-worker-restart 0

test-all: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/bench_model.py

clean:
	rm -rf $(VENV) out .pytest_cache
