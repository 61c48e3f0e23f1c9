# Two commands for a fresh machine:  `make run` (the app) and `make test`.
# `make run ARGS="--classroom --teacher-password ..."` passes options to app.py (see `python app.py --help`).
# Both set up what they need first: a virtualenv with requirements.txt and,
# where apt-get can be used, Debian's chromium (browser test),
# dataset-fashion-mnist (offline Fashion-MNIST) and fonts-noto-color-emoji,
# ruby-gemojione and unicode-data (the offline emoji and emoji-one sets).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: run test setup sysdeps bench clean

run: setup
	$(PY) app.py $(ARGS)

test: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -p no:cacheprovider

setup: $(STAMP) sysdeps

$(STAMP): requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	# put the checkout on the venv's path, so `$(PY) bench/x.py` and `-m ganlab` work from anywhere
	$(PY) -c "import site, sys; open(site.getsitepackages()[0] + '/ganlab-checkout.pth', 'w').write(sys.argv[1])" "$(CURDIR)"
	rm -f $(VENV)/.installed-*
	touch $@

sysdeps:
	@if [ -x /usr/bin/chromium ] && [ -d /usr/share/datasets/fashion-mnist ] \
	  && [ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] && [ -f /usr/share/unicode/emoji/emoji-test.txt ] \
	  && ls -d /usr/share/rubygems-integration/all/gems/gemojione-*/assets/png >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium dataset-fashion-mnist \
	    fonts-noto-color-emoji ruby-gemojione unicode-data; \
	else \
	  echo "note: without Debian's chromium the browser test is skipped, Fashion-MNIST is downloaded"; \
	  echo "      on first use, and the emoji sets (and their tests) are unavailable; to install them all:"; \
	  echo "      sudo apt-get install chromium dataset-fashion-mnist fonts-noto-color-emoji ruby-gemojione unicode-data"; \
	fi

# the speed harness (bench/__main__.py): throughput against the reference loop, latency, UI overhead,
# time to quality; `make bench ARGS=--quick` for a short pass, ARGS="--only throughput" for one part
bench: setup
	$(PY) -m bench $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
