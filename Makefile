# Quick start: `make run` and `make test`; both set up the virtual environment on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint screenshots clean

setup: $(STAMP)

# Re-installs only when pyproject.toml changes (idempotent).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test,demo,scale]'
	touch $(STAMP)

run: setup
	$(BIN)/zse-gui

test: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q
	$(MAKE) --no-print-directory lint

# mypy is strict on model, engine, viz and data (see pyproject.toml), standard elsewhere.
lint: setup
	$(BIN)/ruff check zse_gui tests benchmarks scripts
	$(BIN)/mypy zse_gui
	$(BIN)/lint-imports

screenshots: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m zse_gui.qt.screenshots docs/screenshots

clean:
	rm -rf $(VENV) build *.egg-info

# ---- bundled demo model (zse_lite) and demo gallery; see docs/demo-model.md ----
.PHONY: demo-gallery train-demo

# Needs the Debian package: sudo apt-get install tuxpaint-stamps-default. The result is committed.
demo-gallery: setup
	$(BIN)/python scripts/build_demo_gallery.py

# Trains with the project's Trainer on the seen classes, evaluates, writes models/zse_lite.safetensors.
# One thread: on a shared CPU, OpenMP threads that spin while descheduled make 2 slower than 1.
train-demo: setup
	OMP_NUM_THREADS=1 nice $(BIN)/python scripts/train_demo.py --threads 1 --export
