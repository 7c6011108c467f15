# mf_ext - a model factory inside PostgreSQL.
#
# Two libraries and one program are built:
#   mf_ext.so   the part that sits in shared_preload_libraries (GUCs, the
#               background-worker launcher); it never links OpenBLAS, so the
#               postmaster starts no BLAS threads before it forks.
#   mf_core.so  SQL functions, config library and numeric kernels; loaded
#               on first use by a backend or by a job worker.
#   mf-serve    the standalone HTTP server (serve/: pure C, no PostgreSQL),
#               installed into pg_config --bindir beside the extension.
#
# Set-up and tests on a fresh machine: `make demo`, `make test` (see README).

EXTENSION   = mf_ext
EXTVERSION  = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" mf_ext.control)
# The released version the upgrade script of this one starts from.
PREVVERSION = 0.5.0
# The install script of this version is built from one file per concern
# (as pgvector builds vector--x.y.z.sql); sql/mf_ext--*.sql are the frozen
# install and upgrade scripts of released versions (never edited).
SQL_PARTS   = sql/catalog.sql sql/catalog_view.sql sql/observe_views.sql sql/registry.sql sql/config_yaml.sql \
              sql/training.sql sql/prediction.sql sql/jobs.sql sql/deploy.sql sql/image.sql sql/registries.sql sql/http.sql sql/k8s.sql \
              sql/alerts.sql sql/observe.sql sql/drift.sql sql/monitor.sql sql/privileges.sql
DATA        = $(wildcard sql/mf_ext--*.sql)
DATA_built  = build/mf_ext--$(EXTVERSION).sql build/mf_ext--$(PREVVERSION)--$(EXTVERSION).sql
# An upgrade script: its own part (tables, dropped signatures), the view, then every
# function of the new version as CREATE OR REPLACE (so objects of users that
# depend on them stay), then the privileges.
SQL_FUNCS   = sql/registry.sql sql/config_yaml.sql sql/training.sql sql/prediction.sql sql/jobs.sql sql/deploy.sql \
              sql/image.sql sql/registries.sql sql/http.sql sql/k8s.sql sql/alerts.sql sql/observe.sql sql/drift.sql sql/monitor.sql

PG_CONFIG  ?= /usr/lib/postgresql/15/bin/pg_config

