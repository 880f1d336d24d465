#!/usr/bin/env bash
# The system tier: tests that need root and system tools (network namespaces, glibc end to end,
# valgrind, the million-datagram storm, attacks in namespaces, Wireshark, packaging and the
# Debian packages in a debootstrapped Debian 12, several local users). `cargo test --workspace`
# runs everything else.
#
#   sudo tests/system.sh [--no-install] [CARGO TEST ARGS...]
#
# As root on Debian it installs the packages the tests use (and Debian's source lines, for the
# Wireshark referee) unless --no-install is given; otherwise it checks for them. Anything missing
# is a failure that names what to install: nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

install=1
if [[ ${1:-} == --no-install ]]; then
    install=0
    shift
fi

# Debian packages, and a program each provides that the tests run.
packages=(
    iproute2:ip iputils-ping:ping util-linux:unshare util-linux:setpriv mount:mount
    libc-bin:getent coreutils:timeout valgrind:valgrind python3:python3 shellcheck:shellcheck
    tshark:tshark libwireshark-dev:- libglib2.0-dev:- gcc:gcc pkg-config:pkg-config
    dpkg-dev:dpkg-source patch:patch xz-utils:xz diffutils:cmp iptables:ip6tables
    groff-base:groff man-db:man
    bind9-dnsutils:dig dnsmasq-base:dnsmasq musl-tools:musl-gcc golang-go:go dnsperf:dnsperf
    debootstrap:debootstrap lintian:lintian debhelper:dh
    systemd:systemd-analyze systemd-container:systemd-nspawn
)

fail() {
    printf 'tests/system.sh: %s\n' "$*" >&2
    exit 1
}

# Debian's source packages too: the Wireshark referee builds the PNRP dissector from
# `apt-get source wireshark` (tools/wireshark/build-referee.sh). Same mirrors and suites as the
# binary packages; added once.
add_deb_src() {
    if grep -rqsE --include='*.list' --include='*.sources' \
        '^[[:space:]]*(deb-src[[:space:]]|Types:.*deb-src)' /etc/apt/sources.list \
        /etc/apt/sources.list.d/; then
        return 1
    fi
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
        sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
            >/etc/apt/sources.list.d/pnrp-deb-src.sources
    else
        printf '%s\n' 'deb-src http://deb.debian.org/debian bookworm main' \
            'deb-src http://deb.debian.org/debian bookworm-updates main' \
            'deb-src http://deb.debian.org/debian-security bookworm-security main' \
            >/etc/apt/sources.list.d/pnrp-deb-src.list
    fi
}

[[ $(id -u) == 0 ]] || fail "run as root (sudo tests/system.sh): the tests make network namespaces and act as other users"

if ((install)) && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    names=()
    for entry in "${packages[@]}"; do names+=("${entry%%:*}"); done
    missing=()
    for name in $(printf '%s\n' "${names[@]}" | sort -u); do
        dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$name")
    done
    if add_deb_src || ((${#missing[@]})); then
        echo "tests/system.sh: installing ${missing[*]:-the deb-src lines}"
        apt-get update -qq
        if ((${#missing[@]})); then
            apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        fi
    fi
fi

# Check, whoever installed them.
missing=()
for entry in "${packages[@]}"; do
    name=${entry%%:*} program=${entry#*:}
    if [[ $program == - ]]; then
        dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$name")
    elif ! command -v "$program" >/dev/null; then
        missing+=("$name (for $program)")
    fi
done
((${#missing[@]} == 0)) || fail "missing: ${missing[*]}; install them (apt-get install …) or run as root on Debian without --no-install"
grep -rqsE --include='*.list' --include='*.sources' \
    '^[[:space:]]*(deb-src[[:space:]]|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/ ||
    fail "no deb-src line in /etc/apt: the Wireshark referee needs Debian's wireshark source (apt-get source)"

# Every file of tests/system/ is one test target of the `system` feature.
targets=()
for file in tests/system/*.rs; do
    name=$(basename "$file" .rs)
    grep -q "^path = \"system/$name.rs\"" tests/Cargo.toml ||
        fail "tests/system/$name.rs is not a [[test]] of tests/Cargo.toml"
    targets+=(--test "$name")
done
exec cargo test -p pnrp-tests --features system "${targets[@]}" "$@"
