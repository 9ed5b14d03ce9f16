# Two commands for a newcomer: `make book` and `make test` (README.md).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PROFILE ?= smoke
export PIXELBOOK_PROGRESS ?= 0

.PHONY: venv book test clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test,book]"
	touch $@

# Until the book pipeline lands: the PixelCNN smoke run (train, test bpd, sample grid) and the HTML.
book: venv
	rm -rf runs/smoke/pixelcnn-book
	$(PY) -m pixelbook train pixelcnn --profile $(PROFILE) --out runs/$(PROFILE)/pixelcnn-book
	$(VENV)/bin/jupyter-book build . --quiet
	@echo "open _build/html/index.html"

test: venv
	$(PY) -m pytest -q

clean:
	rm -rf _build runs
