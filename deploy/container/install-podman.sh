#!/usr/bin/env bash
# Install podman (runc, debootstrap) from Debian's packages and write a configuration that works on
# CI machines without a container daemon or registry: overlay storage, host networking, runc,
# cgroupfs. No system file is touched: everything lives under one directory, selected through
# environment variables. The script prints those variables as `export` lines, so callers run:
#
#     eval "$(deploy/container/install-podman.sh)"
#
# Usage: install-podman.sh [--no-install] [ROOT]
#   ROOT           where storage, run state and config go (default: $NEOPS_PODMAN_ROOT or
#                  /var/tmp/neops-podman; kept between runs, so built images are reused)
#   --no-install   only write the configuration (podman must already be installed)
set -euo pipefail

install=1
if [ "${1:-}" = "--no-install" ]; then
  install=0
  shift
fi
root=${1:-${NEOPS_PODMAN_ROOT:-/var/tmp/neops-podman}}

if [ "$install" = 1 ] && ! command -v podman >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-podman.sh: podman is missing and installing it needs root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends podman runc debootstrap >&2
fi

mkdir -p "$root/run" "$root/storage" "$root/tmp"
cat >"$root/storage.conf" <<CONF
[storage]
driver = "overlay"
runroot = "$root/run"
graphroot = "$root/storage"
CONF
# Host networking: the bridge network leaves iptables chains and links behind. runc: crun fails
# on cgroups v1 hybrid hosts. The ulimits: podman's defaults cannot be applied without
# CAP_SYS_RESOURCE.
cat >"$root/containers.conf" <<CONF
[containers]
netns = "host"
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$root/run/events.log"
tmp_dir = "$root/tmp"
CONF

echo "export CONTAINERS_STORAGE_CONF=$root/storage.conf"
echo "export CONTAINERS_CONF=$root/containers.conf"
echo "export TMPDIR=$root/tmp"
