#!/usr/bin/env bash
# test.sh — tests for install.sh, uninstall.sh and nsswitch.sh, run entirely inside temp
# directories with fake build artifacts: never touches the live system.
# Usage: bash packaging/test.sh   (from any directory; no options)
# Prints one line per failed check and a final "N passed, M failed"; exits 1 on any failure.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
unset DESTDIR PREFIX BUILD_DIR LIBDIR
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0

# check WHAT CMD...: run CMD, count it as passed or failed.
check() {
    local what=$1; shift
    if "$@" >>"$T/log" 2>&1; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $what"; fi
}
listing() { (cd "$1" && find . -printf '%y %m %p\n' | LC_ALL=C sort); }
mode_is() { [ "$(stat -c %a "$2")" = "$1" ]; }
has_line() { grep -Fxq -- "$2" "$1"; }
same_listing() { [ "$(listing "$1")" = "$2" ]; }
no_files() { [ -z "$(find "$1" ! -type d)" ]; }
no_temps() { [ -z "$(find "$1" -name '*.pnrp-new' -o -name '.nsswitch.pnrp.*')" ]; }
contains() { grep -Fq -- "$2" "$1"; }
not_contains() { ! grep -Fq -- "$2" "$1"; }

# Fake build output; the binaries are deliberately not executable.
B=$T/build
mkdir -p "$B"
printf 'fake nss module\n' >"$B/libnss_pnrp.so"
printf 'fake daemon\n' >"$B/pnrpd"
# The fake pnrpctl writes two manual pages and a completion, as the real one's generate-docs.
cat >"$B/pnrpctl" <<'FAKE'
#!/bin/sh
[ "$1" = generate-docs ] || exit 2
mkdir -p "$2/man/man1" "$2/man/man8" "$2/bash-completion/completions"
echo '.TH pnrpctl 1' >"$2/man/man1/pnrpctl.1"
echo '.TH pnrpd 8' >"$2/man/man8/pnrpd.8"
echo 'complete -F _pnrpctl pnrpctl' >"$2/bash-completion/completions/pnrpctl"
FAKE
chmod 644 "$B"/*

# A system-like root with the usual directories, some unrelated files and a state dir.
new_root() {
    local r=$1
    mkdir -p "$r"/etc/systemd/system "$r"/usr/local/bin "$r"/usr/local/sbin \
        "$r"/usr/lib/test-linux-gnu "$r"/var/lib/pnrp
    printf 'passwd:         files\nhosts:          files dns\nnetworks:       files\n' >"$r/etc/nsswitch.conf"
    chmod 644 "$r/etc/nsswitch.conf"
    printf 'glibc\n' >"$r/usr/lib/test-linux-gnu/libnss_files.so.2"
    printf 'other\n' >"$r/usr/local/bin/other-tool"
    printf 'registrations\n' >"$r/var/lib/pnrp/state"
}
# inst/uninst ROOT [ARGS]: run the scripts against ROOT (refuses an empty ROOT). PFX and LD
# set PREFIX and LIBDIR (LD='' means detect).
PFX=/usr/local LD=/usr/lib/test-linux-gnu
inst() {
    local r=$1; shift
    [ -n "$r" ] && DESTDIR=$r PREFIX=$PFX BUILD_DIR=$B LIBDIR=$LD "$here/install.sh" "$@"
}
uninst() { [ -n "$1" ] && DESTDIR=$1 PREFIX=$PFX LIBDIR=$LD "$here/uninstall.sh"; }

# --- install / reinstall / uninstall round trip ------------------------------------------
R=$T/root
new_root "$R"
before=$(listing "$R")
cp "$R/etc/nsswitch.conf" "$T/nsswitch.orig"
check "install runs" inst "$R"
inst "$R" >"$T/out1" 2>&1
check "ldconfig skipped with DESTDIR, and said so" contains "$T/out1" "skipping ldconfig"
check "NSS module installed" cmp "$B/libnss_pnrp.so" "$R/usr/lib/test-linux-gnu/libnss_pnrp.so.2"
check "NSS module mode 0644" mode_is 644 "$R/usr/lib/test-linux-gnu/libnss_pnrp.so.2"
check "nothing in /usr/local/lib" test ! -e "$R/usr/local/lib"
check "pnrpd in sbin" cmp "$B/pnrpd" "$R/usr/local/sbin/pnrpd"
check "pnrpd mode 0755" mode_is 755 "$R/usr/local/sbin/pnrpd"
check "pnrpctl in bin" cmp "$B/pnrpctl" "$R/usr/local/bin/pnrpctl"
check "pnrpctl mode 0755" mode_is 755 "$R/usr/local/bin/pnrpctl"
U=$R/etc/systemd/system/pnrpd.service
check "unit mode 0644" mode_is 644 "$U"
for l in "Type=notify" "ExecStart=/usr/local/sbin/pnrpd --config /etc/pnrp/pnrpd.toml" \
    "RuntimeDirectory=pnrp" "RuntimeDirectoryMode=0755" "StateDirectory=pnrp" "Restart=on-failure" \
    "NoNewPrivileges=yes" "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes" \
    "WantedBy=multi-user.target"; do
    check "unit has $l" has_line "$U" "$l"
done
check "unit has no @PREFIX@ left" not_contains "$U" "@PREFIX@"
# shellcheck disable=SC2016 # $MAINPID is systemd's
for l in "User=pnrp" "CapabilityBoundingSet=" "WatchdogSec=30s" 'ExecReload=kill -HUP $MAINPID'; do
    check "unit has $l" has_line "$U" "$l"
done
check "sysusers.d declares the pnrp user" cmp "$here/pnrpd.sysusers" "$R/etc/sysusers.d/pnrpd.conf"
check "DESTDIR: the user is not created, and that is said" contains "$T/out1" "not creating the pnrp user"
check "config installed" cmp "$here/pnrpd.toml" "$R/etc/pnrp/pnrpd.toml"
D=$R/usr/local/share
check "pnrpctl(1) generated and installed" has_line "$D/man/man1/pnrpctl.1" ".TH pnrpctl 1"
check "pnrpd(8) generated and installed" test -f "$D/man/man8/pnrpd.8"
check "pnrpd.toml(5) installed" cmp "$here/man/pnrpd.toml.5" "$D/man/man5/pnrpd.toml.5"
check "nss-pnrp(8) installed" cmp "$here/man/nss-pnrp.8" "$D/man/man8/nss-pnrp.8"
check "bash completion installed" test -f "$D/bash-completion/completions/pnrpctl"
check "manual page mode 0644" mode_is 644 "$D/man/man5/pnrpd.toml.5"
check "docs manifest lists the new directories" has_line "$D/pnrp/installed-docs" "dir /usr/local/share/man/man5"
check "config mode 0644" mode_is 644 "$R/etc/pnrp/pnrpd.toml"
check "hosts line gets pnrp" has_line "$R/etc/nsswitch.conf" "hosts:          files pnrp [!UNAVAIL=return] dns"
check "nsswitch backup made" cmp "$T/nsswitch.orig" "$R/etc/nsswitch.conf.pnrp-backup"
check "no temp files left" no_temps "$R"
after=$(listing "$R")
cp "$R/etc/nsswitch.conf" "$T/nsswitch.after"
check "second install runs" inst "$R"
check "second install: same tree" same_listing "$R" "$after"
check "second install: same nsswitch.conf" cmp "$T/nsswitch.after" "$R/etc/nsswitch.conf"
check "second install: no .dist" test ! -e "$R/etc/pnrp/pnrpd.toml.dist"
uninst "$R" >"$T/out2" 2>&1
check "uninstall runs" test $? = 0
check "uninstall says the state dir stays" contains "$T/out2" "/var/lib/pnrp"
check "uninstall: tree as before install" same_listing "$R" "$before"
check "uninstall: nsswitch.conf byte-identical" cmp "$T/nsswitch.orig" "$R/etc/nsswitch.conf"
check "uninstall: state dir kept" test -f "$R/var/lib/pnrp/state"
check "second uninstall runs" uninst "$R"
check "second uninstall: tree unchanged" same_listing "$R" "$before"

# --- an admin-edited config survives install and uninstall -----------------------------
check "install (admin config)" inst "$R"
echo 'log_level = "debug"' >>"$R/etc/pnrp/pnrpd.toml"
cp "$R/etc/pnrp/pnrpd.toml" "$T/admin.toml"
check "reinstall over edited config" inst "$R"
check "edited config untouched" cmp "$T/admin.toml" "$R/etc/pnrp/pnrpd.toml"
check "shipped config as .dist" cmp "$here/pnrpd.toml" "$R/etc/pnrp/pnrpd.toml.dist"
uninst "$R" >"$T/out3" 2>&1
check "uninstall (admin config) runs" test $? = 0
check "edited config kept" cmp "$T/admin.toml" "$R/etc/pnrp/pnrpd.toml"
check "uninstall says it kept the config" contains "$T/out3" "kept"
check ".dist removed" test ! -e "$R/etc/pnrp/pnrpd.toml.dist"
rm -r "$R/etc/pnrp"
check "otherwise the tree is as before" same_listing "$R" "$before"

# --- pnrp.net forwarding for the resolvers installed, and only those -------------------------
Q=$T/resolvers
new_root "$Q"
mkdir -p "$Q/usr/lib/systemd" "$Q/etc/dnsmasq.d" "$Q/etc/unbound/unbound.conf.d"
printf 'resolved\n' >"$Q/usr/lib/systemd/systemd-resolved"
printf 'conf-dir=/etc/dnsmasq.d\n' >"$Q/etc/dnsmasq.d/other.conf"
before=$(listing "$Q")
check "install with resolvers" inst "$Q"
check "systemd-resolved drop-in" cmp "$here/resolvers/resolved.conf" "$Q/etc/systemd/resolved.conf.d/pnrp.conf"
check "drop-in: DNS= the front end" has_line "$Q/etc/systemd/resolved.conf.d/pnrp.conf" "DNS=127.0.0.1:3553"
check "drop-in: routing domain" has_line "$Q/etc/systemd/resolved.conf.d/pnrp.conf" "Domains=~pnrp.net"
check "dnsmasq snippet" has_line "$Q/etc/dnsmasq.d/pnrp.conf" "server=/pnrp.net/127.0.0.1#3553"
check "unbound forward-zone" has_line "$Q/etc/unbound/unbound.conf.d/pnrp.conf" "    forward-addr: 127.0.0.1@3553"
check "resolver files mode 0644" mode_is 644 "$Q/etc/dnsmasq.d/pnrp.conf"
check "resolvers manifest lists the new directory" has_line "$Q/usr/local/share/pnrp/installed-resolvers" "dir /etc/systemd/resolved.conf.d"
check "the port is the shipped config's" contains "$here/pnrpd.toml" 'dns_listen = ["127.0.0.1:3553", "[::1]:3553"]'
after=$(listing "$Q")
check "reinstall with resolvers" inst "$Q"
check "reinstall: same tree" same_listing "$Q" "$after"
check "uninstall with resolvers" uninst "$Q"
check "uninstall: resolvers as before (their other files kept)" same_listing "$Q" "$before"
# An admin's own pnrp.conf is never replaced nor removed; one edited after install is kept.
printf 'server=/pnrp.net/127.0.0.1#5300\n' >"$Q/etc/dnsmasq.d/pnrp.conf"
cp "$Q/etc/dnsmasq.d/pnrp.conf" "$T/admin-dnsmasq"
inst "$Q" >"$T/out5" 2>&1
check "install keeps the admin's dnsmasq file" cmp "$T/admin-dnsmasq" "$Q/etc/dnsmasq.d/pnrp.conf"
check "install says so" contains "$T/out5" "kept your $Q/etc/dnsmasq.d/pnrp.conf"
echo '    # edited' >>"$Q/etc/unbound/unbound.conf.d/pnrp.conf"
uninst "$Q" >"$T/out6" 2>&1
check "uninstall keeps the admin's dnsmasq file" cmp "$T/admin-dnsmasq" "$Q/etc/dnsmasq.d/pnrp.conf"
check "uninstall keeps an edited unbound file" contains "$Q/etc/unbound/unbound.conf.d/pnrp.conf" "# edited"
check "uninstall says so" contains "$T/out6" "kept $Q/etc/unbound/unbound.conf.d/pnrp.conf"
check "uninstall removed the untouched drop-in" test ! -e "$Q/etc/systemd/resolved.conf.d"
inst "$R" >"$T/out7" 2>&1
check "no resolver: none configured, and said so" contains "$T/out7" "no systemd-resolved, dnsmasq or Unbound here"
check "no resolver: no drop-in" test ! -e "$R/etc/systemd/resolved.conf.d"
uninst "$R" >/dev/null 2>&1

# --- PREFIX, detected LIBDIR, bare staging dir without nsswitch.conf --------------------
S=$T/stage
mkdir "$S"
PFX=/opt/pnrp LD=''
inst "$S" >"$T/out4" 2>&1
check "staging install runs" test $? = 0
check "PREFIX: pnrpd in /opt/pnrp/sbin" test -x "$S/opt/pnrp/sbin/pnrpd"
check "PREFIX: pnrpctl in /opt/pnrp/bin" test -x "$S/opt/pnrp/bin/pnrpctl"
check "PREFIX: ExecStart follows it" has_line "$S/etc/systemd/system/pnrpd.service" \
    "ExecStart=/opt/pnrp/sbin/pnrpd --config /etc/pnrp/pnrpd.toml"
check "no nsswitch.conf: said so" contains "$T/out4" "no $S/etc/nsswitch.conf"
lib=$(cd "$S" && find . -name libnss_pnrp.so.2)
libdir=$(dirname "${lib#.}")
check "detected libdir ($libdir) is a system lib dir" \
    grep -Eqx '(/usr)?/lib(64)?(/[a-z0-9_]+-linux-[a-z0-9_]+)?' <<<"$libdir"
if ma=$(gcc -print-multiarch 2>/dev/null) && [ -n "$ma" ]; then
    check "detected libdir is /usr/lib/$ma" test "$libdir" = "/usr/lib/$ma"
fi
check "staging uninstall runs" uninst "$S"
PFX=/usr/local LD=/usr/lib/test-linux-gnu
check "staging uninstall: no files left" no_files "$S"

# --- failures leave the tree alone ------------------------------------------------------
mkdir -p "$T/partial"
cp "$B/libnss_pnrp.so" "$B/pnrpd" "$T/partial/"
before=$(listing "$R")
check "missing pnrpctl: install fails" bash -c "! DESTDIR='$R' BUILD_DIR='$T/partial' '$here/install.sh'"
check "missing pnrpctl: tree unchanged" same_listing "$R" "$before"
check "unknown option: install fails" bash -c "! DESTDIR='$R' '$here/install.sh' --bogus"

# --- --build runs cargo in the repo root --------------------------------------------------
mkdir -p "$T/bin"
# shellcheck disable=SC2016 # $PWD and $* are for the fake cargo
printf '#!/bin/sh\necho "$PWD $*" >"%s"\n' "$T/cargo.log" >"$T/bin/cargo"
chmod +x "$T/bin/cargo"
oldpath=$PATH PATH=$T/bin:$PATH
check "--build install runs" inst "$R" --build
PATH=$oldpath
check "--build ran cargo build in repo root" has_line "$T/cargo.log" "$repo build --release -p nss_pnrp -p pnrpd"
check "uninstall after --build" uninst "$R"
check "tree as before again" same_listing "$R" "$before"

# --- make -C packaging install/uninstall ---------------------------------------------------
if command -v make >/dev/null; then
    check "make install" make -C "$here" install DESTDIR="$R" BUILD_DIR="$B" LIBDIR=/usr/lib/test-linux-gnu
    check "make install: module there" test -f "$R/usr/lib/test-linux-gnu/libnss_pnrp.so.2"
    check "make uninstall" make -C "$here" uninstall DESTDIR="$R" LIBDIR=/usr/lib/test-linux-gnu
    check "make: tree as before" same_listing "$R" "$before"
fi

# --- nsswitch.sh variants -------------------------------------------------------------------
ns() { "$here/nsswitch.sh" "$@"; }
# variant NAME CONTENT EXPECTED: EXPECTED is the hosts line after add, or "" when add must
# leave the file alone.
variant() {
    local name=$1 content=$2 expect=$3 d=$T/ns/$1
    local f=$d/nsswitch.conf
    mkdir -p "$d"
    printf '%s' "$content" >"$f"
    chmod 640 "$f"
    cp "$f" "$d/orig"
    check "$name: add runs" ns add "$f"
    if [ -z "$expect" ]; then
        check "$name: add leaves it alone" cmp "$d/orig" "$f"
        check "$name: no backup when unchanged" test ! -e "$f.pnrp-backup"
    else
        check "$name: hosts line" has_line "$f" "$expect"
        check "$name: only that line changed" \
            test "$(grep -cvxF -f "$d/orig" "$f")" = 1
        check "$name: backup is the original" cmp "$d/orig" "$f.pnrp-backup"
    fi
    check "$name: mode kept" mode_is 640 "$f"
    cp "$f" "$d/added"
    check "$name: add again runs" ns add "$f"
    check "$name: add twice = add once" cmp "$d/added" "$f"
    check "$name: remove runs" ns remove "$f"
    if [ -n "$expect" ]; then
        check "$name: add+remove byte-identical" cmp "$d/orig" "$f"
        check "$name: backup dropped once restored" test ! -e "$f.pnrp-backup"
    fi
    cp "$f" "$d/removed"
    check "$name: remove again runs" ns remove "$f"
    check "$name: remove when absent = no change" cmp "$d/removed" "$f"
    check "$name: no temp files" no_temps "$d"
}
P='pnrp [!UNAVAIL=return]'
variant debian $'passwd:         files\nhosts:          files dns\n' "hosts:          files $P dns"
variant tabs $'hosts:\tfiles\t\tdns\tmyhostname\n' $'hosts:\tfiles\t\t'"$P"$' dns\tmyhostname'
variant spaces $'hosts:   files    dns   myhostname\n' "hosts:   files    $P dns   myhostname"
variant mdns $'hosts: files mdns4_minimal [NOTFOUND=return] dns myhostname\n' \
    "hosts: files mdns4_minimal [NOTFOUND=return] $P dns myhostname"
variant nodns $'hosts: files myhostname\n' "hosts: files myhostname $P"
variant nodns_trailing_ws $'hosts: files mdns4  \n' "hosts: files mdns4 $P  "
variant comments $'# hosts: files dns\n#hosts: dns\n  # hosts: dns\nhosts: files dns\n' "hosts: files $P dns"
variant trailing_comment $'hosts: files dns # then dns\n' "hosts: files $P dns # then dns"
variant comment_has_dns $'hosts: files mdns # dns pnrp\n' "hosts: files mdns $P # dns pnrp"
variant no_hosts_line $'passwd: files\ngroup: files\n' "hosts:          files $P dns  # added by pnrp"
variant empty_file '' "hosts:          files $P dns  # added by pnrp"
variant no_final_newline $'passwd: files\nhosts: files dns' "hosts: files $P dns"
variant no_hosts_no_newline $'passwd: files' "hosts:          files $P dns  # added by pnrp"
variant leading_ws $'  hosts: files dns\n' "  hosts: files $P dns"
variant two_hosts_lines $'hosts: files dns\nhosts: dns\n' "hosts: files $P dns"
variant lookalikes $'hosts: files pnrp2 nopnrp mdns dnsx dns\n' "hosts: files pnrp2 nopnrp mdns dnsx $P dns"
variant dns_with_action $'hosts: files dns[NOTFOUND=return] files\n' "hosts: files ${P} dns[NOTFOUND=return] files"
variant present $'hosts: files pnrp [!UNAVAIL=return] dns\n' ''
check "present: remove takes it out" has_line "$T/ns/present/nsswitch.conf" "hosts: files dns"
variant present_last $'hosts:\tfiles pnrp\n' ''
check "present_last: remove takes it out" has_line "$T/ns/present_last/nsswitch.conf" $'hosts:\tfiles'

check "nsswitch.sh: FILE defaults to \$DESTDIR/etc/nsswitch.conf" \
    env DESTDIR="$T/ns/debian" bash -c "mkdir -p '$T/ns/debian/etc' && cp '$T/ns/debian/orig' '$T/ns/debian/etc/nsswitch.conf' && '$here/nsswitch.sh' add && grep -Fq pnrp '$T/ns/debian/etc/nsswitch.conf'"
check "nsswitch.sh: bad mode fails" bash -c "! '$here/nsswitch.sh' frob '$T/ns/debian/orig'"
check "nsswitch.sh: missing file fails" bash -c "! '$here/nsswitch.sh' add '$T/nonexistent'"

# The linter is part of the test: without it this check fails, loudly, rather than being skipped.
command -v shellcheck >/dev/null || echo "shellcheck is not installed (apt-get install shellcheck)"
check "shellcheck clean" bash -c "cd '$here' && shellcheck -x install.sh uninstall.sh nsswitch.sh test.sh deb.sh deb-test.sh debian/*.p* ../demo.sh ../tests/scripts/*.sh"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
