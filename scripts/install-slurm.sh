#!/usr/bin/env bash
# Installs what the Slurm integration test (test/integration/slurm.test.ts) needs: Debian's
# slurm-wlm (slurmctld, slurmd and the client commands) and munge, skipping what is there (safe
# to rerun). Run as root (CI) or with sudo rights. Where that cannot be done (no apt-get, no
# root and no sudo) it says so and exits 0: the test then skips, naming the reason.
# The packages' init scripts are kept from starting system daemons during the install: the test
# starts its own cluster in a temporary folder (scripts/slurm-local.sh).
set -euo pipefail

log() { printf '[slurm:install] %s\n' "$*"; }

missing=()
have() { for cmd in "$@"; do command -v "$cmd" >/dev/null || return 1; done; }
have slurmctld slurmd sbatch squeue scontrol scancel || missing+=(slurm-wlm)
have munged mungekey || missing+=(munge)
if ((${#missing[@]} == 0)); then
  log "slurm-wlm and munge already installed ($(slurmd -V))"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  log "cannot install ${missing[*]}: no apt-get here (not Debian); the Slurm test will be skipped"
  exit 0
fi
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    log "cannot install ${missing[*]}: not root and no sudo rights; the Slurm test will be skipped"
    exit 0
  fi
fi

# No policy-rc.d (a machine with an init system, or a bare container): one that refuses every
# start, for the length of the install only.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
  "${SUDO[@]}" chmod 755 "$policy"
  trap '"${SUDO[@]}" rm -f "$policy"' EXIT
fi
log "apt-get install ${missing[*]}"
# Another apt-get may hold the lock for a while (a shared machine): wait for it.
"${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
  --no-install-recommends "${missing[@]}"
for cmd in slurmctld slurmd sbatch munged mungekey; do
  command -v "$cmd" >/dev/null || {
    log "apt-get did not install $cmd"
    exit 1
  }
done
log "installed: $(slurmd -V), munge $(munged -V 2>&1 | head -1)"
