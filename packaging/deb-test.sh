#!/usr/bin/env bash
# deb-test.sh — the Debian packages for real: a fresh Debian 12 tree (debootstrap
# --variant=minbase, from the mirror apt uses), where pnrpd and libnss-pnrp install; pnrpd runs
# as the pnrp user without capabilities, in a network namespace of its own, and `getent ahosts`
# finds a name it publishes; a state directory a root-run pnrpd wrote is handed to pnrp by an
# upgrade (the same version reinstalled) and its names and identities keep working; the upgrade
# leaves nsswitch.conf and the tree as they were; remove, then purge, bring both back to what
# they were before the installation (file lists compared). Last, installed again over a root-run
# state directory, the tree boots under systemd (systemd-nspawn, a private network): the hardened
# unit runs pnrpd as pnrp with no capability, feeds its watchdog, and `systemctl reload` applies
# an edited config with the registrations kept.
# Usage: sudo packaging/deb-test.sh [--tree DIR] [DEBDIR]
#        sudo packaging/deb-test.sh --make-tree DIR
#   DEBDIR       where deb.sh put the packages (default <target>/debian)
#   --make-tree  only make the fresh tree in DIR (while deb.sh builds, say), and exit
#   --tree       test in DIR, a tree --make-tree made, instead of making one; DIR is used up
# Prints "N passed, M failed" last and the time each phase took; exit 1 on any failure. Needs
# debootstrap, unshare, ip, systemd-nspawn (systemd-container); leaves nothing behind.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
made='' make_only=''
case ${1:-} in
    --tree) made=${2:?--tree needs a directory}; shift 2 ;;
    --make-tree) make_only=${2:?--make-tree needs a directory}; shift 2 ;;
esac
debs=${1:-${CARGO_TARGET_DIR:-$repo/target}/debian}

fail() { echo "deb-test.sh: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || fail "run as root: debootstrap, chroot and namespaces"
for tool in debootstrap unshare ip chroot systemd-nspawn; do
    command -v "$tool" >/dev/null ||
        fail "$tool is not installed (apt-get install debootstrap iproute2 systemd-container)"
done

# The Debian mirror apt uses here (deb822 .sources first, then one-line lists).
mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*debian\/\{0,1\}\)$/\1/p' \
    /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
[[ -n $mirror ]] || mirror=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2; exit }' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null)
[[ -n $mirror ]] || fail "no Debian mirror in /etc/apt/sources.list*"

# make_tree DIR: a fresh Debian 12. pnrpd's dependencies (systemd-sysusers for its user,
# procps for kill) come in the base, as apt would fetch them, with systemd to boot it: the
# comparisons below then see only what our packages do.
make_tree() {
    local log
    log=$(mktemp)
    if ! debootstrap --variant=minbase --include=systemd,systemd-sysv,procps bookworm "$1" \
        "$mirror" >"$log" 2>&1; then
        tail -n 20 "$log"
        rm -f "$log"
        fail "debootstrap failed"
    fi
    rm -f "$log"
}
if [[ -n $make_only ]]; then
    make_tree "$make_only"
    exit 0
fi

