#!/bin/sh
# deb.sh — build the Debian packages pnrpd and libnss-pnrp from this checkout, into
# <target>/debian/ (<target> is $CARGO_TARGET_DIR, or target/ in the repository), then check
# them with lintian. One command, as any user: `packaging/deb.sh`.
#
# cargo builds the programs (release, the project's Cargo.lock); the installed pnrpctl writes
# the generated manual pages and completions; all of it is staged beside a copy of
# packaging/debian/, and dpkg-buildpackage (debhelper) makes the .debs, their maintainer
# scripts (systemd unit, sysusers, conffile) and .changes. Needs: cargo, dpkg-dev, debhelper,
# lintian (apt-get install dpkg-dev debhelper lintian).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
target=${CARGO_TARGET_DIR:-$repo/target}
case $target in /*) ;; *) target=$repo/$target ;; esac

missing=
for tool in cargo:cargo dpkg-buildpackage:dpkg-dev dh:debhelper lintian:lintian; do
    command -v "${tool%%:*}" >/dev/null || missing="$missing ${tool#*:}"
done
[ -z "$missing" ] || { echo "deb.sh: missing:$missing (apt-get install$missing)" >&2; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml" | head -n 1)
changelog=$(sed -n '1s/^pnrp (\([^)]*\)).*/\1/p' "$here/debian/changelog")
[ "$version" = "$changelog" ] ||
    { echo "deb.sh: Cargo.toml says $version, debian/changelog $changelog: add a changelog entry" >&2; exit 1; }

(cd "$repo" && cargo build --release --locked -p pnrpd -p nss_pnrp)
built=$target/release

out=$target/debian
src=$out/pnrp-$version
rm -rf "$src"
mkdir -p "$out"
rm -f "$out"/*.deb "$out"/*.ddeb "$out"/*.changes "$out"/*.buildinfo
mkdir -p "$src"
cp -R "$here/debian" "$src/debian"
staged=$src/staged
mkdir -p "$staged/man"
install -m 0755 "$built/pnrpd" "$built/pnrpctl" "$staged/"
install -m 0644 "$built/libnss_pnrp.so" "$staged/libnss_pnrp.so.2"
install -m 0755 "$here/nsswitch.sh" "$staged/"
install -m 0644 "$here/pnrpd.toml" "$staged/"
install -m 0644 "$here/man/pnrpd.toml.5" "$here/man/nss-pnrp.8" "$staged/man/"
"$built/pnrpctl" generate-docs "$staged/share" >/dev/null
# Debian's zsh reads packaged completions from vendor-completions (site-functions is the admin's).
mv "$staged/share/zsh/site-functions" "$staged/share/zsh/vendor-completions"
sed 's|@PREFIX@|/usr|g' "$here/pnrpd.service.in" >"$src/debian/pnrpd.service"
cp "$here/pnrpd.sysusers" "$src/debian/pnrpd.sysusers"

(cd "$src" && dpkg-buildpackage --build=binary --no-sign)
rm -rf "$src"
changes=$(ls "$out"/pnrp_"$version"_*.changes)
for deb in "$out"/*.deb; do echo "deb.sh: built $deb"; done
# Errors and warnings fail; each warning that stays is overridden, with the reason, in
# packaging/debian/*.lintian-overrides.
lintian --fail-on error,warning --info "$changes"
echo "deb.sh: lintian: no error, no warning"
