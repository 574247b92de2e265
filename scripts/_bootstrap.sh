# Sourced by scripts/run and scripts/test: make sure uv exists, then sync the locked environment
# into .venv. Needs only python3 (>= 3.11) and access to the package registry. scripts/test also
# calls ensure_test_tools (Debian's chromium, prometheus and systemd, for the tests that drive them).
set -euo pipefail

PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UV_VERSION="0.13.9"
export UV_PYTHON_DOWNLOADS=never
export UV_PROJECT_ENVIRONMENT="$PROJECT_DIR/.venv"

find_python() {
    local candidate
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            # The interpreter itself, not a shim (pyenv's): uv recreates a venv whose interpreter is not
            # the path it was asked for, at every sync.
            "$candidate" -c 'import sys; print(sys.executable)'
            return 0
        fi
    done
    echo "parquet-exporter needs Python >= 3.11 on PATH" >&2
    return 1
}

find_uv() {
    if command -v uv >/dev/null 2>&1; then
        command -v uv
    elif [ -x "$PROJECT_DIR/.tools/uv/bin/uv" ]; then
        echo "$PROJECT_DIR/.tools/uv/bin/uv"
    else
        local python
        python="$(find_python)"
        echo "bootstrap: installing uv $UV_VERSION into .tools/uv" >&2
        "$python" -m venv "$PROJECT_DIR/.tools/uv" >&2
        "$PROJECT_DIR/.tools/uv/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION" >&2
        echo "$PROJECT_DIR/.tools/uv/bin/uv"
    fi
}

# Extra arguments go to `uv sync` (scripts/test passes `--group spark` when Java works).
bootstrap() {
    local uv python
    uv="$(find_uv)"
    python="$(find_python)"
    # Bytecode is compiled here, once per lock file: a process that finds no .pyc (PYTHONDONTWRITEBYTECODE,
    # a read-only venv) compiles every module it imports, ~0.75 s at each start of the CLI. Compiling
    # checks every file of the venv (~7 s even when nothing changed), so a stamp of uv.lock skips it.
    local stamp="$PROJECT_DIR/.venv/.bytecode-for-lock" lock_sum
    lock_sum="$("$python" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' \
        "$PROJECT_DIR/uv.lock")"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ]; then
        (cd "$PROJECT_DIR" && "$uv" sync --locked --quiet --python "$python" "$@") >&2
    else
        (cd "$PROJECT_DIR" && "$uv" sync --locked --quiet --compile-bytecode --python "$python" "$@") >&2
        echo "$lock_sum" >"$stamp"
    fi
    "$PROJECT_DIR/.venv/bin/python" -m compileall -q "$PROJECT_DIR/daemon" >&2
}

# Tests that drive a real tool take it from Debian's packages, never a download of their own:
# `ensure_tool COMMAND PACKAGE WHAT` installs PACKAGE when COMMAND is missing and this is root with
# apt-get; otherwise, or when that fails, WHAT skips and says why. Never fails the caller.
ensure_tool() {
    local command="$1" package="$2" what="$3"
    command -v "$command" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: $command is missing (as root: apt-get install $package); $what will skip" >&2
        return 0
    fi
    echo "bootstrap: installing Debian's $package for $what" >&2
    local install=(apt-get install -y -qq --no-install-recommends "$package")
    if ! DEBIAN_FRONTEND=noninteractive "${install[@]}" >/dev/null 2>&1; then
        apt-get update -qq >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive "${install[@]}" >/dev/null 2>&1 ||
            echo "bootstrap: could not install $package; $what will skip" >&2
    fi
    return 0
}

# chromium for the report's browser test; promtool (Debian's prometheus) for the metrics tests;
# systemd-analyze (Debian's systemd) for the unit's verify test.
ensure_test_tools() {
    ensure_tool chromium chromium "the browser tests"
    ensure_tool promtool prometheus "the promtool tests"
    # Only promtool is wanted: on a host running systemd the package also starts a Prometheus server.
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    fi
    ensure_tool systemd-analyze systemd "the systemd unit's verify test"
}
