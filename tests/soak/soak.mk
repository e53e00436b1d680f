# tests/soak/soak.mk — `make soak`: the echo server (examples/echo_server) in
# each netpoll mode under SOAK_CONNS connections of mixed good and hostile
# clients (tests/soak/soak_client.c) for SOAK_SECONDS, then a report per
# mode (tests/soak/soak.sh). Not part of `make test` or CI: it takes minutes.
#
#   make soak                          10,000 connections, 60 s, both modes
#   make soak SOAK_CONNS=1000 SOAK_SECONDS=20 SOAK_MODES=inline
#
# Included by the Makefile; uses its CC, CFLAGS, BUILD and library rules.

SOAK_SECONDS ?= 60
SOAK_CONNS   ?= 10000
SOAK_MODES   ?= thread inline
SOAK_RSS_MB  ?= 32

.PHONY: soak
$(BUILD)/soak/soak_client: tests/soak/soak_client.c $(LIB_A) $(HDRS) $(FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)

soak: $(BUILD)/examples/echo_server $(BUILD)/soak/soak_client
	@SOAK_SECONDS='$(SOAK_SECONDS)' SOAK_CONNS='$(SOAK_CONNS)' SOAK_MODES='$(SOAK_MODES)' \
	  SOAK_RSS_MB='$(SOAK_RSS_MB)' sh tests/soak/soak.sh '$(BUILD)'
