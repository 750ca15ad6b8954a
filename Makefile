# flowsql - a plain GNU Makefile.
#
#   make run     install missing packages, build, start flowsqld (defaults)
#   make test    install missing packages, build three times (plain, with
#                ASan/UBSan, with ThreadSanitizer), run every test; ends
#                with "N passed, N failed"
#   make bench   engine benchmarks (never part of make test)
#   make bench-ingest  ingest throughput: IPFIX file and loss-free UDP
#   make bench-sflow  sFlow v5 decode samples/s on one core
#   make bench-pcap  the flow meter: packets/s from a generated capture
#                on one core, side by side with softflowd -r
#   make bench-parquet  the archive format: bytes/flow, write/read flows/s
#   make bench-archive-ingest  the archive on the live path: loss-free UDP
#                rate archive off vs on, bytes/flow against nfcapd
#   make bench-enrich  enrichment and anonymization on the live path:
#                loss-free UDP rate off vs on
#   make bench-archive-query  queries over the archive against nfdump on
#                the same flows: GROUP BY srcip, a host lookup, cold/warm
#   make bench-peers  flowsqld against nfcapd+nfdump and nfacctd on one
#                stream, loss-free UDP rates, CPU, memory, answers checked
#                (bench/peers/run.sh, about 20 minutes, never in make test)
#   make bench-soak  RSS under a steady load: all saved queries, stalled
#                stream readers, 300k flows/s for 30 min (bench/soak.sh)
#   make bench-scale-out  scale-out on one Kafka broker: collector
#                publish rate, workers' flows/s, window end to merged rows
#   make fuzz    every libFuzzer target (FUZZ_TARGETS) for FUZZ_SECONDS
#                each; make fuzz-NAME for one
#   make bench-web  the web interface with 100k-row windows: render times
#                in Debian's chromium (bench/web_render.sh)
#   make web-shots  the screenshots of docs/WEB.md, taken by the web tests
#   make install  flowsqld, flowsql, man pages, the sample config, the
#                systemd unit, flowsql.so (SQLite), queries, docs under
#                PREFIX (/usr/local), DESTDIR staged; make uninstall
#   make deb     the Debian package (debhelper) in build/deb/
#   make deps    install the Debian packages that are missing, nothing else
#   make servers fetch the Kafka and OpenSearch jars the end-to-end tests
#                run (Maven Central, cached in ~/.cache/flowsql)

B        ?= build
SAN      ?=
TSAN     ?=
CC       := gcc
PKGS     := libfixbuf rdkafka jansson libmicrohttpd libcurl sqlite3 libedit \
            libzstd libxxhash libmaxminddb libcrypto

# Debian packages: to build, and in addition to test.
DEB_BUILD := gcc make pkg-config lemon re2c libfixbuf-dev librdkafka-dev \
             libsqlite3-dev libjansson-dev libmicrohttpd-dev \
             libcurl4-openssl-dev libedit-dev libpcap-dev libzstd-dev \
             libxxhash-dev libmaxminddb-dev libssl-dev
DEB_TEST  := clang sqlite3 tmux curl jq softflowd pmacct nfdump tshark \
             python3 python3-venv python3-scapy kcat default-jre-headless maven iproute2 \
             procps chromium libmaxmind-db-writer-perl man-db groff-base systemd prometheus rsyslog \
             debhelper fakeroot dpkg-dev
# Node.js and npm for the web tests' npm packages (make deps-web): only
# when npm is missing (a machine's own Node.js, 20 or later, is kept).
DEB_NODE  := nodejs npm

VERSION  := 0.1.0
OPT      ?= -O2
CFLAGS   := -std=gnu11 -g $(OPT) -Wall -Wextra -Werror -Wshadow \
            -Wpointer-arith -Wstrict-prototypes -Wvla -D_GNU_SOURCE -DFLOWSQL_VERSION=\"$(VERSION)\" \
            -I. -I$(B)/gen
ifneq ($(SAN),)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif
# ThreadSanitizer: its own build (it cannot be combined with ASan). Every
# program also links tests/tsan/c11threads.c, C11 threads over pthreads,
# so that TSan sees librdkafka's threads and locks (see the file).
ifneq ($(TSAN),)
CFLAGS   += -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=thread
TSAN_OBJ := $(B)/obj/tests/tsan/c11threads.o
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
LIBS     = $(PKG_LIBS) -lpcap -lpthread -lm

