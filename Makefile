# Two commands for a newcomer (README.md): `make book` and `make test`.
PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
PROFILE ?=                      # the profile the HTML shows; empty: the highest complete one
export PIXELBOOK_PROGRESS ?= 0

.PHONY: venv book chapters tables html check-html test sync clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test,book]"
	touch $@

# The book's main job: smoke-run every chapter that has no higher-profile results, regenerate the
# tables, stage one profile's executed notebooks, build the HTML (which never executes anything).
book: chapters tables html

chapters: venv
	$(PY) -m pixelbook run all --profile smoke --skip-higher --quiet

tables: venv
	$(PY) -m pixelbook tables

html: venv
	$(PY) -m pixelbook stage $(if $(strip $(PROFILE)),--profile $(strip $(PROFILE)))
	$(VENV)/bin/jupyter-book build _staged --path-output . --quiet
	@echo "the book: _build/html/index.html"

# Serve _build/html on localhost, load pages in headless Chromium, save screenshots.
check-html: venv
	@command -v chromium >/dev/null || apt-get install -y chromium chromium-driver >/dev/null
	PIXELBOOK_CHECK_HTML=1 $(PY) -m pytest -q tests/test_html.py

# The whole suite: unit and contract tests, then nbval over every chapter at the smoke profile.
# One pytest-xdist worker per core, one torch thread each (tests/conftest.py); a file's tests (a
# notebook's cells, a module's fixtures) stay on one worker.
test: venv
	$(PY) -m pytest -q -n auto --dist loadfile --nbval-lax tests book

# Re-pair book/*.ipynb with their MyST sources after editing a chapter.
sync: venv
	$(VENV)/bin/jupytext --sync book/*.md

clean:
	rm -rf _build _staged runs
