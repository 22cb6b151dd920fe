# One place that knows how to install and run the project. `make run` and `make test` are the
# README's two commands; both set everything up first on a fresh Debian machine.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APT_PACKAGES := ffmpeg fluidsynth timgm6mb-soundfont fonts-dejavu-core
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system-packages run demo test bench bench-load clean

setup: system-packages $(STAMP)

# Debian packages: ffmpeg (mux/encode), fluidsynth + a GM soundfont (music), a font (titles).
system-packages:
	@missing=""; \
	command -v ffmpeg >/dev/null || missing="$$missing ffmpeg"; \
	command -v fluidsynth >/dev/null || missing="$$missing fluidsynth"; \
	[ -f /usr/share/sounds/sf2/TimGM6mb.sf2 ] || missing="$$missing timgm6mb-soundfont"; \
	[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$$missing fonts-dejavu-core"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	fi

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# The main job on embedded defaults: the bot. With no chat tokens set it is a console chat with
# the local backend in-process (type /demo for a demo clip, or the path of a video of yours).
run: setup
	$(VENV)/bin/aiwm run

# The engine alone on a generated demo clip, no chat.
demo: setup
	$(VENV)/bin/aiwm demo

test: setup
	$(VENV)/bin/pytest -q

bench: setup
	$(PY) bench/engine.py
	$(PY) bench/backend.py
	$(PY) bench/load.py

# 1,000 chats with open turns in one bot process (about a minute); smoke: ARGS="--chats 50 --seconds 5"
bench-load: setup
	$(PY) bench/load.py $(ARGS)

clean:
	rm -rf $(VENV) data out .pytest_cache
