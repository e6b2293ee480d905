# provbot -- a plain Makefile with pkg-config.
#
#   make          the engine (build/libprovbot.a) and bot/provbot
#   make run      installs what is missing, builds, starts `provbot serve`
#   make test     installs what is missing, builds (also with ASan+UBSan, and TSan), runs every suite
#   make bench    benchmarks that print figures
#   make fuzz     libFuzzer targets, FUZZ_SECONDS each (default 30)
#   make mutate   mutation score per module (tests/mutate.py; slow, not part of make test)
#   make clean    removes build output
#   make install PREFIX=/usr/local

# Snowball's libstemmer ships no pkg-config file: it is linked as -lstemmer in LDLIBS.
PKGS     := libwebsockets libcurl libcjson libpcre2-8 sqlite3 libcrypto
# Debian 12 packages the build and the tests need (checked by `make deps`).
DEB_BUILD := build-essential pkg-config libwebsockets-dev libcurl4-openssl-dev \
             libcjson-dev libpcre2-dev libsqlite3-dev libwebsockets-evlib-ev libstemmer-dev \
             libssl-dev
DEB_TEST  := libcmocka-dev valgrind python3 python3-sklearn sqlite3 chromium nodejs clang libclang-rt-14-dev

PREFIX   ?= /usr/local
BUILD    ?= build
CC       ?= cc
OPT      ?= -O2
SAN      ?=
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS   := -std=c11 -Wall -Wextra -Werror -g $(OPT) $(SAN) -D_POSIX_C_SOURCE=200809L \
            -D_DEFAULT_SOURCE -MMD -MP -Isrc $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS   := $(PKG_LIBS) -lstemmer -lpthread -lm
LDFLAGS  := $(SAN)

SRC_C    := $(sort $(wildcard src/*.c))
BOT_C    := $(sort $(wildcard bot/*.c))
WWW      := $(sort $(wildcard bot/www/*))
UNIT_C   := $(sort $(wildcard tests/unit/test_*.c))
TOOL_C   := $(sort $(wildcard tests/tools/*.c))
BENCH_C  := $(sort $(wildcard tests/bench/*.c))
FUZZ_C   := $(sort $(wildcard tests/fuzz/fuzz_*.c))

SRC_O    := $(SRC_C:%.c=$(BUILD)/%.o)
BOT_O    := $(BOT_C:%.c=$(BUILD)/%.o) $(BUILD)/bot/www_embed.o
LIB      := $(BUILD)/libprovbot.a
PROG     := $(BUILD)/provbot
UNITS    := $(UNIT_C:tests/unit/%.c=$(BUILD)/tests/%)
TOOLS    := $(TOOL_C:tests/tools/%.c=$(BUILD)/tools/%)
BENCHES  := $(BENCH_C:tests/bench/%.c=$(BUILD)/bench/%)
FUZZERS  := $(FUZZ_C:tests/fuzz/%.c=build-fuzz/%)
FUZZ_SECONDS ?= 30

.PHONY: all deps deps-test run test bench fuzz fuzzers clean install mutate
all: $(PROG) bot/provbot

$(LIB): $(SRC_O)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

# The chat page's files, compiled into the program (no files needed at run time).
$(BUILD)/bot/www_embed.c: $(WWW) tests/embed.sh
	@mkdir -p $(@D)
	sh tests/embed.sh $@ $(WWW)
$(BUILD)/bot/www_embed.o: $(BUILD)/bot/www_embed.c
	$(CC) $(CFLAGS) -Ibot -c $< -o $@

$(PROG): $(BOT_O) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(BOT_O) $(LIB) $(LDLIBS)

# The contract names the program bot/provbot: a link to the build output.
bot/provbot: $(PROG)
	ln -sf ../$(PROG) $@

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ibot $< -o $@ $(LIB) $(LDFLAGS) $(LDLIBS) -lcmocka

$(BUILD)/tools/%: tests/tools/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -o $@ $(LIB) $(LDFLAGS) $(LDLIBS)

$(BUILD)/bench/%: tests/bench/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -o $@ $(LIB) $(LDFLAGS) $(LDLIBS)

# libFuzzer targets (clang): the engine's sources with ASan+UBSan and the
# fuzzer's coverage, compiled once into build-fuzz/libfuzz.a for all targets.
FUZZ_CFLAGS := -std=c11 -g -O1 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Isrc $(PKG_CFLAGS)
FUZZ_O      := $(SRC_C:src/%.c=build-fuzz/src/%.o)
build-fuzz/src/%.o: src/%.c $(wildcard src/*.h)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@
build-fuzz/libfuzz.a: $(FUZZ_O)
	$(AR) rcs $@ $^
build-fuzz/%: tests/fuzz/%.c build-fuzz/libfuzz.a
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined $< build-fuzz/libfuzz.a -o $@ \
	    $(PKG_LIBS) -lstemmer -lpthread -lm

fuzzers: $(FUZZERS)

# Each target for FUZZ_SECONDS (CI: 60), after replaying its regression inputs.
fuzz: deps-test
	@$(MAKE) --no-print-directory fuzzers
	@sh tests/fuzz.sh $(FUZZ_SECONDS)

# Installs the missing Debian packages when root, else prints the apt-get line.
deps:
	@sh tests/deps.sh $(DEB_BUILD)
deps-test:
	@sh tests/deps.sh $(DEB_BUILD) $(DEB_TEST)

run: deps
	@$(MAKE) --no-print-directory all
	@echo "provbot: starting the web chat on http://127.0.0.1:8080/ (open it in a browser; Ctrl-C stops)"
	./bot/provbot serve --data ./var --intents ./intents

# The three builds run one job a core (JOBS=1: one at a time).
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
test: deps-test
	@$(MAKE) --no-print-directory -j$(JOBS) all units tools fuzzers $(BUILD)/bench/ws_load
	@$(MAKE) --no-print-directory -j$(JOBS) BUILD=build-asan OPT=-O1 \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    build-asan/provbot units tools
	@$(MAKE) --no-print-directory -j$(JOBS) BUILD=build-tsan OPT=-O1 SAN=-fsanitize=thread build-tsan/provbot \
	    build-tsan/tests/test_turns
	@sh tests/run.sh

.PHONY: units tools
units: $(UNITS)
tools: $(TOOLS)

bench: deps
	@$(MAKE) --no-print-directory all $(BENCHES)
	@sh tests/bench.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/provbot/intents
	install -m 0755 $(PROG) $(DESTDIR)$(PREFIX)/bin/provbot
	install -m 0644 intents/*.json $(DESTDIR)$(PREFIX)/share/provbot/intents/

clean:
	rm -rf build build-asan build-tsan build-fuzz bot/provbot

-include $(SRC_O:.o=.d) $(BOT_O:.o=.d) $(UNITS:=.d) $(TOOLS:=.d) $(BENCHES:=.d)

# Mutation testing in a copy of the tree (MODULES, MUTANTS_PER_MODULE, MUTATE_SEED).
mutate:
	MODULES="$(MODULES)" MUTANTS_PER_MODULE="$(MUTANTS_PER_MODULE)" MUTATE_SEED="$(MUTATE_SEED)" sh tests/mutate.sh
