# Two commands do all set-up on a fresh Debian machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench dist system-deps venv clean

system-deps:
	bash build/system_deps.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: system-deps $(STAMP)

run: venv
	$(VENV)/bin/genre-desktop

lint: venv
	$(VENV)/bin/ruff check .

test: venv
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

bench: venv
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

dist: venv
	$(VENV)/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller-work installer.spec

clean:
	rm -rf $(VENV) dist build/pyinstaller-work .pytest_cache .ruff_cache
