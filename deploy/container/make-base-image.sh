#!/usr/bin/env bash
# Make a local stand-in for the python:3.12-slim base image, for machines that cannot reach an image
# registry: a minimal Debian bookworm root filesystem (debootstrap) plus a CPython 3.12 this machine
# already has, imported into podman as docker.io/library/python:3.12-slim, so that the Dockerfile's
# `FROM python:3.12-slim` builds unchanged. On a machine that can pull images, skip this script.
#
# Usage: make-base-image.sh [--force]
#
# Environment:
#   BASE_TAG               tag to import as (default docker.io/library/python:3.12-slim)
#   NEOPS_CONTAINER_CACHE  keeps the root filesystem tarball between runs
#                          (default /var/tmp/neops-container-cache)
#   NEOPS_BASE_PYTHON      the CPython 3.12 to copy (default: python3.12 on PATH, else pyenv's)
#   DEBIAN_MIRROR          debootstrap mirror (default http://deb.debian.org/debian)
#
# Exit codes: 0 the image exists; 3 not root, no CPython 3.12, no debootstrap or no mirror (callers may skip); other
# codes are real failures. Needs root (debootstrap, chroot) and podman configured by
# install-podman.sh.
set -euo pipefail

tag=${BASE_TAG:-docker.io/library/python:3.12-slim}
cache=${NEOPS_CONTAINER_CACHE:-/var/tmp/neops-container-cache}
tarball=$cache/python-3.12-slim-bookworm.tar
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Libraries the CPython standard library's extension modules link against.
packages=ca-certificates,libssl3,libffi8,libsqlite3-0,libexpat1,libbz2-1.0,liblzma5,zlib1g,libncursesw6,libreadline8,libuuid1,libnsl2,libtirpc3,libcrypt1

log() { echo "make-base-image: $*" >&2; }
# Commands in the new root must not inherit a TMPDIR that exists only on the host.
in_root() { local rootfs=$1; shift; env TMPDIR=/tmp chroot "$rootfs" "$@"; }

is_python312() { [ -n "$1" ] && "$1" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; }

find_python() {
  local candidate
  local candidates=("${NEOPS_BASE_PYTHON:-}" "$(command -v python3.12 || true)")
  if command -v pyenv >/dev/null 2>&1; then
    candidates+=("$(ls -d "$(pyenv root)"/versions/3.12.* 2>/dev/null | sort -V | tail -n 1)/bin/python3.12")
  fi
  for candidate in "${candidates[@]}"; do
    # A pyenv shim answers only where that version is selected: run each candidate to be sure.
    if is_python312 "$candidate"; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# Step 1: a minimal Debian with the shared libraries CPython needs, trimmed like the slim images.
make_debian() {
  local rootfs=$1
  log "debootstrap bookworm (about a minute)"
  # The mirror out of reach is this machine's limit, not a fault of the image: callers may skip (3).
  debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" >/dev/null \
    || { log "debootstrap from $mirror failed (is the Debian mirror reachable?)"; exit 3; }
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/usr/share/doc/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'C.*' -exec rm -rf {} +
}

# Step 2: extra CA certificates this host trusts (a TLS-intercepting egress proxy installs one);
# without them pip and uv inside the build fail with CERTIFICATE_VERIFY_FAILED. Ordinary
# machines have none, and the step does nothing.
add_host_cas() {
  local rootfs=$1
  compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null || return 0
  log "adding the host's extra CA certificates"
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  in_root "$rootfs" update-ca-certificates >/dev/null
}

# Step 3: CPython 3.12 under /usr/local, as in the official images: no tests, no IDLE or Tk, no
# static library, no debug symbols, only pip in site-packages (nothing host-specific such as .pth files).
add_python() {
  local rootfs=$1 python=$2 prefix lib
  prefix=$("$python" -c 'import sys; print(sys.base_prefix)')
  lib=$rootfs/usr/local/lib/python3.12
  log "copying CPython 3.12 from $prefix"
  mkdir -p "$rootfs/usr/local/bin" "$lib"
  cp -a "$prefix/bin/python3.12" "$rootfs/usr/local/bin/"
  cp -a "$prefix"/lib/libpython3* "$rootfs/usr/local/lib/" 2>/dev/null || true
  tar -C "$prefix/lib/python3.12" --exclude=./test --exclude=./idlelib --exclude=./tkinter \
    --exclude=./turtledemo --exclude=./site-packages --exclude='./config-3.12*/*.a' -cf - . | tar -C "$lib" -xf -
  mkdir -p "$lib/site-packages"
  cp -a "$prefix"/lib/python3.12/site-packages/pip "$prefix"/lib/python3.12/site-packages/pip-*.dist-info \
    "$lib/site-packages/"
  printf '#!/usr/local/bin/python3.12\nimport sys\nfrom pip._internal.cli.main import main\nsys.exit(main())\n' \
    >"$rootfs/usr/local/bin/pip3.12"
  chmod 755 "$rootfs/usr/local/bin/pip3.12"
  # Debug symbols and optimised bytecode are most of a CPython build's size.
  find "$lib" -name '*.opt-[12].pyc' -delete
  if command -v strip >/dev/null 2>&1; then
    strip --strip-unneeded "$rootfs"/usr/local/lib/libpython3*.so.* "$lib"/lib-dynload/*.so \
      "$rootfs/usr/local/bin/python3.12"
  fi
  for name in python3:python3.12 python:python3.12 pip3:pip3.12 pip:pip3.12; do
    ln -sf "${name#*:}" "$rootfs/usr/local/bin/${name%%:*}"
  done
  in_root "$rootfs" ldconfig
  in_root "$rootfs" /usr/local/bin/python3 -c 'import ssl, sqlite3, zlib, ctypes, lzma, bz2, uuid' >&2
}

build_tarball() {
  local python rootfs
  [ "$(id -u)" = 0 ] || { log "making the base image needs root (debootstrap, chroot)"; exit 3; }
  command -v debootstrap >/dev/null 2>&1 || { log "debootstrap is not installed"; exit 3; }
  python=$(find_python) || { log "no CPython 3.12 found (set NEOPS_BASE_PYTHON)"; exit 3; }
  mkdir -p "$cache"
  rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap "rm -rf '$rootfs'" EXIT
  make_debian "$rootfs"
  add_host_cas "$rootfs"
  add_python "$rootfs" "$python"
  tar --numeric-owner -C "$rootfs" -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
}

if [ "${1:-}" = "--force" ]; then
  rm -f "$tarball"
  podman rmi -f "$tag" >/dev/null 2>&1 || true
fi
if podman image exists "$tag"; then
  log "$tag is present"
  exit 0
fi
# Not `[ -s ] || build_tarball`: on the right of || bash ignores `set -e` inside the function.
if [ ! -s "$tarball" ]; then
  build_tarball
fi
log "importing $tarball as $tag"
podman import \
  --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["python3"]' \
  "$tarball" "$tag" >/dev/null
log "$tag is ready"
