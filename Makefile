# jitsh — build, test, install. Everything a test needs is installed by `make test` itself.
PREFIX ?= /usr/local
DESTDIR ?=
ENABLE_SSHD ?= 0
PURGE ?= 0
SWIFT ?= swift
SWIFT_FLAGS ?=
RELEASE_FLAGS = -c release --static-swift-stdlib
FUZZ_SECONDS ?= 60
# Generated man page and completions, laid out as PREFIX/share (make install copies them).
SHARE = .build/share
INSTALL_ENV = PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" ENABLE_SSHD="$(ENABLE_SSHD)" PURGE="$(PURGE)"

.PHONY: all build release test prerequisites fuzz bench clean install uninstall man completions demo demo-stop

all: build

build:
	$(SWIFT) build $(SWIFT_FLAGS)

# The release binaries link the Swift runtime statically: jitsh starts on every SSH connection;
# jitsh-serve (the web app, run by `jitsh serve`) and jitsh-sync (the fleet service, run by
# `jitsh sync`) are apart so jitsh links no HTTP server, service lifecycle or metrics.
release:
	$(SWIFT) build $(RELEASE_FLAGS) --product jitsh
	$(SWIFT) build $(RELEASE_FLAGS) --product jitsh-serve
	$(SWIFT) build $(RELEASE_FLAGS) --product jitsh-sync

prerequisites:
	scripts/prerequisites.sh

test: prerequisites
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	$(SWIFT) test --skip-build $(SWIFT_FLAGS)

# As root: binary (root:jitsh 2755), man page, completions, /etc/jitsh, the store, and an sshd
# drop-in that is active only with ENABLE_SSHD=1. See README, Install.
install:
	scripts/prerequisites.sh build
	$(MAKE) release man completions
	$(INSTALL_ENV) scripts/install.sh

# Keeps edited configuration and the store unless PURGE=1.
uninstall:
	$(INSTALL_ENV) scripts/uninstall.sh

man: release
	scripts/man.py .build/release/jitsh $(SHARE)/man/man1/jitsh.1

completions: release
	scripts/completions.sh .build/release/jitsh $(SHARE)

# A private sshd on 127.0.0.1:2222 with jitsh as the forced command of a demo user, walked through.
demo:
	scripts/prerequisites.sh demo
	$(MAKE) release man completions
	scripts/demo.sh start

demo-stop:
	scripts/demo.sh stop

# libFuzzer over the parser for FUZZ_SECONDS (default 60); crashes land in ./crash-*.
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

# Measurements against the peers, on this machine, in one run (see README, Performance).
bench:
	scripts/bench.sh

clean:
	rm -rf .build .build-fuzz
