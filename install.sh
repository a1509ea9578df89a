#!/usr/bin/env bash
# Set up lift3d in ./.venv from this checkout.
#   bash install.sh        the package with every optional format (GLB, OBJ, PLY, STL, USDZ)
#   bash install.sh test   the same plus what the test suite needs
# Nothing needs a GPU or a model hub. Downloads come from PyPI, the npm registry (the
# web app's 3D viewer, web/package-lock.json) and, for `test` as root, Debian's
# chromium package (the real-browser test of `lift3d serve`).
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

# The web app's viewer (<model-viewer>), served locally by `lift3d serve`: no CDN.
if [[ -f web/package-lock.json ]]; then
    if ! command -v npm >/dev/null && command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
        apt-get install -y -qq npm >/dev/null 2>&1 \
            || (apt-get update -qq && apt-get install -y -qq npm >/dev/null) || true
    fi
    if command -v npm >/dev/null; then
        npm ci --prefix web --no-audit --no-fund --loglevel=error >/dev/null
    else
        echo "install.sh: npm not found: the web page's 3D viewer is not installed" \
             "(apt-get install npm, then rerun)" >&2
    fi
fi

# The browser test drives Debian's chromium through Playwright (never a downloaded browser).
if [[ "${1:-}" == "test" ]] && ! command -v chromium >/dev/null; then
    if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
        (apt-get install -y -qq chromium >/dev/null 2>&1 \
            || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)) \
            || echo "install.sh: could not install chromium: the browser test will skip" >&2
    else
        echo "install.sh: chromium missing (apt-get install chromium as root):" \
             "the browser test will skip" >&2
    fi
fi
echo "lift3d installed in .venv ($(.venv/bin/lift3d --version))"
