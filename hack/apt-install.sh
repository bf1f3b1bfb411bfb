#!/usr/bin/env bash
# Installs the Debian packages the build and tests need, only those not yet installed, so that
# `make test` and `make demo` work on a fresh machine and cost nothing on a prepared one.
set -euo pipefail
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q "install ok installed" || missing+=("${pkg}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "[apt] installing ${missing[*]}"
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists; refresh them once per run that needs to install anything.
${sudo_cmd} apt-get update -qq
${sudo_cmd} apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
