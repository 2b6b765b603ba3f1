# `make demo` bakes the default app and serves it; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
# The same pinned uv as the baked Makefile's, from PyPI into .tools/ on first use.
UV_VERSION := 0.13.9
UV_DIR := .tools/uv-$(UV_VERSION)
UV := $(UV_DIR)/bin/uv
# Where `make demo` bakes; the last part is cookiecutter.json's default slug.
DEMO_DIR := build/demo/my-live-app
LOCK_DIR := build/lock/my-live-app
# `make test` runs this many tests side by side: each bake's suite mostly waits (servers,
# browsers, timers), so two share a 2-core machine with room to spare.
TEST_WORKERS ?= 2

.PHONY: demo test bench bench-realtime bench-memory bench-contacts bench-team bench-uploads bench-presence bench-streams lock

$(UV):
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target $(UV_DIR) uv==$(UV_VERSION)

# Reinstall only when the pins change; every package is pinned with its hashes.
$(VENV)/.installed: requirements-dev.txt | $(UV)
	$(UV) venv --quiet --clear --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --python $(VENV)/bin/python --require-hashes requirements-dev.txt
	touch $@

demo: $(VENV)/.installed  ## Bake the default app into build/demo, add sample contacts, serve it on :8000.
	$(VENV)/bin/cookiecutter . --no-input -f -o build/demo
	$(MAKE) -C $(DEMO_DIR) setup seed run

test: $(VENV)/.installed  ## Bake every option, lint it and run the baked apps' tests.
	$(VENV)/bin/pytest tests -q -n $(TEST_WORKERS) --dist worksteal

bench: $(VENV)/.installed  ## Time the diff engine.
	$(VENV)/bin/python bench/bench_diff.py

bench-realtime: $(VENV)/.installed  ## Broadcast latency, memory per view, event latency under load.
	$(VENV)/bin/python bench/bench_realtime.py $(BENCH_ARGS)

bench-memory: $(VENV)/.installed  ## The served app: memory per idle joined view, GC pauses, 10,000 views.
	$(VENV)/bin/python bench/bench_memory.py $(BENCH_ARGS)

bench-contacts: $(VENV)/.installed  ## The contacts sample: diff bytes, save -> diff latency, list render.
	$(VENV)/bin/python bench/bench_contacts.py $(BENCH_ARGS)

bench-team: $(VENV)/.installed  ## 200 people on /contacts, one saving a second: before and after.
	$(VENV)/bin/python bench/bench_team.py $(BENCH_ARGS)

bench-uploads: $(VENV)/.installed  ## A 50 MB upload: MB/s through one socket, server memory, the file kept.
	$(VENV)/bin/python bench/bench_uploads.py $(BENCH_ARGS)

bench-presence: $(VENV)/.installed  ## 150 and 300 lobby presences from one client: CPU, a bystander's heartbeat.
	$(VENV)/bin/python bench/bench_presence.py $(BENCH_ARGS)

bench-streams: $(VENV)/.installed  ## A stream against a keyed list: insert-at-top bytes, memory kept.
	$(VENV)/bin/python bench/bench_streams.py $(BENCH_ARGS)

# The baked uv.lock is the default bake's, its project name replaced by the slug placeholder.
lock: $(VENV)/.installed  ## Re-pin after editing requirements-dev.in or the baked pyproject.toml.
	$(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		requirements-dev.in -o requirements-dev.txt
	$(VENV)/bin/cookiecutter . --no-input -f -o $(dir $(LOCK_DIR))
	$(UV) lock --quiet --project $(LOCK_DIR)
	sed 's/^name = "my-live-app"$$/name = "{{ cookiecutter.project_slug }}"/' \
		$(LOCK_DIR)/uv.lock > '{{cookiecutter.project_slug}}/uv.lock'
