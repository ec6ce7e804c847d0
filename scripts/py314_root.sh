#!/usr/bin/env bash
# A Debian sid root with Python 3.14, for the HA 2026 line of the tests.
#
#   scripts/py314_root.sh build                 # (as root) make the root and its venvs, or bring them up to date
#   scripts/py314_root.sh run [--hass] [--] CMD...  # run CMD inside the root, in this repo, a venv first on PATH
#   scripts/py314_root.sh shell [--hass]        # an interactive shell there
#   scripts/py314_root.sh mount | umount        # keep the bind mounts up between runs / take them all down
#   scripts/py314_root.sh status | clean        # what is built and mounted / delete the root
#
# The root is kept in .py314-root/ (ignored by git). It is debootstrapped again
# only when the recipe below changes (its hash is kept in the root), and its
# venvs are reinstalled only when their requirements change:
#   /opt/py314/venv  requirements_test.txt (its python >= 3.14 branch: the newest
#                    HA test harness) plus PY314_PIP_EXTRA; `run` puts it first on PATH;
#                    (a venv is made anew when what it installs changes)
#   /opt/py314/hass  homeassistant==PY314_HASS_VERSION with what a real hass loads
#                    at start and what the browser and process tests need to run
#                    (tests/browser/harness.py starts the `hass` beside sys.executable);
#                    `run --hass` puts it first on PATH.
# The repo is bind-mounted inside the root at its own path, so paths match
# inside and outside. /proc, /dev, /dev/shm, /dev/pts and /sys are bind-mounted,
# resolv.conf, the CA bundle and pip's configuration are copied in (and the
# local folders pip's configuration names are bind-mounted read-only), so pip
# reaches the same indexes as on the host. `run` mounts what is missing and,
# when it is the last run going and nothing asked to keep them (`mount`),
# unmounts it all when it ends.
#
# Sourcing this file defines the py314_* functions and runs nothing.
set -euo pipefail

PY314_SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
PY314_REPO=$(cd "$(dirname "$PY314_SCRIPT")/.." && pwd -P)
PY314_ROOT=${PY314_ROOT:-$PY314_REPO/.py314-root}
PY314_STATE=${PY314_ROOT}.state # run markers and the mount lock, outside the root
PY314_VENV=/opt/py314/venv
# shellcheck source=scripts/lib.sh
source "$(dirname "$PY314_SCRIPT")/lib.sh" # APT_PACKAGES, part of the recipe
PY314_HASS_VENV=/opt/py314/hass

# >>> recipe: any change here rebuilds the root from scratch
PY314_SUITE=sid
PY314_INCLUDE=python3.14,python3.14-venv,ca-certificates
# The host line's packages (scripts/lib.sh), and what the root needs besides.
PY314_APT=(
  python3.14-venv
  "${APT_PACKAGES[@]}"
  fonts-dejavu-core
  iproute2 # tests/devices' network namespace
  procps
  mount
  tzdata
  g++ # what hass 2026.11 installs at its start has no Python 3.14 wheel for some (pyspeex-noise)
  python3.14-dev
)
# Inside the root, apt ignores Valid-Until: the mirror's sid Release file can be past it.
PY314_APT_OPTS=(-o Acquire::Check-Valid-Until=false -o APT::Install-Recommends=false -o Dpkg::Use-Pty=0)
# <<< recipe

# Added to requirements_test.txt in /opt/py314/venv (none needed today).
PY314_PIP_EXTRA=()
# The real hass of the browser and process tests, and what those tests import.
PY314_HASS_VERSION=${PY314_HASS_VERSION:-2026.11.0}
PY314_HASS_REQS=(
  "homeassistant==$PY314_HASS_VERSION"
  "av>=19.0.0" "PyTurboJPEG>=1.8.3" "onvif-zeep-async>=4.0.1" "WSDiscovery==2.1.2" "threadpoolctl>=3.5"
  "selenium>=4.32" "py-spy>=0.4"
  pytest pytest-asyncio pytest-timeout pytest-socket
)

