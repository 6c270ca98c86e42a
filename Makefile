# One task runner; CI calls the same targets (.ci/run → make test).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DEV_DATA ?= ../shared/data/dev

.PHONY: setup demo test test-fast lint bench bench-ingest bench-search bench-scale bench-answer bench-api bench-fair bench-documents bench-desk eval eval-gate train screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

setup: $(STAMP)

## make demo: set up, import the bundled sample library, and search it with the default embedder
demo: setup
	$(VENV)/bin/casepilot ingest ingestion/sample_library --home .casepilot
	@echo; echo '$$ casepilot search 印表機連不上網路          (traditional Chinese, colloquial)'
	@$(VENV)/bin/casepilot search 印表機連不上網路 --home .casepilot -k 3
	@echo; echo '$$ casepilot search 发票抬头开错了怎么重开'
	@$(VENV)/bin/casepilot search 发票抬头开错了怎么重开 --home .casepilot -k 3
	@echo; echo '$$ casepilot search "E-1024" --filter kind=case --explain'
	@$(VENV)/bin/casepilot search E-1024 --filter kind=case --explain --home .casepilot -k 3
	@echo; echo '$$ casepilot ask 客户的打印机连不上WiFi，路由器只开了5G，怎么办？'
	@$(VENV)/bin/casepilot ask 客户的打印机连不上WiFi，路由器只开了5G，怎么办？ --home .casepilot
	@echo; echo '$$ casepilot ask 速达国际件能寄带锂电池的蓝牙耳机去美国吗？      (the library does not know)'
	@$(VENV)/bin/casepilot ask 速达国际件能寄带锂电池的蓝牙耳机去美国吗？ --home .casepilot
	@echo; echo '$$ casepilot ingest ingestion/sample_library   (again: nothing changes)'
	@$(VENV)/bin/casepilot ingest ingestion/sample_library --home .casepilot

## make test: set up and run the whole test suite
test: setup
	$(PY) -m pytest -q

## make test-fast: skip the tests that run the real embedding model
test-fast: setup
	$(PY) -m pytest -q -m 'not slow'

lint: setup
	$(VENV)/bin/ruff check assistant ingestion api evals prompts tests
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

## make bench: ingestion throughput (sample library, dev data), search latency at 10k / 100k chunks,
## answer latency over the sample questions, a load test of the HTTP API (20 clients, 60 s; 1 and 2 workers,
## and two hosts sharing a PostgreSQL and a Chroma server; a worker's processor time per new question),
## whether one tenant's heaviest requests hold up
## /healthz and another tenant's answers (docs/fairness.md), documents (a 500-page PDF, a 2,000-page HTML folder),
## the desk's numbers over 10,000 cases and 100,000 logged answers (SQLite and PostgreSQL; docs/desk.md),
## and one library grown to 1,000,000 chunks, a new worker measured on it at 12k, 120k and 1M (docs/measurements.md)
bench: bench-ingest bench-search bench-scale bench-answer bench-api bench-fair bench-documents bench-desk

bench-ingest: setup
	$(PY) -m evals.bench --dev-data $(DEV_DATA)

bench-search: setup
	$(PY) -m evals.bench_search --dev-data $(DEV_DATA)

## make bench-scale: about an hour on an idle machine; SCALE_HOME=DIR keeps the library and continues it next time
bench-scale: setup
	$(PY) -m evals.bench_scale --dev-data $(DEV_DATA) $(if $(SCALE_HOME),--home $(SCALE_HOME))

bench-answer: setup
	rm -rf bench-out/answers
	$(PY) -m api.cli eval run --dataset evals/datasets/sample_questions.jsonl --out bench-out/answers

## make bench-documents: pages/s and peak memory importing documents built from Debian's manuals
## (maint-guide-zh-cn, debian-faq-zh-cn: from apt when missing); docs/documents.md
bench-documents: setup
	@if [ ! -f /usr/share/doc/maint-guide-zh-cn/maint-guide.zh-cn.pdf ] || [ ! -d /usr/share/doc/debian/FAQ/zh-cn ]; then \
	    SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO="sudo"; \
	    $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends maint-guide-zh-cn debian-faq-zh-cn; fi
	$(PY) -m evals.bench_documents

bench-api: setup
	$(PY) -m evals.bench_api --workers 1
	$(PY) -m evals.bench_api --workers 2
	$(PY) -m evals.bench_api --hosts 2
	$(PY) -m evals.bench_first_asked

bench-fair: setup
	$(PY) -m evals.bench_fair --heavy-clients 4 --seconds 30

bench-desk: setup
	$(PY) -m evals.bench_desk --dev-data $(DEV_DATA) --postgres

## make eval: answer quality on the sample library's questions (a run folder with its report in
## eval-out/sample_questions); retrieval quality on AFQMC and BQ dev; long documents (CMRC 2018) against BM25;
## drafting on JDDC and duplicate detection; tag suggestion on CIC intent and BANKING77; the promise check on
## real agents' replies; verification thresholds;
## when to abstain and a learned ranking (the shipped models' reports; make train rebuilds them)
eval: setup
	rm -rf eval-out/sample_questions
	$(PY) -m api.cli eval run --dataset evals/datasets/sample_questions.jsonl --out eval-out/sample_questions
	$(PY) -m evals.retrieval_eval --dev-data $(DEV_DATA)
	$(PY) -m evals.longdoc_eval --dev-data $(DEV_DATA)
	$(PY) -m evals.draft_eval --dev-data $(DEV_DATA)
	$(PY) -m evals.tag_eval --dev-data $(DEV_DATA)
	$(PY) -m evals.promise_eval --dev-data $(DEV_DATA)
	$(PY) -m evals.verify_calibration --dev-data $(DEV_DATA)
	$(PY) -m evals.train_abstention --dev-data $(DEV_DATA)
	$(PY) -m evals.train_ranker --dev-data $(DEV_DATA)
	$(PY) -m evals.train_drafts --dev-data $(DEV_DATA)

## make train: relearn the shipped models from the dev data (assistant/models/abstention.json, ranker.json,
## draft_sentences.json)
train: setup
	$(PY) -m evals.train_abstention --dev-data $(DEV_DATA) --write
	$(PY) -m evals.train_ranker --dev-data $(DEV_DATA) --write
	$(PY) -m evals.train_drafts --dev-data $(DEV_DATA) --write

## make eval-gate: answer the sample questions with the current code (default models, a few minutes)
## and fail when a gated metric regressed against the committed baseline
eval-gate: setup
	rm -rf eval-out/gate
	$(PY) -m api.cli eval run --dataset evals/datasets/sample_questions.jsonl --out eval-out/gate
	$(PY) -m api.cli eval compare evals/baselines/sample_questions-extractive eval-out/gate --fail-on-regression
	$(PY) -m api.cli eval gate eval-out/gate

## make screenshots: PNGs of each web console screen into docs/screenshots/ (Debian's Chromium, and a
## Chinese font so the text is legible: both from apt when missing)
screenshots: setup
	@if [ ! -x /usr/bin/chromium ] || ! fc-list :lang=zh 2>/dev/null | grep -q .; then \
	    SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO="sudo"; \
	    $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends chromium fonts-wqy-microhei; fi
	$(PY) -m tests.console_screenshots

clean:
	rm -rf .casepilot bench-out eval-out
