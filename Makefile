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

.PHONY: all build setup test lint demo bench install uninstall clean

all: build

build:
	$(CARGO) build --release

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

demo: setup build
	bash scripts/demo.sh

bench: setup build
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
