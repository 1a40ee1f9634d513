#!/usr/bin/env bash
# Install the Debian packages that the real-mail-stack tests, the unit-file check and benchmarks need.
#
# Idempotent and fast when everything is present: dpkg is asked first and apt
# is only touched (update + install) when something is missing. Postfix is
# preseeded to "No configuration" so the install never prompts and never
# writes a system main.cf that could be mistaken for ours; the tests start
# every daemon with their own config folder.
set -euo pipefail

# systemd: only for systemd-analyze, which checks deploy/*.service
# (tests/test_deploy_units.py); it installs and runs without systemd as PID 1.
# dovecot-sieve: the mail store behind the remote MX answers with a Sieve
# vacation reply and a Sieve reject (tests/mailstack/native.py).
PACKAGES=(postfix dovecot-imapd dovecot-lmtpd dovecot-sieve openssl pflogsumm systemd)

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

# Exim 4 and Sendmail 8 for tests/mailstack/exim.py and sendmail.py, OpenSMTPD, DMA and
# Courier for opensmtpd.py, dma.py and courier.py, and the Cyrus IMAP server for cyrus.py:
# downloaded, never installed (the MTAs conflict with Postfix, Cyrus with dovecot-imapd);
# tests/mailstack/mta_packages.py unpacks them from this cache with dpkg -x. Keep the list in step with PACKAGES there.
MTA_CACHE="${BOUNCELEDGER_MTA_CACHE:-/var/cache/bounceledger-mta}"
MTA_PACKAGES=(exim4-daemon-light libidn12 libnss-wrapper sendmail-bin sendmail-cf m4 liblockfile1
              opensmtpd libevent-2.1-7 libdb5.3 dma
              courier-mta courier-base courier-authlib libcourier-unicode4 libpcre3 libgamin0 libltdl7
              libnet-cidr-perl
              cyrus-imapd cyrus-common libclamav12 libical3 libxapian30 libzephyr4 libmspack0 sasl2-bin)
mta_missing=()
for pkg in "${MTA_PACKAGES[@]}"; do
    compgen -G "$MTA_CACHE/debs/${pkg}_*.deb" >/dev/null || mta_missing+=("$pkg")
done
if [ "${#mta_missing[@]}" -gt 0 ] && [ "$(id -u)" -eq 0 ]; then
    mkdir -p "$MTA_CACHE/debs"
    ( cd "$MTA_CACHE/debs" && { apt-get download -qq "${mta_missing[@]}" 2>/dev/null \
        || { apt-get update -qq && apt-get download -qq "${mta_missing[@]}"; }; } ) \
        || { echo "install-system-deps: apt-get download ${mta_missing[*]} failed" >&2; exit 1; }
    echo "install-system-deps: downloaded ${mta_missing[*]} into $MTA_CACHE/debs"
elif [ "${#mta_missing[@]}" -gt 0 ]; then
    echo "install-system-deps: not root: MTA packages not downloaded (${mta_missing[*]})" >&2
fi

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