py314_log() { printf '\033[1m==> [py314] %s\033[0m\n' "$*" >&2; }
py314_die() {
  py314_log "$*"
  return 1
}

py314_need_root() { [ "$(id -u)" = 0 ] || py314_die "run this as root (debootstrap, mount and chroot need it)"; }

py314_recipe_hash() {
  { sed -n '/^# >>> recipe/,/^# <<< recipe/p' "$PY314_SCRIPT"; printf '%s\n' "${PY314_APT[@]}"; } | sha256sum | cut -c1-16
}

# The Debian mirror the host's apt uses (PY314_MIRROR overrides it).
py314_mirror() {
  if [ -n "${PY314_MIRROR:-}" ]; then
    echo "$PY314_MIRROR"
    return 0
  fi
  local uri
  uri=$(
    {
      cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs:[[:space:]]*//p' | tr ' ' '\n' || true
      cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p'
    } | grep -E '^https?://' | grep -E '/debian/?$' | grep -v security | head -n1
  ) || true
  echo "${uri:-http://deb.debian.org/debian}"
}

# --- mounts -------------------------------------------------------------------------------------------------------

# Every mount point at or under the root, deepest first.
py314_mounts_under_root() {
  local root
  root=$(readlink -f "$PY314_ROOT")
  awk -v root="$root" '$5 == root || index($5, root "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r | uniq
}

py314_bind() { # py314_bind SOURCE TARGET [ro]
  local src=$1 dst=$PY314_ROOT$2 ro=${3:-}
  if [ -d "$src" ]; then mkdir -p "$dst"; else
    mkdir -p "$(dirname "$dst")"
    [ -e "$dst" ] || : >"$dst"
  fi
  mountpoint -q "$dst" && return 0
  mount --bind "$src" "$dst"
  mount --make-private "$dst" # nothing mounted later on the host side shows up in here, nor the reverse
  [ -z "$ro" ] || mount -o remount,bind,ro "$dst"
}

# The local paths (folders and files) the host's pip configuration and PIP_* variables name.
py314_pip_paths() {
  {
    cat /etc/pip.conf /etc/xdg/pip/pip.conf "${XDG_CONFIG_HOME:-$HOME/.config}/pip/pip.conf" "$HOME/.pip/pip.conf" 2>/dev/null || true
    env | grep -E '^(PIP_|SSL_CERT_FILE=|REQUESTS_CA_BUNDLE=)' || true
  } | grep -oE '(file://)?/[^[:space:]"'\'',;]+' | sed 's#^file://##' | sort -u || true
}

