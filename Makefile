# Everything a fresh machine needs goes through these targets.
# `make demo` runs both daemons against local peers in a temporary directory;
# `make test` installs what the tests need (scripts/setup.sh) and runs the whole suite.

CARGO ?= cargo
# Where `make install` puts things (below $(DESTDIR)); scripts/install.sh has the rest
# (SBINDIR, BINDIR, MANDIR, DOCDIR, LIBDIR, SYSTEMDUNITDIR default from PREFIX).
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
FIP_ROOT ?= /fip
DESTDIR ?=
export PREFIX SYSCONFDIR FIP_ROOT DESTDIR

.PHONY: all build standin benchtools setup test lint demo bench install uninstall clean fuzz fuzz-cmin

all: build

build:
	$(CARGO) build --release

# The lond stand-in for the demo and the bench (test code: only with the testkit feature).
standin:
	$(CARGO) build --release --features testkit --bin lond-standin

# The bench tools (test code too): peer, minimal relay, load generator, transmitter, records.
BENCH_BINS = bench-peer bench-relay bench-load bench-transmit bench-ipsynd bench-lonc-ops
benchtools:
	$(CARGO) build --release --features testkit $(addprefix --bin ,$(BENCH_BINS))

setup:
	bash scripts/setup.sh

# The suite runs in both profiles: debug assertions catch what release hides (a double
# close aborts a debug build and silently closes someone else's fd in release).
# LONCSYN_TEST_STRICT: a test whose prerequisite is missing (root, a tool) fails here
# instead of saying SKIPPED (tests/it/prereq.rs).
test: setup
	LONCSYN_TEST_STRICT=1 $(CARGO) test --all-targets
	LONCSYN_TEST_STRICT=1 $(CARGO) test --release --all-targets

# Coverage-guided fuzzing of every parser and decoder (tests/fuzz, cargo-fuzz + libFuzzer),
# FUZZ_SECONDS per target. Not part of `make test`, which replays the saved corpus and the
# regression inputs on stable (tests/it/fuzz_replay.rs). cargo-fuzz needs nightly flags; the
# stable toolchain takes them with RUSTC_BOOTSTRAP=1. New inputs go to tests/fuzz/target/;
# a crash is saved under tests/fuzz/artifacts/<target>/: fix it and copy the input into
# tests/fuzz/regressions/<target>/.
FUZZ_SECONDS ?= 300
FUZZ = RUSTC_BOOTSTRAP=1 $(CARGO) fuzz
fuzz:
	command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	set -e; for t in $$($(FUZZ) list --fuzz-dir tests/fuzz); do \
	  seeds=tests/fuzz/corpus/$$t; \
	  if [ -d tests/fuzz/regressions/$$t ]; then seeds="$$seeds tests/fuzz/regressions/$$t"; fi; \
	  mkdir -p tests/fuzz/target/corpus/$$t; \
	  echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
	  $(FUZZ) run --fuzz-dir tests/fuzz $$t tests/fuzz/target/corpus/$$t $$seeds -- \
	    -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1; \
	done

# Folds what `make fuzz` found into the committed corpus, minimised (`cargo fuzz cmin`) on
# coverage edges only (-use_counters=0), which keeps it a few hundred KB in all. The merge
# may drop a hand-written seed; `git checkout HEAD -- tests/fuzz/corpus` brings those back.
fuzz-cmin:
	set -e; for t in $$($(FUZZ) list --fuzz-dir tests/fuzz); do \
	  if [ -d tests/fuzz/target/corpus/$$t ]; then cp -n tests/fuzz/target/corpus/$$t/* tests/fuzz/corpus/$$t/ 2>/dev/null || true; fi; \
	  $(FUZZ) cmin --fuzz-dir tests/fuzz $$t tests/fuzz/corpus/$$t -- -use_counters=0; \
	done

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

demo: setup build standin
	bash scripts/demo.sh

bench: setup build benchtools
	bash scripts/bench.sh

# Stripped binaries, the watchdog, man pages, examples, units, init scripts, /etc/default,
# logrotate and cron files; an existing file under $(SYSCONFDIR) is never overwritten.
# Everything installed is listed in $(PREFIX)/share/doc/loncsyn/install-manifest, which
# `make uninstall` (same variables) follows to remove exactly that.
install: build
	bash scripts/install.sh install

uninstall:
	bash scripts/install.sh uninstall

clean:
	$(CARGO) clean
