#!/usr/bin/env bash
# Install the Debian packages that the real-mail-stack tests and benchmarks need.
#
# Idempotent and fast when everything is present: dpkg is asked first and apt
# is only touched (update + install) when something is missing. Postfix is
# preseeded to "No configuration" so the install never prompts and never
# writes a system main.cf that could be mistaken for ours; the tests start
# every daemon with their own config folder.
set -euo pipefail

PACKAGES=(postfix dovecot-imapd dovecot-lmtpd openssl pflogsumm)

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-system-deps: all present (${PACKAGES[*]})"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps: missing packages: ${missing[*]}" >&2
    echo "install-system-deps: run as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "install-system-deps: installing ${missing[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for pkg in "${missing[@]}"; do
    is_installed "$pkg" || { echo "install-system-deps: $pkg failed to install" >&2; exit 1; }
done
echo "install-system-deps: installed ${missing[*]}"
