# jitsh — build, test, install. Everything a test needs is installed by `make test` itself.
PREFIX ?= /usr/local
DESTDIR ?=
SWIFT ?= swift
SWIFT_FLAGS ?=
RELEASE_FLAGS = -c release --static-swift-stdlib
FUZZ_SECONDS ?= 60

.PHONY: all build release test prerequisites fuzz bench clean

all: build

build:
	$(SWIFT) build $(SWIFT_FLAGS)

# The release binary links the Swift runtime statically: jitsh starts on every SSH connection.
release:
	$(SWIFT) build $(RELEASE_FLAGS) --product jitsh

prerequisites:
	scripts/prerequisites.sh

test: prerequisites
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	$(SWIFT) test --skip-build $(SWIFT_FLAGS)

# libFuzzer over the parser for FUZZ_SECONDS (default 60); crashes land in ./crash-*.
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

# Measurements against the peers, on this machine, in one run (see README, Performance).
bench:
	scripts/bench.sh

clean:
	rm -rf .build .build-fuzz