# Preloaded library: no BLAS, no jansson.
MODULE_big  = mf_ext
OBJS        = $(patsubst %.c,%.o,$(wildcard bgworker/*.c))

# Core library: SQL-callable functions over pure C kernels.
# Pure C (no PostgreSQL headers): the config library, the numeric kernels and
# the model module; linked into mf_core and into the unit tests.
KERNEL_SRCS = $(wildcard config/*.c kernels/*.c model/*.c)
KERNEL_OBJS = $(KERNEL_SRCS:.c=.o)
# Served model directories and their tars (pure C on libarchive; the image builder reuses them).
IMAGE_SRCS  = $(wildcard image/*.c)
CORE_SRCS   = $(wildcard src/*.c)
# Manifests and smoke tests of image deployments (pure C on jansson, libyaml, libcurl).
DEPLOY_SRCS = $(wildcard deploy/*.c)
# mf_core also defines the session GUCs when mf_ext is not preloaded; it
# links the serving core, which the HTTP worker's serving processes run.
# It also links the tokenizer shim of text/ (C++ on SentencePiece), which the
# pure-C folders never include, and its training half.
CORE_OBJS   = $(CORE_SRCS:.c=.o) bgworker/session_gucs.o $(KERNEL_OBJS) $(IMAGE_SRCS:.c=.o) $(DEPLOY_SRCS:.c=.o) \
              $(SERVE_OBJS) $(TEXT_OBJS) $(TEXT_TRAIN_OBJ)
CORE_LIBS   = -ljansson -lyaml -lz -larchive -lm -ldl
# The HTTP client of smoke tests, registries, alert webhooks and the monitor
# worker's health checks: mf_core only, never mf-serve (images stay small).
CURL_LIBS   = -lcurl
# mf_core loads OpenBLAS on first use (src/blas_loader.c); the unit tests link it.
BLAS_LIBS   = -lopenblas

# The HTTP serving core (serve/*.c but the program's main) and mf-serve.
SERVE_SRCS  = $(filter-out serve/mf_serve.c,$(wildcard serve/*.c))
# numjson/: numeric request bodies read by simdjson (C++ behind a C interface,
# outside the pure-C folders, as text/ is); linked wherever the serving core is.
NUMJSON_OBJ = build/numjson/numjson.o
SERVE_OBJS  = $(SERVE_SRCS:.c=.o) $(NUMJSON_OBJ)
# The one owner of serving.json's format (image/, no libarchive): mf-serve reads
# served directories through it; mf_core has it among the image objects.
SERVING_JSON_SRCS = image/serving_json.c
SERVE_LIBS  = -lmicrohttpd -lcrypto -lpthread -lsimdjson -lstdc++
NUMJSON_CXXFLAGS = -std=c++17 -O2 -g -Wall -Wextra -fPIC
# Text models (text/): running them (pure C) and the tokenizer shim (C++ on
# SentencePiece); the serving core serves transformers through them, so
# mf_core, mf-serve and every test linking serve/ link them.  Training the
# tokenizer is its own object on libsentencepiece_train (1.5 MB): only what
# trains links it (mf_core and the unit tests that train a tokenizer), so
# mf-serve and its images do not carry it.
TEXT_OBJS   = text/text_run.o build/text/tokenizer.o
TEXT_TRAIN_OBJ = build/text/tokenizer_train.o

PG_CPPFLAGS = -I$(CURDIR)/config -I$(CURDIR)/kernels -I$(CURDIR)/model -I$(CURDIR)/image -I$(CURDIR)/src -I$(CURDIR)/bgworker \
              -I$(CURDIR)/serve -I$(CURDIR)/text -I$(CURDIR)/deploy -I$(CURDIR)/numjson
PG_CFLAGS   = -std=gnu11 $(MF_CFLAGS)
EXTRA_CLEAN = mf_core$(DLSUFFIX) $(CORE_OBJS) $(SERVE_OBJS) serve/mf_serve.o build regression.diffs regression.out results

REGRESS      = $(basename $(notdir $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --outputdir=build/regress --load-extension=mf_ext

# Bitcode for JIT inlining is not worth a clang dependency here.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
all:
	@echo "PostgreSQL 15 development files are missing: run 'make deps' (or 'make demo')." >&2; exit 1
endif

.DEFAULT_GOAL := all

all: mf_core$(DLSUFFIX) $(DATA_built) build/mf-serve

build/mf_ext--$(EXTVERSION).sql: $(SQL_PARTS) mf_ext.control
	@mkdir -p build
	cat $(SQL_PARTS) >$@

build/mf_ext--$(PREVVERSION)--$(EXTVERSION).sql: sql/upgrade/$(PREVVERSION)--$(EXTVERSION).sql sql/catalog_view.sql \
		sql/observe_views.sql $(SQL_FUNCS) sql/privileges.sql
	@mkdir -p build
	{ cat sql/upgrade/$(PREVVERSION)--$(EXTVERSION).sql sql/catalog_view.sql sql/observe_views.sql; sed 's/^CREATE FUNCTION /CREATE OR REPLACE FUNCTION /' $(SQL_FUNCS); \
	  cat sql/privileges.sql; } >$@

# -Bsymbolic: mf_core's calls of its own functions are bound at link time, so a
# backend loading it resolves only what it imports (half of the 552 symbol
# relocations were its own functions, looked up through the server's scope).
mf_core$(DLSUFFIX): $(CORE_OBJS)
	$(CC) $(CFLAGS) -shared -o $@ $(CORE_OBJS) $(LDFLAGS) $(LDFLAGS_SL) -Wl,-Bsymbolic $(CORE_LIBS) $(SERVE_LIBS) \
		$(CURL_LIBS) $(TEXT_TRAIN_LIBS) $(TEXT_LIBS)
	@# the server's own json_object() would shadow jansson's (see mf_config.h)
	@if nm -D --undefined-only $@ | grep -qw json_object; then \
		echo "mf_core calls json_object(): use mf_json_object_new()" >&2; rm -f $@; exit 1; fi
	@# every OpenBLAS symbol mf_core needs must have a trampoline in src/blas_loader.c
	@lib="$$($(CC) -print-file-name=libopenblas.so.0)"; if [ -f "$$lib" ]; then \
		nm -D --defined-only "$$lib" | awk '{print $$NF}' | sed 's/@.*//' | sort -u >$@.blas; \
		missing="$$(nm -D --undefined-only $@ | awk '{print $$NF}' | sed 's/@.*//' | sort -u | comm -12 - $@.blas)"; \
		rm -f $@.blas; \
		if [ -n "$$missing" ]; then echo "mf_core calls OpenBLAS without a trampoline in src/blas_loader.c:" $$missing >&2; \
			rm -f $@; exit 1; fi; fi

$(CORE_OBJS): $(wildcard config/*.h kernels/*.h model/*.h image/*.h serve/*.h src/*.h bgworker/*.h deploy/*.h)
$(SERVE_OBJS) serve/mf_serve.o text/text_run.o: $(wildcard kernels/*.h model/*.h serve/*.h text/*.h image/serving_json.h image/tar.h)

$(NUMJSON_OBJ): numjson/numjson.cc numjson/numjson.h
	@mkdir -p build/numjson
	$(CXX) $(NUMJSON_CXXFLAGS) -c -o $@ $<

# The standalone server: the serving core, the model module and kernels, no PostgreSQL.
build/mf-serve: serve/mf_serve.o $(SERVE_OBJS) $(SERVING_JSON_SRCS:.c=.o) $(KERNEL_OBJS) $(TEXT_OBJS)
	@mkdir -p build
	$(CC) $(CFLAGS) -o $@ serve/mf_serve.o $(SERVE_OBJS) $(SERVING_JSON_SRCS:.c=.o) $(TEXT_OBJS) $(KERNEL_OBJS) $(LDFLAGS) \
		$(SERVE_LIBS) $(CORE_LIBS) $(BLAS_LIBS) $(TEXT_LIBS)
# The row loops of predict.c (argument copies, encoding) need the vectorizer's
# dynamic cost model (-O2 uses "very cheap", which leaves loops of unknown length scalar).
src/predict.o: CFLAGS += -fvect-cost-model=dynamic
# So do the binary logistic pass, the linear Gram sums and the encoding loops;
# they are element-wise or sum each column in row order: same results.
kernels/logreg.o kernels/linreg.o kernels/moments.o src/features.o src/source.o: CFLAGS += -fvect-cost-model=dynamic
# So do the model module's row scorer (MLP dense rows, scaling), which every
# prediction form calls.
model/model.o: CFLAGS += -fvect-cost-model=dynamic
# The transformer kernels and their float math (kernels/vecmath.h): the
# dynamic cost model, and no trapping math so the clamps of exp / erf are
# if-converted (no FP exception is ever enabled here: same results).
TF_VEC_OBJS = kernels/vecmath.o kernels/activations.o $(patsubst %.c,%.o,$(wildcard kernels/transformer_*.c))
$(TF_VEC_OBJS): CFLAGS += -fvect-cost-model=dynamic -fno-trapping-math
$(TF_VEC_OBJS): kernels/vecmath.h

install: install-core install-serve
install-core: mf_core$(DLSUFFIX)
	$(INSTALL_SHLIB) mf_core$(DLSUFFIX) '$(DESTDIR)$(pkglibdir)/'
install-serve: build/mf-serve
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) build/mf-serve '$(DESTDIR)$(bindir)/mf-serve'

uninstall: uninstall-core uninstall-serve
uninstall-core:
	rm -f '$(DESTDIR)$(pkglibdir)/mf_core$(DLSUFFIX)'
uninstall-serve:
	rm -f '$(DESTDIR)$(bindir)/mf-serve'

installcheck: | build/regress
build/regress:
	mkdir -p $@

# C unit tests of the pure-C folders (config/, kernels/, model/, serve/, image/): each
# test/unit/test_*.c is one program.
UNIT_SRCS  = $(wildcard test/unit/test_*.c)
IMAGE_UNIT_SRCS = $(wildcard image/test/test_*.c)
UNIT_BINS  = $(patsubst test/unit/%.c,build/unit/%,$(UNIT_SRCS)) \
             $(patsubst image/test/%.c,build/unit/%,$(IMAGE_UNIT_SRCS))
UNIT_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -g -Wall -Wextra -Iconfig -Ikernels -Imodel $(MF_CFLAGS)

# The tests link the very objects mf_core and mf-serve are built from (compiled
# once, kept in two archives), not a per-test compilation of every source.
KERNEL_LIB = build/libmfkernels.a
SERVE_LIB  = build/libmfserve.a

$(KERNEL_LIB): $(KERNEL_OBJS)
	@mkdir -p build
	rm -f $@ && $(AR) rcs $@ $^

$(SERVE_LIB): $(SERVE_OBJS) $(SERVING_JSON_SRCS:.c=.o) $(TEXT_OBJS)
	@mkdir -p build
	rm -f $@ && $(AR) rcs $@ $^

build/unit/%: test/unit/%.c $(wildcard test/unit/*.h) $(KERNEL_LIB) $(wildcard config/*.h kernels/*.h model/*.h)
	@mkdir -p build/unit
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(KERNEL_LIB) $(CORE_LIBS) $(BLAS_LIBS)

# The serving core's tests (test_serve_*.c) also link serve/ (not mf-serve's main);
# those that train a tokenizer add its training half (TRAIN_LINK).
build/unit/test_serve_%: test/unit/test_serve_%.c $(wildcard test/unit/*.h serve/*.h image/*.h) $(SERVE_LIB) $(KERNEL_LIB)
	@mkdir -p build/unit
	$(CC) $(UNIT_CFLAGS) -D_GNU_SOURCE -Iserve -Iimage -Inumjson -Itext -o $@ $< $(TRAIN_LINK) $(SERVE_LIB) $(KERNEL_LIB) \
		$(SERVE_LIBS) $(CORE_LIBS) $(BLAS_LIBS) $(TEXT_LIBS)
build/unit/test_serve_text: $(TEXT_TRAIN_OBJ)
build/unit/test_serve_text: TRAIN_LINK = $(TEXT_TRAIN_OBJ) $(TEXT_TRAIN_LIBS)

# text/: the SentencePiece tokenizer shim (C++ behind a C interface, outside
# the pure-C folders); its unit test links it instead of the kernels.
TEXT_CXXFLAGS = -std=c++17 -O2 -g -Wall -Wextra -fPIC
TEXT_LIBS  = -lsentencepiece -lstdc++
TEXT_TRAIN_LIBS = -lsentencepiece_train
TEXT_BINS  = build/unit/test_tokenizer

build/text/%.o: text/%.cc text/tokenizer.h text/tokenizer_int.h
	@mkdir -p build/text
	$(CXX) $(TEXT_CXXFLAGS) -c -o $@ $<

$(TEXT_BINS): build/unit/%: test/unit/%.c build/text/tokenizer.o $(TEXT_TRAIN_OBJ) text/tokenizer.h test/unit/mf_test.h
	@mkdir -p build/unit
	$(CC) $(UNIT_CFLAGS) -Itext -o $@ $< $(TEXT_TRAIN_OBJ) build/text/tokenizer.o $(TEXT_TRAIN_LIBS) $(TEXT_LIBS)

# Tests that need both the tokenizer shim and the kernels (the decoder LM on text).
TEXT_KERNEL_BINS = build/unit/test_transformer_lm

$(TEXT_KERNEL_BINS): build/unit/%: test/unit/%.c build/text/tokenizer.o $(TEXT_TRAIN_OBJ) text/tokenizer.h $(KERNEL_LIB) $(wildcard kernels/*.h) test/unit/mf_test.h
	@mkdir -p build/unit
	$(CC) $(UNIT_CFLAGS) -Itext -o $@ $< $(TEXT_TRAIN_OBJ) build/text/tokenizer.o $(KERNEL_LIB) $(TEXT_TRAIN_LIBS) $(TEXT_LIBS) \
		$(CORE_LIBS) $(BLAS_LIBS)

# The text runner (text/text_run.c) on the kernels, the model module and the tokenizer shim.
TEXT_RUN_BINS = build/unit/test_text_run

$(TEXT_RUN_BINS): build/unit/%: test/unit/%.c $(TEXT_OBJS) $(TEXT_TRAIN_OBJ) $(KERNEL_LIB) $(wildcard kernels/*.h model/*.h text/*.h) test/unit/mf_test.h
	@mkdir -p build/unit
	$(CC) $(UNIT_CFLAGS) -Itext -o $@ $< $(TEXT_TRAIN_OBJ) $(TEXT_OBJS) $(KERNEL_LIB) $(TEXT_TRAIN_LIBS) $(TEXT_LIBS) \
		$(CORE_LIBS) $(BLAS_LIBS)

# bench/transformer.sh's driver of the kernels (`make bench` builds it).
build/bench/transformer_bench: bench/transformer_bench.c $(KERNEL_LIB) $(wildcard kernels/*.h)
	@mkdir -p build/bench
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(KERNEL_LIB) $(CORE_LIBS) $(BLAS_LIBS)

# The serving handler alone, without sockets (bench/serve.sh runs it beside the HTTP doors).
build/bench/serve_handler_bench: bench/serve_handler_bench.c $(SERVE_LIB) $(KERNEL_LIB) $(wildcard serve/*.h)
	@mkdir -p build/bench
	$(CC) $(UNIT_CFLAGS) -D_GNU_SOURCE -Iserve -o $@ $< $(SERVE_LIB) $(KERNEL_LIB) $(SERVE_LIBS) $(CORE_LIBS) $(BLAS_LIBS) $(TEXT_LIBS)

# The OCI registry client (image/registry*.c, on libcurl, jansson and
# libcrypto): its unit test and the command test/integration/registry_push.sh drives.
REGISTRY_SRCS = $(wildcard image/registry*.c)
REGISTRY_BINS = build/unit/test_registry build/unit/registry_cli

$(REGISTRY_BINS): build/unit/%: test/unit/%.c $(REGISTRY_SRCS) $(wildcard image/registry*.h) test/unit/mf_test.h
	@mkdir -p build/unit
	$(CC) $(UNIT_CFLAGS) -D_GNU_SOURCE -Iimage -o $@ $< $(REGISTRY_SRCS) -ljansson -lcurl -lcrypto

# image/: served model directories and tars on libarchive; its unit test links
# only them.
IMAGE_TAR_SRCS = image/tar.c image/model_dir.c image/serving_json.c
IMAGE_BINS = build/unit/test_model_dir

$(IMAGE_BINS): build/unit/%: test/unit/%.c $(IMAGE_TAR_SRCS) $(wildcard image/*.h) test/unit/mf_test.h
	@mkdir -p build/unit
	$(CC) $(UNIT_CFLAGS) -Iimage -o $@ $< $(IMAGE_TAR_SRCS) -larchive -ljansson

# The OCI image builder and verifier (image/oci*.c): they link the serving core
# (the verifier's in-process handler) and the kernels.
OCI_BINS = build/unit/test_oci build/unit/oci_cli
OCI_IMAGE_SRCS = $(filter-out $(wildcard image/registry*.c),$(IMAGE_SRCS))

$(OCI_BINS): build/unit/%: test/unit/%.c $(OCI_IMAGE_SRCS:.c=.o) $(SERVE_LIB) $(KERNEL_LIB) $(wildcard image/*.h serve/*.h) test/unit/mf_test.h
	@mkdir -p build/unit
	$(CC) $(UNIT_CFLAGS) -D_GNU_SOURCE -Iimage -Iserve -o $@ $< $(OCI_IMAGE_SRCS:.c=.o) $(SERVE_LIB) $(KERNEL_LIB) \
		$(SERVE_LIBS) $(CORE_LIBS) $(BLAS_LIBS) $(TEXT_LIBS)

# deploy/: the manifests (the smoke tester needs a server: test/integration/smoke_test.sh).
DEPLOY_UNIT_SRCS = deploy/k8s.c deploy/iot_edge.c deploy/options.c deploy/yaml_out.c

build/unit/test_deploy_%: test/unit/test_deploy_%.c $(DEPLOY_UNIT_SRCS) $(wildcard deploy/*.h) test/unit/mf_test.h
	@mkdir -p build/unit
	$(CC) $(UNIT_CFLAGS) -Ideploy -o $@ $< $(DEPLOY_UNIT_SRCS) -ljansson -lyaml

# Tools the integration tests run (not TAP tests themselves).
UNIT_TOOLS = build/unit/model_score_cli build/unit/oci_cli build/unit/tf_torch_dump build/unit/artifact_cli \
             build/unit/tf_embed_artifact

unit-build: $(UNIT_BINS) $(TEXT_BINS) $(TEXT_KERNEL_BINS) $(TEXT_RUN_BINS) $(UNIT_TOOLS) $(REGISTRY_BINS)

# The two commands of the README, plus helpers.
deps:
	scripts/install-deps.sh
demo:
	scripts/demo.sh
# Drops mf_ext in database mf of the demo cluster (after listing what that drops), then runs the demo.
reset:
	scripts/demo.sh --reset
test:
	scripts/run-tests.sh
# Stops the demo cluster and its local OCI registry (their data stays).
stop:
	scripts/cluster.sh stop
start:
	scripts/cluster.sh start
bench:
	bench/run.sh

.PHONY: install-core uninstall-core install-serve uninstall-serve unit-build deps demo reset test stop start bench
