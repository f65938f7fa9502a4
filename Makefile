# SentientIQ: `make demo` runs the control plane and three local edges under the loadgen;
# `make test` runs every test.
# Both install missing system packages first (Debian; root or sudo).

SHELL := /bin/bash
CARGO ?= cargo
# Debian packages the build needs: a C/C++ toolchain (zstd, libFuzzer, RocksDB) and libclang
# (RocksDB's bindgen); curl is the independent HTTP/2 gRPC client one control-plane test uses;
# python3 runs the module-cycle check, the bench scripts' tests and their edge settings;
# e2fsprogs makes the small ext4 disk the fault tests fill (mkfs.ext4).
DEB_PACKAGES := build-essential pkg-config libclang-dev curl python3 e2fsprogs
# The browser SDK's tests (sdk/js) need Node 18+ with npm and headless Chromium: Debian's nodejs
# (18 on Debian 12), npm and chromium, installed only when the commands are missing (a Node from
# elsewhere, e.g. NodeSource's nodejs 20, which carries its own npm and conflicts with Debian's,
# is kept).
SDK_COMMANDS := node:nodejs npm:npm /usr/bin/chromium:chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps test lint unit sdk-test purity cycles fuzz-check faults demo demo-scripted bench replay clean

all: test

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	for c in $(SDK_COMMANDS); do \
	  command -v $${c%%:*} >/dev/null || missing="$$missing $${c##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs)"; exit 1; }

# `unit` runs last so the summary line of all tests closes the output: the cargo tests, then the
# browser SDK's (against the debug binaries that build made), then one line over both.
test: deps purity cycles lint fuzz-check unit

purity:
	./scripts/check-core-purity.sh

# No module of a crate imports one that imports it back (files and top-level folders).
cycles:
	./scripts/check-cycles.py

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features --locked -- -D warnings

unit:
	CARGO=$(CARGO) ./scripts/run-tests.sh

# The browser SDK alone (sdk/js: npm ci, unit tests, the dist/ check, the Chromium suite) against
# sentientiq-edge and sentientiq-lake-compact in $CARGO_TARGET_DIR (default target)/debug, already built
# (`make test` runs it after the cargo build and tests, without a second build).
sdk-test: deps
	./scripts/run-tests.sh --sdk-only

fuzz-check:
	$(CARGO) check --manifest-path proto/fuzz/Cargo.toml

# The control plane, three regional edges + the loadgen (~1000 sessions, ~30 s); state under demo-data/.
demo: deps
	CARGO=$(CARGO) ./scripts/demo.sh

# The six scripted personas through the codec and core in one process (no network).
demo-scripted: deps
	$(CARGO) run --release --locked -p sentientiq-bench --bin demo

# The fault matrix at full scale against release binaries, recorded in bench/runs/ (minutes;
# `make test` runs the same rows at small scale).
faults: deps
	CARGO=$(CARGO) ./scripts/faults.sh

bench: deps
	$(CARGO) bench --locked -p sentientiq-bench
	$(CARGO) bench --locked -p sentientiq-lake

# Calibration on the real human traces beside the repository (not needed by any test).
replay: deps
	$(CARGO) run --release --locked -p sentientiq-bench --bin replay -- --format balabit ../shared/data/balabit-mouse-train.tar.zst

clean:
	$(CARGO) clean
