#!/usr/bin/env bash
# Set up lift3d in ./.venv from this checkout.
#   bash install.sh        the package with every optional format (GLB, OBJ, PLY, STL, USDZ)
#   bash install.sh test   the same plus what the test suite needs
# Nothing needs a GPU, a model hub or any download beyond PyPI.
set -euo pipefail
cd "$(dirname "$0")"

extras="all"
if [[ "${1:-}" == "test" ]]; then extras="all,test"; fi

# System packages: the wheels lift3d uses (OpenCV headless, usd-core, xatlas) bundle
# their native libraries, so none are needed on Debian/Ubuntu. Python >= 3.10 with
# venv is the one requirement; install it with apt where it is missing.
if ! python3 -c 'import sys, venv, ensurepip; assert sys.version_info >= (3, 10)' 2>/dev/null; then
    if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
        apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-pip
    else
        echo "install.sh: need Python >= 3.10 with venv (apt-get install python3-venv)" >&2
        exit 2
    fi
fi

if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install -q --upgrade pip
# constraints.txt pins versions known to work together (and torch to the CPU build,
# should an extra ever pull it in).
.venv/bin/python -m pip install -q -c constraints.txt -e ".[${extras}]"
echo "lift3d installed in .venv ($(.venv/bin/lift3d --version))"
