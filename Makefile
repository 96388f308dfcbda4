# Conditional Computation, Reproduced
#   make test      unit tests, every chapter executed (quick profile), the book built and checked
#   make book      execute every chapter (PROFILE=quick|full) and build the HTML book
#   make reproduce the full profile: every chapter's numbers, written to results/*.json, in
#                  dependency order; skips a chapter whose results are current (see
#                  scripts/reproduce.py); CHAPTER=04_cigt runs one, FORCE=1 reruns current ones
#   make bench     time the routed ops; writes benchmarks/results/<device>.json
#   make budget    a study of accuracy against the training budget (hours; resumes where it
#                  stopped): STUDY=condconv (chapter 3, the default) or STUDY=cigt (chapter 4)
#   make frontier  the LeNet family's static frontier for chapter 0 (hours; resumes);
#                  FAMILY=canvas trains chapter 7's
#   make clusters  chapter 8's arms (base, control, tree, conditional LeNets) on seeds 1
#                  and 2 at the base's budget (hours; resumes run by run)
#   make lkam      chapter 9's LKAM networks (thick LeNet, the gain sweep, static pruning)
#                  on seeds 1 and 2 (about an hour; resumes run by run)
#   make authors   chapter 4's CIGT arms with the authors' own recipe (days on 2 cores;
#                  resumes run by run and epoch by epoch)
# Each target creates .venv and fetches the data first when they are missing.

PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
PROFILE ?= quick
STUDY   ?= condconv
STAMP   := $(VENV)/.installed-stamp

.PHONY: all test book reproduce bench budget frontier activity clusters lkam authors data venv clean

all: test

$(STAMP): pyproject.toml requirements/ci.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/ci.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

venv: $(STAMP)

# Fashion-MNIST: found locally, else downloaded, else (no internet, root, apt) Debian's package.
data: $(STAMP)
	@$(PY) -m condcomp_lib.data check 2>/dev/null || $(PY) -m condcomp_lib.data fetch \
		|| { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		       echo "installing Debian's dataset-fashion-mnist"; \
		       (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
		        || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null)) \
		       && $(PY) -m condcomp_lib.data check; \
		     else echo "no data: run 'sudo apt-get install dataset-fashion-mnist' or see data/README.md"; exit 1; fi; }

test: data
	@$(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

book: data
	$(PY) scripts/book.py --profile $(PROFILE)

reproduce: data
	$(PY) scripts/reproduce.py $(if $(CHAPTER),--chapter $(CHAPTER)) \
		$(if $(filter 1,$(FORCE)),--force)

bench: data
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

budget: data
	$(PY) scripts/$(STUDY)_budget.py

frontier: data
	$(PY) scripts/frontier_study.py $(if $(FAMILY),--family $(FAMILY))

activity: data
	$(PY) scripts/activity_study.py

clusters: data
	$(PY) scripts/cluster_study.py

lkam: data
	$(PY) scripts/lkam_study.py

authors: data
	$(PY) scripts/cigt_authors.py

clean:
	rm -rf _build .pytest_cache
