# make demo: venv + install from the lock + train and evaluate the embedded demo (CPU, no download)
# make test: venv + install from the lock + the fast test suite
# make lock: re-resolve requirements.txt from pyproject.toml (pip-tools' pip-compile)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-fakeguard
LOCK := requirements.txt
# pip-compile resolves through pip, so torch comes from the machine's local copy.
COMPILE = $(VENV)/bin/pip-compile --quiet --strip-extras --all-extras \
	--constraint constraints.txt --no-emit-index-url --no-emit-find-links

.PHONY: install demo test test-slow lint lock lock-check format clean

# Exactly the locked set, then fakeguard itself without touching it.
$(STAMP): $(LOCK) pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -r $(LOCK)
	$(PY) -m pip install --no-deps -e .
	$(PY) -m pip check
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) train.py
	$(PY) evaluate.py ckpt_path=$$(ls -t logs/train/runs/*/checkpoints/best.ckpt | head -n 1)

test: $(STAMP)
	$(PY) -m pytest

test-slow: $(STAMP)
	$(PY) -m pytest -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Keeps every pin that still satisfies pyproject.toml; `make lock UPGRADE=1` takes the newest.
lock: $(STAMP)
	$(COMPILE) $(if $(UPGRADE),--upgrade) --output-file $(LOCK) pyproject.toml

# Fails when pyproject.toml asks for something the lock does not hold (or no longer needs).
lock-check: $(STAMP)
	cp $(LOCK) $(VENV)/lock-check.txt
	$(COMPILE) --output-file $(VENV)/lock-check.txt pyproject.toml
	diff -u -I '^#' $(LOCK) $(VENV)/lock-check.txt || \
		(echo "error: $(LOCK) is out of date with pyproject.toml: run make lock" >&2; exit 1)

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf logs .pytest_cache .ruff_cache
