# Shared by scripts/test and scripts/develop: Python, venv and Debian packages.
# shellcheck shell=bash

APT_PACKAGES=(
  ffmpeg
  python3-gi
  gir1.2-gst-rtsp-server-1.0
  gstreamer1.0-rtsp
  gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly
  libturbojpeg0 # HA's camera scales JPEGs with it (else it logs an error)
  fonts-noto-cjk # "No video signal" pictures in Chinese and Korean (tests/engine/stills/test_caption.py)
  chromium # the browser tests of the NVR wall card (tests/browser)
  chromium-driver
  stress-ng # the overload tests load both cores with it
)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Install the Debian packages the tests and the demo need, when missing.
ensure_apt_packages() {
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  if [ "$(id -u)" != 0 ]; then
    log "Missing Debian packages: ${missing[*]}"
    log "Run this script as root, or: sudo apt-get install ${missing[*]}"
    return 1
  fi
  log "Installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Print a Python >= 3.13 interpreter: $PYTHON, python3.14/3.13 on PATH, or pyenv's.
find_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3.14 python3.13 \
    "$HOME"/.pyenv/versions/3.14*/bin/python "$HOME"/.pyenv/versions/3.13*/bin/python python3; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || [ -x "$candidate" ] || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null; then
      command -v "$candidate" 2>/dev/null || echo "$candidate"
      return 0
    fi
  done
  log "No Python >= 3.13 found (HA 2025.4 needs it). Install one, e.g. with pyenv, or set PYTHON=."
  return 1
}

# venv_install DIR PIP-ARGS...: install into the venv DIR with uv (about half
# pip's time for HA's harness: parallel downloads), or pip when uv fails.
# Neither compiles everything up front: Python compiles what is imported, when
# it is first imported (compiling all of HA's harness costs about 30 s).
venv_install() {
  local dir=$1
  shift
  local cert=${SSL_CERT_FILE:-${PIP_CERT:-}} # the CA bundle pip is told to use, if any
  if [ -x "$dir/bin/uv" ] &&
    env ${cert:+SSL_CERT_FILE="$cert"} "$dir/bin/uv" pip install -q --python "$dir/bin/python" "$@"; then
    return 0
  fi
  log "uv could not install into $dir; using pip"
  "$dir/bin/python" -m pip install -q --no-compile "$@"
}

# ensure_venv DIR REQUIREMENTS...: create DIR with Python >= 3.13 and install
# the requirement files, skipping pip when they have not changed.
ensure_venv() {
  local dir=$1
  shift
  local python stamp want
  if [ ! -x "$dir/bin/python" ]; then
    python=$(find_python)
    log "Creating $dir with $("$python" --version)"
    "$python" -m venv "$dir"
    "$dir/bin/python" -m pip install -q --upgrade pip uv
  fi
  want=$(cat "$@" | sha256sum | cut -c1-16)
  stamp="$dir/.requirements-$want"
  if [ ! -f "$stamp" ]; then
    log "Installing $* into $dir"
    local args=()
    for req in "$@"; do args+=(-r "$req"); done
    venv_install "$dir" "${args[@]}"
    rm -f "$dir"/.requirements-*
    touch "$stamp"
  fi
}

# HA pip-installs the requirements of what it sets up (the frontend, ...) when
# they are missing, which makes its first start slow: install them beforehand.
# $1: HA's config folder (its configuration.yaml, or scripts/develop's default).
ensure_hass_runtime_requirements() {
  local reqs
  reqs=$(.venv/bin/python scripts/develop_setup.py requirements "$1")
  if [ -n "$reqs" ]; then
    local missing
    mapfile -t missing <<<"$reqs"
    log "Installing what Home Assistant needs at run time: ${missing[*]}"
    venv_install .venv "${missing[@]}"
  fi
}

# The npm tarball MediaPipe's object detection model comes from, for the test
# that converts it again (tests/engine/objects/test_native_runtime.py).
# Prints its path.
OBJECT_MODEL_PACKAGE=@mediapipe/objectron@0.4.1675468480
ensure_object_model_source() {
  local dir=.cache/objectron tarball=.cache/objectron/mediapipe-objectron-0.4.1675468480.tgz
  if [ ! -s "$tarball" ]; then
    log "Fetching $OBJECT_MODEL_PACKAGE (the object model's source) with npm"
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "$OBJECT_MODEL_PACKAGE" >/dev/null) || return 1
  fi
  echo "$PWD/$tarball"
}

# A venv with TFLite's own runtime (ai-edge-litert), the baseline the numpy
# runtime is compared with. It has wheels for CPython 3.9-3.12 only, so the
# venv uses such a Python when the machine has one. Prints its python.
ensure_litert_venv() {
  local dir=.venv-litert python candidate
  if [ ! -x "$dir/bin/python" ]; then
    for candidate in python3.12 python3.11 python3.10 "$HOME"/.pyenv/versions/3.1[0-2]*/bin/python; do
      if "$candidate" -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 12))' 2>/dev/null; then
        python=$candidate
        break
      fi
    done
    [ -n "${python:-}" ] || { log "No Python 3.10-3.12 for the LiteRT baseline"; return 1; }
    log "Creating $dir with $("$python" --version) for the LiteRT baseline"
    "$python" -m venv "$dir" >&2
  fi
  if ! "$dir/bin/python" -c "import ai_edge_litert, numpy" 2>/dev/null; then
    "$dir/bin/python" -m pip install -q ai-edge-litert numpy >&2 || return 1
  fi
  echo "$PWD/$dir/bin/python"
}
