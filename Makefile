# Two commands do all set-up on a fresh Debian machine: `make run` and `make test`.
# System packages come from build/system_deps.sh (apt-get as root, else it prints the command).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
ARGS ?=

.PHONY: run test lint bench dist system-deps venv clean

system-deps:
	bash build/system_deps.sh

# Re-installs when the dependencies change; the editable install picks up code changes itself.
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	# musicnn only for its tagger weights (read by core/tagger): its metadata pins TensorFlow
	# and numpy < 1.17, so it is installed without dependencies.
	$(PY) -m pip install -q --no-deps musicnn==0.1.0
	# Compile librosa's numba kernels into the user cache now, not during the first song
	# (~30 s on a first run otherwise; see core/numba_setup.py).
	$(PY) -c "import numpy; from genre_desktop.core.features import features_from_signal; \
		features_from_signal(numpy.zeros(22050, dtype=numpy.float32))"
	touch $(STAMP)

venv: system-deps $(STAMP)

run: venv
	$(VENV)/bin/genre-desktop $(ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# The harness (tests/harness) starts Xvfb, D-Bus + gnome-keyring and PulseAudio itself.
test: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest $(PYTEST_ARGS)

bench: venv
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

dist: venv
	$(VENV)/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller-work installer.spec

clean:
	rm -rf $(VENV) dist build/pyinstaller-work .pytest_cache .ruff_cache test-artifacts
