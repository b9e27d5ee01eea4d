#!/usr/bin/env bash
# The lab demo, from a fresh clone: builds a throwaway network-namespace lab
# (a host with two NICs in IPMP group g, a switch, a client with a live TCP
# conversation), runs rcmd, and walks through detach, veto, reattach, surprise
# removal and a NIC missing at boot.  Needs root; leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
exec .venv/bin/rcm-lab-demo "$@"
