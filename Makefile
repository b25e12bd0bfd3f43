# The two commands of the README, each runnable on a fresh machine: `make book` and `make test`.
# The interpreter: the active environment's when one is active (VIRTUAL_ENV or CONDA_PREFIX),
# else the project's own virtual environment .venv, created on first use, so that nothing is
# installed into the system interpreter. `make PYTHON=...` chooses another.
ifneq ($(or $(VIRTUAL_ENV),$(CONDA_PREFIX)),)
PYTHON ?= python
else
PYTHON ?= .venv/bin/python
endif
VENV := $(filter .venv/bin/python,$(PYTHON))
PROFILE ?= demo
# The suite and the book start many Python processes (cells, SLURM jobs, notebook kernels): each
# reads the package's bytecode, compiled once into __pycache__, also where the environment turns
# writing bytecode off (PYTHONDONTWRITEBYTECODE); pytest caches its rewritten test modules there too.
unexport PYTHONDONTWRITEBYTECODE
STAMP := .cache/installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)-$(subst /,_,$(PYTHON))

.PHONY: install book grid test browser clean

.venv/bin/python:
	python3 -m venv .venv

# What the cells, notebook kernels, the book's build and the tests import. pip byte-compiles every
# module of every package it installs (torch's and transformers' thousands of unused ones too: 76
# of 129 s of installing on 2 cores); installing with --no-compile and importing these once
# compiles only what runs, once, before the processes of a build or a test run start side by side.
WARM_IMPORTS := torch transformers.trainer_seq2seq \
	$(foreach m,led bigbird_pegasus bart longt5 pegasus_x,transformers.models.$(m).modeling_$(m)) \
	peft datasets evaluate rouge_score.rouge_scorer nltk pysbd sumy.summarizers.lex_rank rank_bm25 \
	pydantic zeus.monitor submitit matplotlib.pyplot pandas papermill ipykernel.ipkernel \
	jupyter_book sphinx myst_nb pytest xdist

$(STAMP): pyproject.toml $(VENV)
	@mkdir -p .cache
	# The CPU build of torch first: an unpinned torch would pull gigabytes of CUDA packages.
	$(PYTHON) -m pip install --quiet --no-compile torch==2.13.0
	$(PYTHON) -m pip install --quiet --no-compile -e '.[test]'
	$(PYTHON) -c "import importlib; [importlib.import_module(m) for m in '$(WARM_IMPORTS)'.split()]"
	@touch $@

install: $(STAMP)

book: install  ## the main job: demo grid -> executed notebooks -> rendered book
	$(PYTHON) -m tradeoff book --profile $(PROFILE)

grid: install  ## only the runs of a profile, no book
	$(PYTHON) -m tradeoff grid --profile $(PROFILE)

browser:  ## headless Chromium for the rendered-book test (Debian packages)
	@command -v chromium >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
		|| echo "chromium could not be installed: the browser test will be skipped"

test: install browser  ## the test suite
	$(PYTHON) -m pytest -q

clean:
	rm -rf _build .cache/hf
