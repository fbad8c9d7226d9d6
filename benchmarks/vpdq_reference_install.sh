#!/usr/bin/env bash
# The reference vPDQ (PyPI `vpdq`, ThreatExchange's C++ with Cython bindings) in a virtualenv of its own,
# .cache/venv-bench-video (git ignores .cache/), so the project's .venv stays clean. It is an sdist that
# builds against FFmpeg's development headers, which come from Debian (needs root). Used by `make bench-video` and benchmarks/vpdq_reference.py.
set -euo pipefail
VENV="${VPDQ_REFERENCE_VENV:-.cache/venv-bench-video}"
PYTHON="${PYTHON:-python3}"
VPDQ_VERSION="${VPDQ_VERSION:-0.2.5}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import vpdq" 2>/dev/null; then
    echo "vpdq reference: $VENV ready"
    exit 0
fi
need=()
for pkg in libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libavdevice-dev libavfilter-dev pkg-config g++; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
    echo "vpdq reference: installing ${need[*]} (Debian)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
# The sdist builds with scikit-build-core, CMake and Cython, which pip fetches into its isolated build env.
"$VENV/bin/pip" install -q "vpdq==$VPDQ_VERSION"
"$VENV/bin/python" -c "import vpdq; print('vpdq reference: installed', getattr(vpdq, '__version__', '$VPDQ_VERSION'))"
