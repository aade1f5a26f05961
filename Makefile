# deskphone: two commands.
#   make run    set up .venv and start the phone (sim board, front panel on http://127.0.0.1:8080)
#   make test   install what the tests need (Debian packages, .venv) and run them
#   make bench  measure start->REGISTERED, INVITE->180, idle CPU/RSS beside baresip
# Works on Debian 12 / Ubuntu 24.04 (Python 3.11 or 3.12). Installs with apt-get as root, or
# through sudo when not root.

SHELL := /bin/bash
.DEFAULT_GOAL := run

BOARD ?= sim
DATA ?= var
HTTP ?= 127.0.0.1:8080
PYTEST_ARGS ?=
# two workers, a test file each: the suite waits on peers and timers more than it computes
PYTEST_WORKERS ?= 2

VENV := .venv
VPY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# the first Python the pjsua2 wheel supports: python3 if it is 3.11/3.12, else python3.12/3.11
PYTHON ?= $(shell for p in python3 python3.12 python3.11; do \
	  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not (3,11) <= sys.version_info[:2] <= (3,12))' 2>/dev/null && { echo $$p; break; }; \
	done)

# Debian packages: to build the venv, and the real peers the tests start.
APT_RUN  := python3-venv $(if $(filter python3.%,$(PYTHON)),$(PYTHON)-venv)
# the LCD's CJK bitmap font (phone.language zh; ui/faces.py) and a C compiler for the SIP
# gate's INVITE path (firmware/sip/fastgate.c): installed by run and test
APT_FONTS := xfonts-wqy
APT_BUILD := gcc libc6-dev
APT_TEST := kamailio kamailio-presence-modules sip-tester baresip chromium iproute2 \
            tftpd-hpa tftp-hpa nginx vsftpd dnsmasq isc-dhcp-client openssl slapd ldap-utils \
            $(APT_FONTS) $(APT_BUILD)

.PHONY: run test bench apt-run apt-test venv venv-test clean lint

FASTGATE := firmware/sip/_fastgate.so

run: venv
	@$(MAKE) --no-print-directory apt-run APT_RUN="$(APT_FONTS) $(APT_BUILD)"
	@$(MAKE) --no-print-directory $(FASTGATE) || echo "the phone runs the Python SIP gate alone" >&2
	@$(VPY) -m compileall -q firmware board drivers ui provisioning >/dev/null || true
	$(VPY) -m firmware.boot --board $(BOARD) --data-dir $(DATA) --http $(HTTP)

test: venv-test apt-test $(FASTGATE)
	$(VPY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

bench: venv-test apt-test $(FASTGATE)
	$(VPY) -m tests.bench

# the SIP gate's INVITE path in C (docs/sip-gate.md); the phone runs without it, slower
$(FASTGATE): firmware/sip/fastgate.c firmware/sip/fastgate.py
	$(or $(PYTHON),python3) -m firmware.sip.fastgate

venv: $(VENV)/.runtime
venv-test: $(VENV)/.test

$(VENV)/.runtime: requirements.txt
	@[ -n "$(PYTHON)" ] || { echo "Python 3.11 or 3.12 is needed (the pjsua2 wheel has none for other versions): apt-get install python3.11 python3.11-venv" >&2; exit 1; }
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || $(MAKE) --no-print-directory apt-run
	@[ "$$(uname -m)" = x86_64 ] || $(PYTHON) -c 'import pjsua2' 2>/dev/null || { \
	  echo "No pjsua2 for $$(uname -m): build pjproject with its Python binding first (README: On a Raspberry Pi)" >&2; exit 1; }
	$(PYTHON) -m venv $(if $(filter-out x86_64,$(shell uname -m)),--system-site-packages) $(VENV)
	$(VPY) -m pip install --disable-pip-version-check -q -r requirements.txt
	@touch $@

$(VENV)/.test: $(VENV)/.runtime requirements-test.txt
	$(VPY) -m pip install --disable-pip-version-check -q -r requirements-test.txt
	@touch $@

apt-run:
	@missing=$$(for p in $(APT_RUN); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing: $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; fi

# The tests start their own servers on 127.0.0.1; the system services these packages may
# start on install (nginx on :80, vsftpd on :21, dnsmasq, tftpd, slapd) are stopped and disabled,
# only for packages installed here.
SERVICES := nginx vsftpd dnsmasq tftpd-hpa slapd

apt-test:
	@missing=$$(for p in $(APT_TEST); do dpkg -s $$p 2>/dev/null | grep -q '^Status: install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing: $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	  for s in $(SERVICES); do case " $$missing " in *" $$s "*) \
	    command -v systemctl >/dev/null && $(SUDO) systemctl disable --now $$s >/dev/null 2>&1 || true;; esac; done; fi

clean:
	rm -rf $(VENV) .pytest_cache $(FASTGATE)
