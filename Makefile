# `make demo` bakes the default app and serves it; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
# Where `make demo` bakes; the last part is cookiecutter.json's default slug.
DEMO_DIR := build/demo/my-live-app

.PHONY: demo test bench

# Reinstall only when the pins change.
$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

demo: $(VENV)/.installed  ## Bake the default app into build/demo and serve it on :8000.
	$(VENV)/bin/cookiecutter . --no-input -f -o build/demo
	$(MAKE) -C $(DEMO_DIR) setup run

test: $(VENV)/.installed  ## Bake every option, lint it and run the baked apps' tests.
	$(VENV)/bin/pytest tests -q

bench: $(VENV)/.installed  ## Time the diff engine.
	$(VENV)/bin/python bench/bench_diff.py
