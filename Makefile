# Two entry points (see README): `make demo` and `make test`. Both build .venv from scratch when needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench mutation clean rationale-combined rationale-video

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# torch first, exact version: the local CPU wheel. Anything unpinned would pull the CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	# all includes the tep extra: tep-studio compiles its C extension with gcc from the sdist (build isolation works)
	$(BIN)/pip install --quiet -e ".[all,dev]"
	# pensimpy declares numpy==1.18.2 and fastodeint (not on PyPI); what it really needs (numpy, scipy, pandas) is above
	$(BIN)/pip install --quiet --no-deps pensimpy==1.2.5
	touch $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/heedful demo
	# rationale LM on the embedded demo set: a short training of the packaged Gemma-3-270M, then generation.
	# --no-trim-vocab: 44 dialogues' vocabulary leaves the unseen ones' words as bytes (dev loss 3.26 vs 2.86)
	HF_HUB_OFFLINE=1 $(BIN)/heedful rationale train --mode both --epochs 2 --grad-accum 1 --lr 1e-3 --no-trim-vocab \
		--out runs/demo-rationale
	HF_HUB_OFFLINE=1 $(BIN)/heedful rationale predict --method lm --limit 3 --max-new-tokens 64 --attention \
		--model $$(ls -d runs/demo-rationale/rationale-train-both-* | tail -1) --out runs/demo-rationale

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python -m pytest -q benchmarks/keras_peer_checks.py
	for f in benchmarks/*.py; do case $$f in *_checks.py) continue;; esac; $(BIN)/python $$f || exit 1; done

# Mutation testing (Cosmic Ray) of four modules, 60 sampled mutants each, on a copy of the tree: about 40 min, not in CI.
# One module: $(BIN)/python mutation/run.py sequence_beam [--sample N] [--budget MINUTES]. See mutation/README.md.
mutation: $(STAMP)
	$(BIN)/pip install --quiet -e ".[mutation]"
	HF_HUB_OFFLINE=1 $(BIN)/python mutation/run.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mutation

# The final combined rationale model (docs/rationale-lm.md) from a fresh clone and the shared research data:
# text index of the train split, then the combined route with the trimmed vocabulary. Runs go outside the repo.
MECR ?= ../shared/data/mecr/train.json
MECR_RUNS ?= ../mecr-runs
MECR_TRAIN ?= --max-train 400 --epochs 1
rationale-combined: $(STAMP)
	@start=$$(date +%s); set -e; \
	HF_HUB_OFFLINE=1 $(BIN)/heedful rationale index --data $(MECR) --split train --cache-dir $(MECR_RUNS)/cache \
		--out $(MECR_RUNS)/index; \
	HF_HUB_OFFLINE=1 $(BIN)/heedful rationale train --data $(MECR) --cache-dir $(MECR_RUNS)/cache \
		--index $$(ls -d $(MECR_RUNS)/index/rationale-index-* | tail -1) --mode both --layers 12,15 --k 2 \
		--max-tokens 640 --batch-size 4 --grad-accum 2 --lr 1e-3 --max-dev 48 --save-every 10 --threads 2 \
		$(MECR_TRAIN) --out $(MECR_RUNS)/train-both; \
	echo "rationale-combined: $$(( $$(date +%s) - start )) s"

# The video row of docs/rationale-lm.md (part 4): the cross-attention model with the key-frame features, then the
# dev predictions, their scores and the video removal. Runs go outside the repo; MECR_VIDEO_TRAIN="--epochs 1"
# trains on all 2,310 training samples (the default is the measured 1,000-sample run).
MECR_VISUAL ?= ../shared/data/mecr/train_visual.npz
MECR_VIDEO_TRAIN ?= --max-train 1000 --epochs 1
rationale-video: $(STAMP)
	@start=$$(date +%s); set -e; H="$(BIN)/heedful"; export HF_HUB_OFFLINE=1; \
	$$H rationale train --data $(MECR) --visual $(MECR_VISUAL) --cache-dir $(MECR_RUNS)/cache --mode xattn \
		--layers 12,15 --max-tokens 640 --batch-size 4 --grad-accum 2 --lr 1e-3 --fusion-lr 3e-3 --gate-init 0.02 \
		--max-dev 48 --save-every 10 --threads 2 $(MECR_VIDEO_TRAIN) --out $(MECR_RUNS)/train-video; \
	M=$$(ls -d $(MECR_RUNS)/train-video/rationale-train-xattn-* | tail -1); \
	$$H rationale predict --method lm --data $(MECR) --split dev --model $$M --max-new-tokens 80 --batch-size 8 \
		--threads 2 --out $(MECR_RUNS)/pred-video; \
	P=$$(ls -d $(MECR_RUNS)/pred-video/rationale-predict-* | tail -1); \
	$$H rationale evaluate $$P --data $(MECR) --bootstrap 1000 --out $(MECR_RUNS)/eval-video; \
	$$H rationale explain $$P --video --max-samples 64 --threads 2; \
	echo "rationale-video: $$(( $$(date +%s) - start )) s"
