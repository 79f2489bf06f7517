# Everything a fresh machine needs goes through these targets.
# `make demo` runs both daemons against local peers in a temporary directory;
# `make test` installs what the tests need (scripts/setup.sh) and runs the whole suite.

CARGO ?= cargo
PREFIX ?= /usr/local
FIP_ROOT ?= /fip

.PHONY: all build standin setup test lint demo bench install clean

all: build

build:
	$(CARGO) build --release

# The lond stand-in for the demo and the bench (test code: only with the testkit feature).
standin:
	$(CARGO) build --release --features testkit --bin lond-standin

setup:
	bash scripts/setup.sh

# The suite runs in both profiles: debug assertions catch what release hides (a double
# close aborts a debug build and silently closes someone else's fd in release).
test: setup
	$(CARGO) test --all-targets
	$(CARGO) test --release --all-targets

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

demo: setup build standin
	bash scripts/demo.sh

bench: setup build standin
	bash scripts/bench.sh

install: build
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(FIP_ROOT)/bin
	install -m 0755 target/release/lonc $(DESTDIR)$(PREFIX)/sbin/lonc
	install -m 0755 target/release/ipsynd $(DESTDIR)$(PREFIX)/sbin/ipsynd
	install -m 0755 target/release/ipsyn $(DESTDIR)$(FIP_ROOT)/bin/ipsyn

clean:
	$(CARGO) clean
