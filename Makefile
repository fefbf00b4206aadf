# The two commands a newcomer needs: `make run` and `make test`.
PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
SHARED   ?= ../shared
INSTANCE ?= instance
RECORDS  ?= records
HOST     ?= 127.0.0.1
PORT     ?= 5000

.PHONY: run test install schemas load lint bench clean system-deps

# Debian packages the tests use, as check:package pairs, the check being a command the package installs
# or, for a package with none, a file of it (a path). rapper and roqet are independent RDF and SPARQL
# clients; chromium and chromedriver run the catalogue's browser tests, whose screenshots need CJK fonts.
# Installed when missing and we are root (CI, a fresh machine); otherwise those tests say why they skip.
CJK_FONT     := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
DEBIAN_TOOLS := rapper:raptor2-utils roqet:rasqal-utils chromium:chromium chromedriver:chromium-driver \
                $(CJK_FONT):fonts-noto-cjk

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Official schemas: copied from ../shared/schemas, or downloaded from their publishers when it is absent.
schemas: install
	$(PY) -m repository schemas install --from $(SHARED)/schemas

# Load the working copy (records/) into the instance's store. A refused file is reported and
# left as it is; the server still starts with everything else (hence the leading '-').
load: schemas
	-$(PY) -m repository --instance $(INSTANCE) sync --records $(RECORDS)

run: load
	$(PY) -m repository --instance $(INSTANCE) serve --host $(HOST) --port $(PORT) --records $(RECORDS)

lint: install
	$(PY) -m ruff check .

system-deps:
	@missing=; for pair in $(DEBIAN_TOOLS); do check=$${pair%%:*}; pkg=$${pair#*:}; \
	  case $$check in /*) [ -e "$$check" ];; *) command -v $$check >/dev/null 2>&1;; esac \
	    || missing="$$missing $$pkg"; \
	done; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -qq >/dev/null; \
	  for pkg in $$missing; do echo "installing $$pkg"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$pkg >/dev/null 2>&1 \
	      || echo "note: could not install $$pkg; the tests that need it will be skipped"; \
	  done; \
	else echo "note: not installed:$$missing; the tests that need them will be skipped"; fi

test: schemas lint system-deps
	$(PY) -m pytest

bench: schemas
	$(PY) bench/run_all.py

# For maintainers (not part of run/test): re-extract the interface's messages (babel.cfg) into
# messages.pot and merge them into every catalogue under repository/web/translations; then
# translate what is new or fuzzy in the .po files (the app compiles them when it starts).
TRANSLATIONS := repository/web/translations
PYBABEL      ?= $(VENV)/bin/pybabel
.PHONY: translations
translations: install
	$(PYBABEL) extract -F babel.cfg -k lazy_gettext -o $(TRANSLATIONS)/messages.pot \
	  --project=dalian-repository --version=0.1.0 --copyright-holder="Dalian Library" repository
	$(PYBABEL) update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS)

clean:
	rm -rf $(VENV) $(INSTANCE) schemas/official .pytest_cache .ruff_cache
