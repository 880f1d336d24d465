#!/usr/bin/env bash
# Builds the Wireshark referee of tests/system/tshark.rs: Debian's own PNRP dissector, with the
# loop-check bug of Wireshark 4.0 fixed (pnrp-loop-check.patch) and the classifier read as UTF-16LE
# (pnrp-classifier-le.patch), as an epan plugin for the
# installed tshark. The built-in dissector marks every PNRP packet "Malformed" after its first
# field, so the test runs `tshark --disable-protocol pnrp` with this plugin ("pnrpfixed") instead.
#
# Usage: tools/wireshark/build-referee.sh [CACHE_DIR]  (default: target/tmp/wireshark-referee)
# Prints the directory to export as WIRESHARK_PLUGIN_DIR on stdout (everything else goes to
# stderr). Rebuilds only when the installed libwireshark-dev or the files here change.
#
# Needs (Debian 12): tshark libwireshark-dev libglib2.0-dev gcc pkg-config dpkg-dev patch, and a
# deb-src line for bookworm and bookworm-security: `apt-get source wireshark` fetches
# packet-pnrp.c from Debian's archive, as no binary package has it. .ci/run sets these up.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-$here/../../target/tmp/wireshark-referee}
packages="tshark libwireshark-dev libglib2.0-dev gcc pkg-config dpkg-dev patch"

die() {
    printf 'build-referee.sh: %s\n' "$*" >&2
    exit 1
}

for tool in tshark gcc pkg-config patch apt-get dpkg-source dpkg-query sha256sum flock; do
    command -v "$tool" >/dev/null ||
        die "'$tool' not found. On Debian 12: apt-get install $packages util-linux"
done
version=$(dpkg-query -W -f='${db:Status-Status} ${source:Version}' libwireshark-dev 2>/dev/null |
    sed -n 's/^installed //p') || true
[[ -n $version ]] || die "libwireshark-dev is not installed: apt-get install $packages"
pkg-config --exists wireshark ||
    die "pkg-config does not find wireshark (libglib2.0-dev missing?):
$(pkg-config --print-errors --exists wireshark 2>&1 | head -3)"
ws_version=$(pkg-config --modversion wireshark)
tshark_version=$(tshark --version 2>/dev/null | head -1)
[[ $tshark_version == *" $ws_version "* ]] ||
    die "$tshark_version is not the version of libwireshark-dev ($ws_version)"

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
exec 9>"$cache/.lock"
flock 9

plugins="$cache/plugins"
so="$plugins/${ws_version%.*}/epan/pnrpfixed.so"
inputs=$(cat "$here/pnrp-loop-check.patch" "$here/pnrp-classifier-le.patch" "$here/plugin.c" \
    "$here/build-referee.sh" | sha256sum)
stamp="$version ${inputs:0:16}"
if [[ -f $so && -f $cache/stamp && $(cat "$cache/stamp") == "$stamp" ]]; then
    echo "$plugins"
    exit 0
fi
rm -f "$cache/stamp"

# Debian's packet-pnrp.c of exactly the installed version, with Debian's patches applied.
source_file="$cache/packet-pnrp-$version.c"
if [[ ! -f $source_file ]]; then
    work=$(mktemp -d "$cache/source.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    echo "build-referee.sh: fetching Debian's source of wireshark $version (47 MB)..." >&2
    (cd "$work" && apt-get source -qq "wireshark=$version" >&2) ||
        die "'apt-get source wireshark=$version' failed. It needs deb-src lines for Debian 12:
  a file /etc/apt/sources.list.d/debian-src.list with the lines
    deb-src http://deb.debian.org/debian bookworm main
    deb-src http://deb.debian.org/debian bookworm-updates main
    deb-src http://deb.debian.org/debian-security bookworm-security main
  then apt-get update. .ci/run does this."
    found=("$work"/wireshark-*/epan/dissectors/packet-pnrp.c)
    [[ -f ${found[0]} ]] ||
        die "no epan/dissectors/packet-pnrp.c in Debian's wireshark $version source"
    cp "${found[0]}" "$source_file.tmp"
    mv "$source_file.tmp" "$source_file"
    rm -rf "$work"
    trap - EXIT
fi

build="$cache/build"
dissector="$build/epan/dissectors/packet-pnrp.c"
rm -rf "$build"
mkdir -p "$(dirname "$dissector")" "$(dirname "$so")"
cp "$source_file" "$dissector"
patch --batch --forward -s -d "$build" -p1 <"$here/pnrp-loop-check.patch" ||
    die "pnrp-loop-check.patch does not apply to Debian's packet-pnrp.c $version: does it still \
have the inverted 'start_offset <= offset' check? Refresh the patch (or drop it if fixed)."
patch --batch --forward -s -d "$build" -p1 <"$here/pnrp-classifier-le.patch" ||
    die "pnrp-classifier-le.patch does not apply to Debian's packet-pnrp.c $version: refresh it."

# A plugin cannot register a second "pnrp": rename the protocol (its field names stay pnrp.*).
name="Peer Name Resolution Protocol"
sed -i -e "s/^#define PROTONAME \"$name\"\$/#define PROTONAME \"$name (fixed loop check)\"/" \
    -e 's/^#define PROTOSHORTNAME "PNRP"$/#define PROTOSHORTNAME "PNRP (fixed)"/' \
    -e 's/^#define PROTOABBREV "pnrp"$/#define PROTOABBREV "pnrpfixed"/' "$dissector"
renamed=$(grep -c -e '^#define PROTONAME ".*(fixed loop check)"$' \
    -e '^#define PROTOSHORTNAME "PNRP (fixed)"$' -e '^#define PROTOABBREV "pnrpfixed"$' \
    "$dissector" || true)
[[ $renamed == 3 ]] ||
    die "could not rename the protocol in packet-pnrp.c $version (PROTONAME, PROTOSHORTNAME, \
PROTOABBREV changed?)"
# The dissector includes Wireshark's build-time config.h; it needs nothing from it.
: >"$build/config.h"

# shellcheck disable=SC2046 # pkg-config prints several words on purpose
gcc -shared -fPIC -O1 -fvisibility=hidden -Wall -Wno-unused \
    -Werror=implicit-function-declaration -DREFEREE_VERSION="\"$version+pnrpfixed\"" \
    -I"$build" $(pkg-config --cflags wireshark) "$here/plugin.c" "$dissector" \
    -o "$so.tmp" $(pkg-config --libs wireshark) >&2 ||
    die "compiling the PNRP plugin against libwireshark-dev $version failed"
mv "$so.tmp" "$so"
echo "$stamp" >"$cache/stamp"
echo "build-referee.sh: built $so" >&2
echo "$plugins"