shopt -s nullglob
pnrpd_deb=("$debs"/pnrpd_*.deb)
nss_deb=("$debs"/libnss-pnrp_*.deb)
((${#pnrpd_deb[@]} == 1 && ${#nss_deb[@]} == 1)) || fail "no pnrpd and libnss-pnrp .deb in $debs (packaging/deb.sh)"

work=$(mktemp -d /var/tmp/pnrp-deb-test.XXXXXX)
tree=$work/tree
cleanup() {
    # Mounts live in the namespaces the runs made, gone with them; this is only a safety net.
    if [[ -d $tree ]]; then
        grep -o " $tree/[^ ]*" /proc/mounts | sort -r | while read -r mount; do umount -l "$mount"; done || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

pass=0 failed=0
check() {
    local what=$1
    shift
    if "$@" >"$work/check.out" 2>&1; then
        pass=$((pass + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $what"
        sed 's/^/    /' "$work/check.out" | head -n 40
    fi
}
in_tree() { chroot "$tree" "$@"; }
phase_start=$SECONDS
phase() {
    echo "deb-test.sh: $1 ($((SECONDS - phase_start)) s)"
    phase_start=$SECONDS
}
# Every path of the tree with its type, mode and owner (numeric: the host's names are not the
# tree's), but for what the package manager, the kernel and the logs change by themselves, and the
# backups of /etc/passwd and co. that systemd-sysusers makes when it adds the pnrp user (the user
# stays after a purge, as Debian's system users do: files it owns may remain elsewhere).
listing() {
    (cd "$tree" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./run \
        -o -path ./tmp -o -path ./var/lib/dpkg -o -path ./var/lib/apt -o -path ./var/cache \
        -o -path ./var/log -o -path ./root/debs -o -path ./etc/passwd- -o -path ./etc/group- \
        -o -path ./etc/shadow- -o -path ./etc/gshadow- "$@" \) -prune -o -printf '%y %m %U:%G %p\n' |
        LC_ALL=C sort)
}
same() {
    diff <(printf '%s\n' "$1") <(printf '%s\n' "$2")
}
hosts_line() { grep -m 1 '^hosts:' "$tree/etc/nsswitch.conf"; }

# --- a fresh Debian 12 ----------------------------------------------------------------------
if [[ -n $made ]]; then
    mv "$made" "$tree"
    phase "the tree --make-tree made"
else
    make_tree "$tree"
    phase "debootstrap --variant=minbase bookworm from $mirror"
fi
mkdir "$tree/root/debs"
cp "${pnrpd_deb[0]}" "${nss_deb[0]}" "$tree/root/debs/"
before=$(listing)
cp "$tree/etc/nsswitch.conf" "$work/nsswitch.orig"

# --- install ------------------------------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
check "apt-get installs both packages" in_tree apt-get install -y --no-install-recommends \
    /root/debs/"$(basename "${pnrpd_deb[0]}")" /root/debs/"$(basename "${nss_deb[0]}")"
check "the pnrp system user exists" in_tree getent passwd pnrp
pnrp=$(in_tree getent passwd pnrp | cut -d: -f3)
check "its shell is nologin" bash -c "chroot '$tree' getent passwd pnrp | grep -q nologin"
check "the state dir is pnrp's, 0700" test "$(stat -c '%u %a' "$tree/var/lib/pnrp")" = "${pnrp:-none} 700"
check "the config is a conffile" bash -c "chroot '$tree' dpkg-query -W -f '\${Conffiles}' pnrpd | grep -q /etc/pnrp/pnrpd.toml"
multiarch=$(in_tree dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
check "the module is in the multiarch directory" test -f "$tree/usr/lib/$multiarch/libnss_pnrp.so.2"
check "ldconfig knows it" bash -c "chroot '$tree' ldconfig -p | grep -q libnss_pnrp.so.2"
check "the unit is enabled" test -L "$tree/etc/systemd/system/multi-user.target.wants/pnrpd.service"
check "manuals installed" test -f "$tree/usr/share/man/man8/pnrpd.8.gz" -a -f "$tree/usr/share/man/man1/pnrpctl.1.gz" \
    -a -f "$tree/usr/share/man/man5/pnrpd.toml.5.gz" -a -f "$tree/usr/share/man/man8/nss-pnrp.8.gz"
check "completions installed" test -f "$tree/usr/share/bash-completion/completions/pnrpctl" \
    -a -f "$tree/usr/share/zsh/vendor-completions/_pnrpctl" -a -f "$tree/usr/share/fish/vendor_completions.d/pnrpctl.fish"
check "hosts: line has pnrp before dns" test "$(hosts_line)" = "hosts:          files pnrp [!UNAVAIL=return] dns"
check "nothing else in nsswitch.conf changed" test "$(diff "$work/nsswitch.orig" "$tree/etc/nsswitch.conf" | grep -c '^[<>]')" = 2
check "no marker left" test ! -e "$tree/etc/nsswitch.conf.pnrp-will-install"
installed=$(listing -o -path ./var/lib/pnrp)
cp "$tree/etc/nsswitch.conf" "$work/nsswitch.installed"
phase "installed"

# run AS SCRIPT: in new network, mount and PID namespaces (lo only; whatever is left running ends
# with the namespace, a failed SCRIPT included), with the tree's /proc and a fresh /run/pnrp of
# AS, run SCRIPT in the tree (sh). pnrpd runs there as the user AS, every capability dropped,
# logging to /root/pnrpd.log.
run() {
    local as=$1 script=$2
    # shellcheck disable=SC2016 # expanded by the inner sh
    unshare --net --mount --pid --fork --propagation private -- sh -ec '
        tree=$1 as=$2 script=$3
        ip link set lo up
        mount -t proc proc "$tree/proc"
        mount -t tmpfs -o mode=0755 tmpfs "$tree/run"
        mkdir -m 0755 "$tree/run/pnrp"
        chroot "$tree" chown "$as:" /run/pnrp
        chroot "$tree" sh -ec "
            setpriv --reuid=$as --regid=$as --clear-groups --inh-caps=-all --bounding-set=-all \
                pnrpd --config /etc/pnrp/pnrpd.toml 2>/root/pnrpd.log &
            pid=\$!
            i=0; until [ -S /run/pnrp/pnrpd.sock ]; do
                i=\$((i + 1)); [ \$i -lt 200 ] || { cat /root/pnrpd.log; exit 1; }; sleep 0.05
            done
            $script
            kill -TERM \$pid; wait \$pid || true"
    ' sh "$tree" "$as" "$script"
}

# --- pnrpd runs as pnrp; getent finds its name ----------------------------------------------
# shellcheck disable=SC2016 # the scripts run inside the tree
check "pnrpd runs as pnrp, unprivileged, in a network namespace; getent ahosts finds the name" \
    run pnrp '
        test "$(stat -c %U /run/pnrp/pnrpd.sock)" = pnrp
        grep -q "^CapEff:[[:space:]]*0000000000000000" /proc/$pid/status
        pnrpctl register 0.debtest --address fd00::5
        test "$(stat -c %U /run/pnrp/pnrpd.names)" = pnrp
        getent ahosts 0.debtest.pnrp.net | grep -q "^fd00::5 "
        # The module believes the snapshot (owned by the socket'"'"'s owner, pnrp): it answers
        # with the daemon frozen.
        kill -STOP $pid
        timeout 2 getent ahosts 0.debtest.pnrp.net | grep -q "^fd00::5 "
        kill -CONT $pid
        setpriv --reuid=65534 --regid=65534 --clear-groups getent ahosts 0.debtest.pnrp.net | grep -q "^fd00::5 "
        if getent ahosts 0.absent.pnrp.net; then exit 1; fi'
phase "pnrpd ran"

# --- a state directory from a pnrpd that ran as root, then an upgrade -----------------------
chown -R root:root "$tree/var/lib/pnrp"
# shellcheck disable=SC2016
check "an older pnrpd as root: a secured name in the state dir" run root '
    pnrpctl identity create --json > /root/identity.json
    authority=$(sed -n "s/.*\"authority\": *\"\([0-9a-f]\{40\}\)\".*/\1/p" /root/identity.json | head -n 1)
    test -n "$authority"
    echo "$authority" > /root/authority
    pnrpctl register "$authority.web" --address fd00::6'
check "the root-run daemon left root's files" test "$(stat -c %u "$tree/var/lib/pnrp/registrations.json")" = 0
check "upgrade: the same version reinstalled" in_tree dpkg -i \
    /root/debs/"$(basename "${pnrpd_deb[0]}")" /root/debs/"$(basename "${nss_deb[0]}")"
check "upgrade: the state dir migrated to pnrp" test -z "$(find "$tree/var/lib/pnrp" ! -uid "${pnrp:-none}")"
authority=$(cat "$tree/root/authority" 2>/dev/null || echo none)
check "after the migration, as pnrp: root's identity and names work" run pnrp "
    pnrpctl identity list | grep -q $authority
    getent ahosts $authority.web.pnrp.net | grep -q '^fd00::6 '
    getent ahosts 0.debtest.pnrp.net | grep -q '^fd00::5 '
    pnrpctl register $authority.web2 --address fd00::7
    pnrpctl unregister $authority.web2"
check "upgrade: nsswitch.conf as it was (pnrp once)" cmp "$work/nsswitch.installed" "$tree/etc/nsswitch.conf"
rm -f "$tree/root/pnrpd.log" "$tree/root/identity.json" "$tree/root/authority"
check "upgrade: the tree as after the installation" same "$installed" "$(listing -o -path ./var/lib/pnrp)"
phase "migrated and upgraded"

# --- remove, then purge ---------------------------------------------------------------------------
check "remove" in_tree dpkg --remove pnrpd libnss-pnrp
check "remove: nsswitch.conf byte for byte as before" cmp "$work/nsswitch.orig" "$tree/etc/nsswitch.conf"
# What stays until purge: the conffile, the state directory, and whether the admin enabled the
# unit (deb-systemd-helper's record and link).
check "remove: only the config, the state dir and the unit's enablement stay" same "$before" \
    "$(listing -o -path ./etc/pnrp -o -path ./var/lib/pnrp -o -path './var/lib/systemd/deb-systemd-helper-enabled/*pnrpd.service*' \
        -o -path ./etc/systemd/system/multi-user.target.wants/pnrpd.service)"
check "remove: the config stays" test -f "$tree/etc/pnrp/pnrpd.toml"
check "remove: the state dir stays" test -f "$tree/var/lib/pnrp/registrations.json"
check "purge" in_tree dpkg --purge pnrpd libnss-pnrp
check "purge: nsswitch.conf byte for byte as before" cmp "$work/nsswitch.orig" "$tree/etc/nsswitch.conf"
check "purge: the tree as before" same "$before" "$(listing)"
phase "removed and purged"

# --- under systemd ----------------------------------------------------------------------------
# The packages come back over the state of an older pnrpd that ran as root and left a name:
# systemd's StateDirectory= hands it to pnrp at the start.
check "installed again" in_tree dpkg -i \
    /root/debs/"$(basename "${pnrpd_deb[0]}")" /root/debs/"$(basename "${nss_deb[0]}")"
chown -R 0:0 "$tree/var/lib/pnrp"
check "a root-run pnrpd leaves a name" run root 'pnrpctl register 0.old --address fd00::9'
cat >"$tree/root/under-systemd.sh" <<'SCRIPT'
#!/bin/sh
# Runs once the tree booted, after pnrpd.service; "all well" last when every step passed.
exec >/root/under-systemd.out 2>&1
set -ex
test "$(systemctl is-active pnrpd)" = active
test "$(systemctl show -p User --value pnrpd)" = pnrp
pid=$(systemctl show -p MainPID --value pnrpd)
test "$(stat -c %U /proc/$pid)" = pnrp
grep -q '^CapEff:[[:space:]]*0000000000000000$' /proc/$pid/status
grep -q '^CapBnd:[[:space:]]*0000000000000000$' /proc/$pid/status
grep -q '^Seccomp:[[:space:]]*2$' /proc/$pid/status
test -z "$(find /var/lib/pnrp ! -user pnrp)"
# The watchdog heard from pnrpd (its first WATCHDOG=1 comes at start).
test "$(systemctl show -p WatchdogUSec --value pnrpd)" = 30s
test -n "$(systemctl show -p WatchdogTimestampMonotonic --value pnrpd | grep -v '^0$')"
getent ahosts 0.old.pnrp.net | grep -q '^fd00::9 '
# The snapshot in the RuntimeDirectory is believed (the daemon frozen, the name still answers).
kill -STOP "$pid"
timeout 2 getent ahosts 0.old.pnrp.net | grep -q '^fd00::9 '
kill -CONT "$pid"
pnrpctl register 0.booted --address fd00::a
getent ahosts 0.booted.pnrp.net | grep -q '^fd00::a '
sed -i 's/^log_level = .*/log_level = "debug"/; s/^seeds = .*/seeds = ["fd00::99"]/' /etc/pnrp/pnrpd.toml
systemctl reload pnrpd
status=$(pnrpctl status)
echo "$status" | grep -q 'seeds: *fd00::99'
echo "$status" | grep -q 'log level: *debug'
echo "$status" | grep -q 'registrations: 2'
test "$(systemctl show -p MainPID --value pnrpd)" = "$pid"
journalctl -u pnrpd --no-pager | grep -q 'configuration reloaded'
test -z "$(journalctl -u pnrpd -p warning --no-pager -q)"
systemctl stop pnrpd
test "$(systemctl show -p Result --value pnrpd)" = success
echo "all well"
SCRIPT
chmod 0755 "$tree/root/under-systemd.sh"
cat >"$tree/etc/systemd/system/pnrp-under-systemd.service" <<'UNIT'
[Unit]
After=pnrpd.service
[Service]
Type=oneshot
ExecStart=/root/under-systemd.sh
ExecStopPost=systemctl --no-block poweroff
UNIT
ln -s ../pnrp-under-systemd.service "$tree/etc/systemd/system/multi-user.target.wants/"
check "booted under systemd" timeout 180 systemd-nspawn --directory="$tree" --register=no \
    --keep-unit --private-network --boot --quiet
check "under systemd: the hardened unit runs, feeds the watchdog, reloads" \
    bash -c "cat '$tree/root/under-systemd.out'; tail -n 1 '$tree/root/under-systemd.out' | grep -qx 'all well'"
phase "booted under systemd"

echo "$pass passed, $failed failed"
((failed == 0))