# Copy the host's resolv.conf, CA bundle and pip configuration in (cheap: done on every mount).
py314_copy_host_config() {
  local file
  cp -L /etc/resolv.conf "$PY314_ROOT/etc/resolv.conf"
  for file in /etc/ssl/certs/ca-certificates.crt /etc/pip.conf /etc/xdg/pip/pip.conf /etc/xdg/pip/constraints.txt; do
    if [ -f "$file" ]; then
      mkdir -p "$PY314_ROOT$(dirname "$file")"
      cp -L "$file" "$PY314_ROOT$file"
    fi
  done
  for file in "${XDG_CONFIG_HOME:-$HOME/.config}/pip/pip.conf" "$HOME/.pip/pip.conf"; do
    if [ -f "$file" ]; then # the user's pip configuration, for root (HOME=/root inside)
      mkdir -p "$(dirname "$PY314_ROOT/root/${file#"$HOME"/}")"
      cp -L "$file" "$PY314_ROOT/root/${file#"$HOME"/}"
    fi
  done
}

py314_mount_all() {
  [ -x "$PY314_ROOT/usr/bin/python3.14" ] || py314_die "no root in $PY314_ROOT: run scripts/py314_root.sh build"
  # The root on itself first, so that / is a mount point inside (`ip netns exec`
  # makes it a slave mount: tests/devices/test_discovery.py); the others go on top.
  py314_bind "$PY314_ROOT" /
  py314_bind /proc /proc
  py314_bind /sys /sys
  py314_bind /dev /dev
  py314_bind /dev/shm /dev/shm
  py314_bind /dev/pts /dev/pts
  py314_bind "$PY314_REPO" "$PY314_REPO"
  local path
  while read -r path; do # pip's local indexes and wheel folders, read-only
    [ -n "$path" ] && [ -d "$path" ] && [ ! -L "$path" ] && py314_bind "$path" "$path" ro
  done < <(py314_pip_paths)
  py314_copy_host_config
}

py314_umount_all() {
  local point pass
  for pass in 1 2 3; do
    while read -r point; do
      [ -n "$point" ] || continue
      umount "$point" 2>/dev/null || { ((pass < 3)) || umount -l "$point"; }
    done < <(py314_mounts_under_root)
    [ -z "$(py314_mounts_under_root)" ] && return 0
  done
  [ -z "$(py314_mounts_under_root)" ] || py314_die "still mounted: $(py314_mounts_under_root | tr '\n' ' ')"
}

# Runs that are still going (their marker's pid is alive); stale markers are removed.
py314_live_runs() {
  local marker pid n=0
  for marker in "$PY314_STATE"/run.*; do
    [ -e "$marker" ] || continue
    pid=${marker##*.}
    if kill -0 "$pid" 2>/dev/null; then n=$((n + 1)); else rm -f "$marker"; fi
  done
  echo "$n"
}

py314_locked() { # py314_locked CMD...: CMD under the mount lock
  mkdir -p "$PY314_STATE"
  (
    flock 9
    "$@"
  ) 9>"$PY314_STATE/lock"
}

py314_release() { # after a run: unmount when no run is left and no `mount` holds the mounts
  rm -f "$PY314_STATE/run.$1"
  if [ ! -e "$PY314_STATE/hold" ] && [ "$(py314_live_runs)" = 0 ]; then
    py314_umount_all
  fi
}

# --- building -----------------------------------------------------------------------------------------------------

py314_chroot() { # py314_chroot CMD...: CMD in the root as root, with a plain environment
  chroot "$PY314_ROOT" /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"
}

py314_build_root() {
  local want have mirror began
  want=$(py314_recipe_hash)
  have=$(cat "$PY314_ROOT/.py314-recipe" 2>/dev/null || true)
  if [ "$have" = "$want" ]; then
    py314_log "root up to date (recipe $want)"
    return 0
  fi
  command -v debootstrap >/dev/null || {
    py314_log "installing debootstrap on the host"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  if [ -e "$PY314_ROOT" ]; then
    py314_log "recipe changed (${have:-none} -> $want): removing the old root"
    py314_umount_all || return 1
    [ -z "$(py314_mounts_under_root)" ] || py314_die "refusing to delete $PY314_ROOT: something is still mounted in it"
    rm -rf --one-file-system "$PY314_ROOT"
  fi
  mirror=$(py314_mirror)
  began=$SECONDS
  py314_log "debootstrap $PY314_SUITE from $mirror into $PY314_ROOT"
  mkdir -p "$PY314_ROOT" "$PY314_STATE"
  debootstrap --variant=minbase --include="$PY314_INCLUDE" "$PY314_SUITE" "$PY314_ROOT" "$mirror" \
    >"$PY314_STATE/debootstrap.log" 2>&1 || {
    tail -n 30 "$PY314_STATE/debootstrap.log" >&2
    py314_die "debootstrap failed (log: $PY314_STATE/debootstrap.log)"
  }
  py314_log "debootstrap took $((SECONDS - began)) s"
  printf 'Acquire::Check-Valid-Until "false";\nAPT::Install-Recommends "false";\n' \
    >"$PY314_ROOT/etc/apt/apt.conf.d/99py314"
  printf '#!/bin/sh\nexit 101\n' >"$PY314_ROOT/usr/sbin/policy-rc.d" # no services start in the root
  chmod +x "$PY314_ROOT/usr/sbin/policy-rc.d"
  py314_mount_all || return 1
  began=$SECONDS
  py314_log "apt-get install ${PY314_APT[*]}"
  py314_chroot apt-get "${PY314_APT_OPTS[@]}" update -qq || py314_die "apt-get update failed in the root"
  py314_chroot apt-get "${PY314_APT_OPTS[@]}" install -y -qq "${PY314_APT[@]}" >"$PY314_STATE/apt.log" 2>&1 || {
    tail -n 30 "$PY314_STATE/apt.log" >&2
    py314_die "apt-get install failed in the root (log: $PY314_STATE/apt.log)"
  }
  py314_chroot apt-get clean
  py314_log "apt-get install took $((SECONDS - began)) s"
  py314_copy_host_config # the host's CA bundle over the one ca-certificates made
  echo "$want" >"$PY314_ROOT/.py314-recipe"
}

# py314_venv DIR STAMP-TEXT PIP-ARGS...: make DIR in the root with python3.14 and install PIP-ARGS
# (uv, or pip when uv fails, as scripts/lib.sh does), skipped when STAMP-TEXT has not changed.
py314_venv() {
  local dir=$1 stamp_text=$2
  shift 2
  local want began
  want=$(printf '%s' "$stamp_text" | sha256sum | cut -c1-16)
  [ -f "$PY314_ROOT$dir/.requirements-$want" ] && {
    py314_log "$dir up to date"
    return 0
  }
  began=$SECONDS
  rm -rf --one-file-system "${PY314_ROOT:?}$dir" # made anew: nothing an earlier list installed stays
  if [ ! -e "$PY314_ROOT$dir/pyvenv.cfg" ]; then
    py314_log "creating $dir"
    py314_run_in "" / python3.14 -m venv "$dir" || return 1
    py314_run_in "" / "$dir/bin/python" -m pip install -q --upgrade pip uv || return 1
  fi
  py314_log "installing into $dir: $*"
  if ! py314_run_in "" "$PY314_REPO" env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    "$dir/bin/uv" pip install -q --python "$dir/bin/python" "$@"; then
    py314_log "uv could not install into $dir; using pip"
    py314_run_in "" "$PY314_REPO" "$dir/bin/python" -m pip install -q --no-compile "$@" || return 1
  fi
  rm -f "$PY314_ROOT$dir"/.requirements-*
  touch "$PY314_ROOT$dir/.requirements-$want"
  py314_log "$dir took $((SECONDS - began)) s"
}

py314_build_venvs() {
  py314_venv "$PY314_VENV" "$(cat "$PY314_REPO/requirements_test.txt"; echo "${PY314_PIP_EXTRA[*]}")" \
    -r requirements_test.txt "${PY314_PIP_EXTRA[@]}" || return 1
  py314_venv "$PY314_HASS_VENV" "${PY314_HASS_REQS[*]}" "${PY314_HASS_REQS[@]}" || return 1
  # What hass pip-installs at its first start (its frontend, ...), beforehand (scripts/lib.sh does the same).
  local reqs
  reqs=$(py314_run_in "" "$PY314_REPO" "$PY314_HASS_VENV/bin/python" scripts/develop_setup.py requirements config) ||
    return 1
  if [ -n "$reqs" ]; then
    local missing
    mapfile -t missing <<<"$reqs"
    py314_log "installing what hass $PY314_HASS_VERSION needs at run time: ${missing[*]}"
    py314_run_in "" "$PY314_REPO" env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
      "$PY314_HASS_VENV/bin/uv" pip install -q --python "$PY314_HASS_VENV/bin/python" "${missing[@]}" || return 1
  fi
}

# --- running ------------------------------------------------------------------------------------------------------

# py314_run_in VENV DIR CMD...: CMD in the root, in DIR, with VENV's bin first on PATH (mounts assumed).
# The caller's environment goes in, less what points into the host's Pythons.
py314_run_in() {
  local venv=$1 dir=$2
  shift 2
  local path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  chroot "$PY314_ROOT" /usr/bin/env -C "$dir" \
    -u PYTHONPATH -u PYTHONHOME -u PYENV_VERSION -u PYENV_ROOT -u LD_LIBRARY_PATH -u LD_PRELOAD \
    -u VIRTUAL_ENV -u CONDA_PREFIX -u NVR_LITERT_PYTHON \
    ${venv:+VIRTUAL_ENV="$venv"} PATH="${venv:+$venv/bin:}$path" HOME=/root LANG=C.UTF-8 "$@"
}

py314_run() { # py314_run [--hass] [--] CMD...
  local venv=$PY314_VENV
  while (($#)); do
    case $1 in
      --hass) venv=$PY314_HASS_VENV ;;
      --) shift && break ;;
      *) break ;;
    esac
    shift
  done
  (($#)) || set -- bash
  py314_need_root
  local me=$BASHPID rc=0
  mkdir -p "$PY314_STATE"
  : >"$PY314_STATE/run.$me"
  py314_locked py314_mount_all || {
    py314_locked py314_release "$me"
    return 1
  }
  local dir
  dir=$(pwd -P)
  case $dir in "$PY314_REPO" | "$PY314_REPO"/*) ;; *) dir=$PY314_REPO ;; esac
  py314_run_in "$venv" "$dir" "$@" || rc=$?
  py314_locked py314_release "$me"
  return "$rc"
}

py314_build() {
  py314_need_root
  local me=$BASHPID rc=0 began=$SECONDS
  mkdir -p "$PY314_STATE"
  : >"$PY314_STATE/run.$me"
  {
    py314_locked py314_build_root && py314_locked py314_mount_all && py314_build_venvs
  } || rc=$?
  py314_locked py314_release "$me"
  ((rc == 0)) && py314_log "build done in $((SECONDS - began)) s"
  return "$rc"
}

py314_status() {
  echo "root:    $PY314_ROOT"
  echo "recipe:  want $(py314_recipe_hash), have $(cat "$PY314_ROOT/.py314-recipe" 2>/dev/null || echo none)"
  local venv
  for venv in "$PY314_VENV" "$PY314_HASS_VENV"; do
    if [ -e "$PY314_ROOT$venv/pyvenv.cfg" ]; then
      local stamps=("$PY314_ROOT$venv"/.requirements-*)
      [ -e "${stamps[0]}" ] || stamps=("not installed")
      echo "venv:    $venv (${stamps[0]##*/.})"
    else
      echo "venv:    $venv (none)"
    fi
  done
  echo "runs:    $(py314_live_runs)$([ -e "$PY314_STATE/hold" ] && echo ', mounts held')"
  echo "mounted: $(py314_mounts_under_root | tr '\n' ' ')"
}

py314_main() {
  local cmd=${1:-}
  (($#)) && shift
  case $cmd in
    build) py314_build ;;
    run) py314_run "$@" ;;
    shell) py314_run "$@" -- bash -i ;;
    mount)
      py314_need_root
      mkdir -p "$PY314_STATE"
      : >"$PY314_STATE/hold"
      py314_locked py314_mount_all
      ;;
    umount)
      py314_need_root
      rm -f "$PY314_STATE/hold"
      [ "$(py314_live_runs)" = 0 ] || py314_die "runs are still going in the root"
      py314_locked py314_umount_all
      ;;
    status) py314_status ;;
    clean)
      py314_need_root
      [ "$(py314_live_runs)" = 0 ] || py314_die "runs are still going in the root"
      py314_locked py314_umount_all
      [ -z "$(py314_mounts_under_root)" ] || py314_die "refusing to delete $PY314_ROOT: something is still mounted in it"
      rm -rf --one-file-system "$PY314_ROOT" "$PY314_STATE"
      ;;
    *)
      sed -n '2,9p' "$PY314_SCRIPT" | sed 's/^# \{0,1\}//' >&2
      return 2
      ;;
  esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  py314_main "$@"
  exit # read no further: an edit of this file while a long run goes on must not change what runs after it
fi
