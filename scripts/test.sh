#!/usr/bin/env bash
# The whole test suite, from a fresh clone: a virtualenv in .venv with rcm and
# its test tools, ruff, then pytest.  Lab tests need root (network
# namespaces); without root they skip, unless RCM_REQUIRE_LAB=1 makes them fail.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
.venv/bin/ruff check .
# The Python example, installed and tested exactly as a third party's handler: its own package,
# pip-installed into the venv (not editable), its own tests run from its own folder through rcm's
# pytest plugin, which loads the installed entry point.
.venv/bin/python -m pip install --quiet --disable-pip-version-check ./examples/mount_guard
(cd examples/mount_guard && ../../.venv/bin/python -m pytest -q -p no:cacheprovider)
exec .venv/bin/python -m pytest "$@"