LIB_SRC  := $(filter-out server/flowsqld.c, \
              $(wildcard util/*.c parser/*.c engine/*.c storage/*.c \
                         ingest/*.c sinks/*.c server/*.c archive/*.c enrich/*.c))
GEN_SRC  := $(B)/gen/grammar.c $(B)/gen/lexer.c $(B)/gen/webassets.c
# The web interface's files, embedded in flowsqld (web/embed.sh; docs/WEB.md).
WEB_FILES := $(sort $(wildcard web/*.html web/*.css web/*.js web/*.svg \
                               web/vendor/*/*.js web/vendor/*/*.css))
LIB_OBJ  := $(patsubst %.c,$(B)/obj/%.o,$(LIB_SRC)) \
            $(patsubst $(B)/gen/%.c,$(B)/obj/gen/%.o,$(GEN_SRC))
# The shell's files are its own, not the library's: build/flowsql links
# them all, and so does its unit test.
SHELL_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(wildcard shell/*.c))
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(patsubst tests/unit/%.c,$(B)/tests/%,$(TEST_SRC))
# Helpers the end-to-end tests run (collectors, capture and replay tools).
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(patsubst tests/tools/%.c,$(B)/tools/%,$(TOOL_SRC))
TOOLS    := $(if $(wildcard server/flowsqld.c),$(B)/flowsqld) \
            $(if $(wildcard shell/flowsql.c),$(B)/flowsql) \
            $(if $(wildcard bench/flowgen.c),$(B)/flowgen)

.SECONDARY:
.PHONY: all run test unit check deps deps-test deps-web deps-node web-shots \
        bench-web servers bench bench-ingest bench-sflow bench-pcap \
        bench-peers bench-soak bench-parquet bench-archive \
        bench-archive-ingest bench-archive-query bench-enrich bench-scale-out \
        fuzz clean \
        install uninstall deb FORCE
.DEFAULT_GOAL := all

all: $(B)/libflowsql.a $(TOOLS) $(TEST_BIN) $(TOOL_BIN)

# ---- the README's two commands -------------------------------------------

run: deps
	$(MAKE) -j2 all
	mkdir -p data
	exec ./$(B)/flowsqld

test: deps deps-test deps-web
	$(MAKE) -j2 all
	$(MAKE) -j2 B=build/asan SAN=1 OPT=-O1 all
	$(MAKE) -j2 B=build/tsan TSAN=1 OPT=-O1 all
	tests/run.sh build build/asan build/tsan

# ---- dependencies ---------------------------------------------------------

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
define install_missing
	@missing=$$(for p in $(1); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	        grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing:" $$missing; \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	        apt-get install -y -q --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call install_missing,$(DEB_BUILD))

deps-test:
	$(call install_missing,$(DEB_TEST))

servers: deps-test
	tests/servers/fetch.sh

# The web tests' npm packages (playwright-core, axe-core, uplot), pinned by
# tests/web/package-lock.json, installed from the npm registry into
# ~/.cache/flowsql by tests/web/install.sh, so that the tests need no
# network. Fails when npm ci fails; when the registry cannot be reached at
# all, a warning, and tests/e2e/web.sh says SKIP (docs/WEB.md, "Tests").
deps-web:
	@command -v npm >/dev/null 2>&1 || $(MAKE) --no-print-directory deps-node
	@if err=$$(tests/web/install.sh 2>&1 >/dev/null); then :; \
	elif echo "$$err" | grep -q '^UNREACHABLE'; then \
	    echo "$$err" | tail -n 1 >&2; \
	    echo "WARNING: the web tests will SKIP (tests/e2e/web.sh)" >&2; \
	else echo "$$err" >&2; exit 1; fi

deps-node:
	$(call install_missing,$(DEB_NODE))

# The screenshots of docs/WEB.md (docs/web/*.png), taken by the web tests.
web-shots: deps deps-test deps-web
	$(MAKE) -j2 all
	FLOWSQL_WEB_SHOTS=$(CURDIR)/docs/web FLOWSQL_TESTS=web tests/run.sh build

# ---- generated sources ----------------------------------------------------

$(B)/gen/grammar.c $(B)/gen/grammar.h: parser/grammar.y
	@mkdir -p $(B)/gen
	lemon -q -T/usr/share/lemon/lempar.c -d$(B)/gen $<

$(B)/gen/lexer.c: parser/lexer.re | $(B)/gen/grammar.h
	@mkdir -p $(B)/gen
	re2c -W --no-generation-date -o $@ $<

$(B)/gen/webassets.c: web/embed.sh $(WEB_FILES)
	@mkdir -p $(B)/gen
	sh web/embed.sh $@ $(WEB_FILES)

# ---- objects, library, programs ------------------------------------------

$(B)/obj/%.o: %.c | $(B)/gen/grammar.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

# Generated code: same warnings, minus the ones lemon's template trips.
$(B)/obj/gen/%.o: $(B)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-unused-parameter -Wno-unused-variable \
	    -Wno-unused-but-set-variable -Wno-shadow $(PKG_CFLAGS) -Iparser \
	    -MMD -MP -c -o $@ $<

$(B)/libflowsql.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# Every program of the TSan build links the C11 threads shim.
$(TOOLS) $(TEST_BIN) $(TOOL_BIN): $(TSAN_OBJ)

$(B)/flowsqld: $(B)/obj/server/flowsqld.o $(B)/libflowsql.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/flowsql: $(SHELL_OBJ) $(B)/libflowsql.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/test_shell: $(B)/obj/tests/unit/test_shell.o \
                       $(filter-out $(B)/obj/shell/flowsql.o,$(SHELL_OBJ)) \
                       $(B)/libflowsql.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/flowgen: $(B)/obj/bench/flowgen.o $(B)/libflowsql.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(B)/libflowsql.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/tools/%: $(B)/obj/tests/tools/%.o $(B)/libflowsql.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/bench/%: $(B)/obj/bench/%.o $(B)/libflowsql.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# ---- install ----------------------------------------------------------------
# make install [PREFIX=/usr/local] [DESTDIR=...]; make uninstall with the
# same. The installed flowsqld is the checkout's linked with its own
# server/defaults.c object, so it keeps its data in /var/lib/flowsql and
# reads /etc/flowsql/queries (docs/OPERATIONS.md). The shipped queries go
# to share/flowsql/queries, and to /etc/flowsql/queries unless a file of
# that name is there already (an operator's edit is kept); uninstall
# removes a file under /etc only while it is still the shipped one.
PREFIX        ?= /usr/local
SYSCONFDIR    ?= /etc
LOCALSTATEDIR ?= /var
BINDIR        ?= $(PREFIX)/bin
DATADIR       ?= $(PREFIX)/share
DOCDIR        ?= $(DATADIR)/doc/flowsql
MANDIR        ?= $(DATADIR)/man
UNITDIR       ?= $(PREFIX)/lib/systemd/system
LIBDIR        ?= $(PREFIX)/lib/flowsql
INST_DEFS := -DFLOWSQL_BINDIR=\"$(BINDIR)\" -DFLOWSQL_DATA_DIR=\"$(LOCALSTATEDIR)/lib/flowsql\" \
             -DFLOWSQL_QUERIES_DIR=\"$(SYSCONFDIR)/flowsql/queries\" \
             -DFLOWSQL_SYSCONFDIR=\"$(SYSCONFDIR)\" -DFLOWSQL_DOCDIR=\"$(DOCDIR)\"
INST_QUERIES := $(notdir $(wildcard queries/*.sql))
INST_DOCS := README.md LICENSE $(wildcard docs/*.md) docs/openapi.yaml

# Rebuilt when the paths change (the stamp's text is rewritten only then).
$(B)/inst/paths: FORCE
	@mkdir -p $(dir $@)
	@echo '$(INST_DEFS)' | cmp -s - $@ || echo '$(INST_DEFS)' >$@

$(B)/inst/defaults.o: server/defaults.c server/config.h $(B)/inst/paths
	$(CC) $(CFLAGS) $(INST_DEFS) -c -o $@ $<

$(B)/inst/flowsqld: $(B)/obj/server/flowsqld.o $(B)/inst/defaults.o \
                    $(B)/libflowsql.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# The man pages and the sample config, made from the --help texts by
# dist/mkdoc.c (linked with the installed defaults).
$(B)/inst/mkdoc.o: dist/mkdoc.c server/config.h shell/shell.h $(B)/inst/paths
	$(CC) $(CFLAGS) $(INST_DEFS) $(PKG_CFLAGS) -c -o $@ $<

$(B)/inst/mkdoc: $(B)/inst/mkdoc.o $(B)/inst/defaults.o \
                 $(filter-out $(B)/obj/shell/flowsql.o,$(SHELL_OBJ)) \
                 $(B)/libflowsql.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/inst/flowsqld.8 $(B)/inst/flowsql.1 $(B)/inst/flowsqld.conf: \
        $(B)/inst/mkdoc
	$< $(notdir $@) >$@.tmp && mv $@.tmp $@

# flowsql.so, the SQLite loadable extension (dist/sqlite_ext.c; docs/
# STORAGE.md): the ad hoc SQL functions and text views for the sqlite3
# shell. Position-independent, so its own compile of the few files it
# needs, and every symbol resolved inside (SQLite through the loader's
# routines).
EXT_SRC := dist/sqlite_ext.c util/ipaddr.c util/timeutil.c util/sbuf.c \
           util/arena.c
$(B)/flowsql.so: $(EXT_SRC) storage/sqlfunc.c storage/store_int.h \
                 | $(B)/gen/grammar.h
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -fPIC -shared -Wl,-z,defs -o $@ $(EXT_SRC)

# The systemd unit, with the installed paths.
$(B)/inst/flowsqld.service: dist/flowsqld.service.in $(B)/inst/paths
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    -e 's|@DOCDIR@|$(DOCDIR)|g' $< >$@

install: $(B)/inst/flowsqld $(B)/flowsql $(B)/inst/flowsqld.8 \
         $(B)/inst/flowsql.1 $(B)/inst/flowsqld.conf $(B)/inst/flowsqld.service \
         $(B)/flowsql.so
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/flowsql/queries \
	    $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/flowsql/queries \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(LIBDIR)
	install -m 0644 $(B)/inst/flowsqld.service $(DESTDIR)$(UNITDIR)
	install -m 0644 $(B)/flowsql.so $(DESTDIR)$(LIBDIR)
	install -m 0755 $(B)/inst/flowsqld $(B)/flowsql $(DESTDIR)$(BINDIR)
	install -m 0644 $(B)/inst/flowsqld.8 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 $(B)/inst/flowsql.1 $(DESTDIR)$(MANDIR)/man1
	install -m 0644 $(B)/inst/flowsqld.conf $(DESTDIR)$(DATADIR)/flowsql
	[ -e $(DESTDIR)$(SYSCONFDIR)/flowsql/flowsqld.conf ] || install -m 0644 \
	    $(B)/inst/flowsqld.conf $(DESTDIR)$(SYSCONFDIR)/flowsql
	install -m 0644 $(addprefix queries/,$(INST_QUERIES)) \
	    $(DESTDIR)$(DATADIR)/flowsql/queries
	install -m 0644 $(INST_DOCS) $(DESTDIR)$(DOCDIR)
	@for q in $(INST_QUERIES); do \
	    t=$(DESTDIR)$(SYSCONFDIR)/flowsql/queries/$$q; \
	    [ -e $$t ] || install -m 0644 queries/$$q $$t; done

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/flowsqld $(DESTDIR)$(BINDIR)/flowsql \
	    $(DESTDIR)$(MANDIR)/man8/flowsqld.8 $(DESTDIR)$(MANDIR)/man1/flowsql.1 \
	    $(DESTDIR)$(UNITDIR)/flowsqld.service $(DESTDIR)$(LIBDIR)/flowsql.so
	@for q in $(addprefix queries/,$(INST_QUERIES)) flowsqld.conf; do \
	    t=$(DESTDIR)$(SYSCONFDIR)/flowsql/$$q; \
	    s=$(DESTDIR)$(DATADIR)/flowsql/$$q; \
	    if [ -f $$t ] && [ -f $$s ] && ! cmp -s $$s $$t; then \
	        echo "kept $$t (changed)"; else rm -f $$t; fi; done
	rm -f $(addprefix $(DESTDIR)$(DATADIR)/flowsql/queries/,$(INST_QUERIES)) \
	    $(DESTDIR)$(DATADIR)/flowsql/flowsqld.conf
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(INST_DOCS)))
	rmdir $(DESTDIR)$(SYSCONFDIR)/flowsql/queries \
	    $(DESTDIR)$(SYSCONFDIR)/flowsql $(DESTDIR)$(DATADIR)/flowsql/queries \
	    $(DESTDIR)$(DATADIR)/flowsql $(DESTDIR)$(DOCDIR) $(DESTDIR)$(LIBDIR) \
	    2>/dev/null || true

# make deb: the Debian package, built by debian/rules (debhelper) from
# this build directory's objects, into $(B)/deb/flowsql_VERSION-1_ARCH.deb
# (docs/OPERATIONS.md); debhelper's scratch files are removed after.
DEB_PKG := debhelper fakeroot dpkg-dev
deb: deps
	$(call install_missing,$(DEB_PKG))
	rm -f $(B)/deb/flowsql_*.deb
	B=$(B) DEB_OUT=$(B)/deb debian/rules build
	B=$(B) DEB_OUT=$(B)/deb fakeroot debian/rules binary
	rm -rf debian/flowsql debian/.debhelper debian/files debian/*.substvars \
	    debian/*.debhelper debian/*.debhelper.log debian/debhelper-build-stamp

# ---- benchmarks and fuzzing ------------------------------------------------

bench: deps
	$(MAKE) -j2 all $(B)/bench/bench_engine
	./$(B)/bench/bench_engine

# Ingest: decode throughput from an IPFIX file and the loss-free UDP rate
# on loopback (docs/PERFORMANCE.md, "Ingest"). INGEST_FLOWS sets the size.
INGEST_FLOWS ?= 20000000
bench-ingest: deps
	$(MAKE) -j2 all $(B)/bench/bench_ingest_file $(B)/bench/bench_ingest_udp
	./$(B)/flowgen --file /tmp/flowsql-bench.ipfix --flows $(INGEST_FLOWS) \
	    --sources 100000 --seed 1 --summary
	./$(B)/bench/bench_ingest_file /tmp/flowsql-bench.ipfix 3
	rm -f /tmp/flowsql-bench.ipfix
	./$(B)/bench/bench_ingest_udp --flowgen $(B)/flowgen --flows $(INGEST_FLOWS) \
	    --sources 100000 --rates 1000000,2000000,2500000,3000000,3500000,4000000

# sFlow v5 decode samples/s on one core: a typical switch datagram and
# the real captures of tests/data/sflow (docs/PERFORMANCE.md, "sFlow").
bench-sflow: deps
	$(MAKE) -j2 $(B)/bench/bench_sflow
	./$(B)/bench/bench_sflow 3 tests/data/sflow/*.pcap

# The flow meter on one core: a 6 M-packet capture generated once into
# $(B)/bench-pcap.pcap, metered from the file and from memory, through
# flowsqld --read, and by softflowd -r (docs/PERFORMANCE.md).
bench-pcap: deps deps-test
	$(MAKE) -j2 all $(B)/bench/bench_pcap
	B=$(B) bench/pcap_softflowd.sh

# The archive's file format: bytes per flow, write and read flows/s on
# one core (bench/bench_parquet.c; docs/PERFORMANCE.md, "Archive format").
PARQUET_FLOWS ?= 2000000
bench-parquet: deps
	$(call install_missing,nfdump)
	$(MAKE) -j2 all $(B)/bench/bench_parquet
	B=$(B) FLOWS=$(PARQUET_FLOWS) bench/parquet_nfcapd.sh

# The archive on the live path: loss-free UDP rate with the design card
# query, archive off vs on in one run, and bytes per flow on disk against
# nfcapd -y (bench/archive_ingest.sh; docs/PERFORMANCE.md).
bench-archive-ingest: deps
	$(call install_missing,nfdump curl)
	$(MAKE) -j2 $(B)/flowsqld $(B)/flowgen $(B)/tools/pqtool
	B=$(B) bench/archive_ingest.sh
bench-archive: bench-archive-ingest bench-archive-query

# Enrichment and anonymization on the live path: loss-free UDP rate off
# vs on (bench/enrich_ingest.sh; docs/PERFORMANCE.md).
bench-enrich: deps
	$(call install_missing,curl libmaxmind-db-writer-perl)
	$(MAKE) -j2 $(B)/flowsqld $(B)/flowgen
	B=$(B) bench/enrich_ingest.sh

# Queries over the archive against nfdump on the same flows (bench/
# archive_query.sh; docs/PERFORMANCE.md, "Queries over the archive").
# AQ_FLOWS sets the size: 100 M flows, the issue's (about 20 minutes, 9 of
# them sending the flows to nfcapd; 6 GB of temporary files in /tmp).
AQ_FLOWS ?= 100000000
bench-archive-query: deps
	$(call install_missing,nfdump)
	$(MAKE) -j2 $(B)/flowgen $(B)/bench/bench_aquery
	B=$(B) FLOWS=$(AQ_FLOWS) bench/archive_query.sh

# Scale-out on a one-node Kafka broker: the collector's publish rate, 1..3
# workers on a filled topic, a window's end to its merged rows
# (bench/scale_out.sh; docs/PERFORMANCE.md, "Scale-out").
bench-scale-out: deps deps-test
	$(MAKE) -j2 $(B)/flowsqld $(B)/flowgen $(B)/tools/flowsdump
	B=$(B) bench/scale_out.sh

# The peers it measures, and what it reads their answers with.
DEB_PEERS := nfdump pmacct sqlite3 curl jq

bench-peers: deps
	$(call install_missing,$(DEB_PEERS))
	$(MAKE) -j2 $(B)/flowsqld $(B)/flowgen $(B)/peers/peerstat
	B=$(B) bench/peers/run.sh

# Memory under a steady load: all saved queries, stalled stream readers,
# SOAK_RATE flows/s for SOAK_SECONDS (bench/soak.sh; 36 minutes by default).
bench-soak: deps
	$(MAKE) -j2 $(B)/flowsqld $(B)/flowgen
	B=$(B) bench/soak.sh

# The web interface with 100k-row windows: render times in Debian's
# chromium (bench/web_render.sh; docs/PERFORMANCE.md, "Web interface").
bench-web: deps deps-test deps-web
	$(MAKE) -j2 $(B)/flowsqld $(B)/flowgen
	B=$(B) bench/web_render.sh

$(B)/peers/peerstat: $(B)/obj/bench/peers/peerstat.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

FUZZ_SECONDS ?= 60
FUZZ_SRC := $(LIB_SRC) $(GEN_SRC)
# One libFuzzer target per entry: tests/fuzz/fuzz_NAME.c, its kept corpus
# tests/fuzz/corpus/NAME, hand-made seeds tests/fuzz/seeds/NAME, an
# optional dictionary tests/fuzz/NAME.dict. `make fuzz` runs each for
# FUZZ_SECONDS; `make fuzz-NAME` one of them.
FUZZ_TARGETS := parser decode rest parquet
# clang's libFuzzer and sanitizer runtimes
DEB_FUZZ := clang libclang-rt-14-dev
FUZZ_MAXLEN_parser := 4096
FUZZ_MAXLEN_decode := 8192
FUZZ_MAXLEN_rest := 8192
FUZZ_MAXLEN_parquet := 16384
# Fuzz into a scratch corpus (seeded with the kept one and the seeds), then
# merge the inputs that reach new edges into the kept corpus
# (tests/fuzz/minimize.py shrinks it again now and then). A finding is
# left in $(B)/fuzz/NAME/ (crash-*, leak-*, timeout-*).
fuzz: $(addprefix fuzz-,$(FUZZ_TARGETS))

fuzz-%: deps deps-test $(GEN_SRC)
	$(call install_missing,$(DEB_FUZZ))
	@mkdir -p $(B)/fuzz/$* $(B)/fuzz/$*/run tests/fuzz/corpus/$* \
	    tests/fuzz/seeds/$*
	clang -std=gnu11 -g -O1 -D_GNU_SOURCE -DFLOWSQL_VERSION=\"$(VERSION)\" \
	    -I. -I$(B)/gen -Iparser \
	    -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION \
	    $(PKG_CFLAGS) -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -o $(B)/fuzz/fuzz_$* \
	    tests/fuzz/fuzz_$*.c $(FUZZ_SRC) $(LIBS)
	ASAN_OPTIONS=detect_leaks=1 ./$(B)/fuzz/fuzz_$* \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=$(or $(FUZZ_MAXLEN_$*),4096) \
	    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    $(if $(wildcard tests/fuzz/$*.dict),-dict=tests/fuzz/$*.dict) \
	    -artifact_prefix=$(B)/fuzz/$*/ \
	    $(B)/fuzz/$*/run tests/fuzz/corpus/$* tests/fuzz/seeds/$*
	./$(B)/fuzz/fuzz_$* -merge=1 -use_counters=0 -use_cmp=0 \
	    -max_len=$(or $(FUZZ_MAXLEN_$*),4096) tests/fuzz/corpus/$* \
	    $(B)/fuzz/$*/run

clean:
	rm -rf build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
