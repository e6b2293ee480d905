#!/bin/sh
# webex.sh PROVBOT -- provbot serve in Webex against a local fake Webex
# (tests/fakes/webex_fake.py: U2C, WDM devices, the Mercury WebSocket, REST),
# driven by tests/fakes/webex_suite.py. Loopback only, under a minute.
# Prints TAP.
cd "$(dirname "$0")/.." || exit 1
exec timeout 90 python3 tests/fakes/webex_suite.py "$(realpath "$1")"
