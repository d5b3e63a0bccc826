# Two commands set Airlock up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test system-deps clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Debian packages some tests and features need (the HSM for the vault's PKCS#11 keyring; Chromium for the console's
# browser test; pgloader for the benchmark).
# Installed only when missing, so a machine that has them pays nothing.
system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
DEBIAN_PACKAGES := softhsm2

demo: $(STAMP)
	$(BIN)/airlock demo --out demo-output

test: DEBIAN_PACKAGES += chromium
test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q

# The benchmark at the quick scale; `make bench PATIENTS=500000` for the scale of the breach (bench/README.md).
PATIENTS ?= 50000
bench: DEBIAN_PACKAGES += pgloader
bench: $(STAMP) system-deps
	$(BIN)/python bench/side_by_side.py --patients $(PATIENTS)

clean:
	rm -rf $(VENV) demo-output .pytest_cache .hypothesis
