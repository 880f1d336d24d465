#!/usr/bin/env bash
# The DNS front end with real clients: three hosts on a bridge, one pnrpd each. h2 publishes
# names; h1's pnrpd serves DNS (on [::1]:53 and 127.0.0.1:53, so that a resolv.conf can point at
# it, on 127.0.0.1:3553, and on [fd73::1]:3553 for h3, which dns_allow lets in); h3 also runs a
# "public" dnsmasq. Checked: dig (every record type, the negative answers, TCP, truncation retried
# over TCP, letter case), dnsmasq forwarding pnrp.net to pnrpd while other names go elsewhere, a
# static musl program and a Go program without cgo resolving h2's name, hostile queries from h3.
#
# Usage: dns-hosts.sh MULTICALL LIBDIR GAI_MUSL LOOKUP_GO
#   MULTICALL  the pnrp-multicall test binary (pnrpd, pnrpctl)
#   LIBDIR     a directory holding libnss_pnrp.so.2 (unused: no client here loads it)
#   GAI_MUSL   tests/scripts/dns/gai.c built with musl-gcc -static
#   LOOKUP_GO  tests/scripts/dns/lookup.go built with CGO_ENABLED=0
# Run inside private mount and network namespaces (the test does). Prints one line per check and
# a final "N passed, M failed"; exits 1 on any failure.
set -uo pipefail
multicall=$1
libdir=$2
gai_musl=$3
lookup_go=$4
prefix=fd73
here=$(dirname "$0")
# shellcheck source-path=SCRIPTDIR source=hosts-lib.sh
source "$here/hosts-lib.sh"

# Only h3 of the LAN may ask h1's front end; h2 may not.
printf 'dns_allow = ["fd73::3/128"]\n' >"$work/pnrpd.toml"
daemon_flags=(--config "$work/pnrpd.toml")
make_hosts 3
sleep 1
start_daemon 1 --dns "[::1]:53" --dns 127.0.0.1:53 --dns 127.0.0.1:3553 --dns "[fd73::1]:3553"
start_daemon 2 --seed "[fd73::1]:3540"
start_daemon 3 --seed "[fd73::1]:3540"
sleep 2

# The names: on h2, published in the cloud; on h1, local ones.
ctl 2 register 0.myapp --address fd73::2 >/dev/null
ctl 2 register 0.printer --address fd73::2 --address 192.0.2.7 --port 631 --protocol tcp \
    --comment "lab printer" >/dev/null
ctl 1 register 0.here --address fd73::99 >/dev/null
big=()
for index in $(seq 1 40); do big+=(--address "fd73::1:$(printf %x "$index")"); done
ctl 1 register 0.big "${big[@]}" >/dev/null

# ask ARGS…: dig on h1 against pnrpd's [::1]:53.
ask() { ip netns exec h1 dig @::1 +time=3 +tries=1 "$@"; }
# says PATTERN ARGS…: dig ARGS prints PATTERN (a grep -E pattern).
says() {
    local pattern=$1
    shift
    ask "$@" | tee -a "$work/dig.log" | grep -E -- "$pattern" >/dev/null
}

check "AAAA of a name published on h2 (through the cloud)" until_ok 20 says \
    '^0\.myapp\.pnrp\.net\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+AAAA[[:space:]]+fd73::2$' 0.myapp.pnrp.net AAAA
check "TTL within the freshness window" sh -c \
    "ip netns exec h1 dig @::1 +noall +answer 0.myapp.pnrp.net AAAA | awk 'NR == 1 { ttl = \$2 } END { exit !(NR == 1 && ttl <= 10) }'"
check "PTR of the address just resolved (fresh)" says '0\.myapp\.pnrp\.net\.$' -x fd73::2
check "PTR of a name this node registered" says '0\.here\.pnrp\.net\.$' -x fd73::99
check "A (IPv4 record), Windows host-name form" says 'IN[[:space:]]+A[[:space:]]+192\.0\.2\.7$' printer.pnrp.net A
check "SRV from /etc/services' name" says 'SRV[[:space:]]+0 0 631 0\.printer\.pnrp\.net\.$' _ipp._tcp.0.printer.pnrp.net SRV
check "SRV by port" says 'SRV[[:space:]]+0 0 631 0\.printer\.pnrp\.net\.$' _631._tcp.0.printer.pnrp.net SRV
check "TXT with the comment" says 'TXT[[:space:]]+"lab printer"$' 0.printer.pnrp.net TXT
check "NXDOMAIN with an SOA" sh -c "ip netns exec h1 dig @::1 0.nobody.pnrp.net AAAA | tee -a '$work/dig.log' | grep -q 'status: NXDOMAIN' &&
    ip netns exec h1 dig @::1 0.nobody.pnrp.net AAAA | grep -Eq '^pnrp\.net\.[[:space:]]+[0-2][[:space:]]+IN[[:space:]]+SOA'"
check "NODATA: the name exists, not that type" sh -c "ip netns exec h1 dig @::1 0.myapp.pnrp.net MX | grep -q 'status: NOERROR.*' &&
    ip netns exec h1 dig @::1 0.myapp.pnrp.net MX | grep -q 'ANSWER: 0, AUTHORITY: 1'"
check "REFUSED outside pnrp.net" says 'status: REFUSED' example.com A
check "TCP" says 'IN[[:space:]]+AAAA[[:space:]]+fd73::2$' +tcp 0.myapp.pnrp.net AAAA
check "a truncated UDP answer is asked again over TCP" sh -c \
    "ip netns exec h1 dig @::1 +noedns 0.big.pnrp.net AAAA >'$work/big' && grep -q 'Truncated, retrying in TCP mode' '$work/big' && grep -q 'ANSWER: 40,' '$work/big'"
check "the question's letter case comes back (0x20)" says '^;0\.myapp\.PnRp\.NeT\.[[:space:]]+IN[[:space:]]+AAAA$' 0.myapp.PnRp.NeT AAAA
check "… and the answer's owner too" says '^0\.myapp\.PnRp\.NeT\.[[:space:]].*fd73::2$' 0.myapp.PnRp.NeT AAAA
check "EDNS(0)" says 'EDNS: version: 0, flags:; udp: 1232' 0.myapp.pnrp.net AAAA

# dnsmasq on h1 (127.0.0.2) forwards pnrp.net to pnrpd and everything else to h3's dnsmasq,
# which knows www.example.org. A client on h1 whose resolv.conf points at 127.0.0.2 and whose
# nsswitch.conf has no pnrp: glibc's own DNS.
ip netns exec h3 dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
    --listen-address=fd73::3 --port=53 --host-record=www.example.org,192.0.2.80 \
    --pid-file="$work/dnsmasq-h3.pid" --log-facility="$work/dnsmasq-h3.log" &
pids+=($!)
ip -n h1 addr add 127.0.0.2/8 dev lo 2>/dev/null
ip netns exec h1 dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
    --listen-address=127.0.0.2 --port=53 --server=/pnrp.net/127.0.0.1#3553 --server=fd73::3 \
    --pid-file="$work/dnsmasq-h1.pid" --log-facility="$work/dnsmasq-h1.log" &
pids+=($!)
sleep 1
echo "hosts: files dns" >"$work/nsswitch-dns.conf"
echo "nameserver 127.0.0.2" >"$work/resolv-dnsmasq.conf"
echo "nameserver ::1" >"$work/resolv-pnrpd.conf"
# through RESOLV CMD…: CMD on h1 with only files and DNS on its hosts: line and RESOLV as
# /etc/resolv.conf (no NSS module of ours anywhere).
through() {
    local resolv=$1
    shift
    # shellcheck disable=SC2016 # expanded by the inner shell
    ip netns exec h1 unshare --mount sh -c '
        mount --bind "$0/nsswitch-dns.conf" /etc/nsswitch.conf
        mount --bind "$0/$1" /etc/resolv.conf
        shift
        exec "$@"' "$work" "$resolv" "$@"
}
# resolves_via RESOLV PATTERN CMD…: CMD run through RESOLV prints a line PATTERN (grep -E -x).
resolves_via() {
    local resolv=$1 pattern=$2
    shift 2
    through "$resolv" "$@" | tee -a "$work/clients.log" | grep -Ex -- "$pattern" >/dev/null
}
check "dnsmasq forwards pnrp.net to pnrpd (getent, glibc DNS only)" \
    resolves_via resolv-dnsmasq.conf 'fd73::2 +STREAM 0\.myapp\.pnrp\.net' getent ahosts 0.myapp.pnrp.net
check "… while other names go elsewhere" \
    resolves_via resolv-dnsmasq.conf '192\.0\.2\.80 +STREAM www\.example\.org' getent ahosts www.example.org
# static PROGRAM: ldd finds no dynamic section (no loader, so no NSS module can be loaded).
static() { ! ldd "$1" >/dev/null 2>&1; }
check "the musl program is static" static "$gai_musl"
check "the Go program is static (CGO_ENABLED=0)" static "$lookup_go"
check "musl getaddrinfo resolves h2's name through pnrpd on [::1]:53" \
    resolves_via resolv-pnrpd.conf 'fd73::2' "$gai_musl" 0.myapp.pnrp.net
check "… and its IPv4 record" resolves_via resolv-pnrpd.conf '192\.0\.2\.7' "$gai_musl" 0.printer.pnrp.net
check "Go without cgo resolves h2's name through pnrpd on [::1]:53" \
    resolves_via resolv-pnrpd.conf 'fd73::2' "$lookup_go" 0.myapp.pnrp.net

# Sources: h3 is allowed (and gets at most three times its query), h2 is not.
check "an allowed peer (h3) is answered" sh -c \
    "ip netns exec h3 dig @fd73::1 -p 3553 +time=2 +tries=1 0.here.pnrp.net AAAA | grep -q fd73::99"
check "a peer outside dns_allow (h2) is not" sh -c \
    "! ip netns exec h2 dig @fd73::1 -p 3553 +time=1 +tries=1 0.here.pnrp.net AAAA >/dev/null"
check "no amplification: a large answer to a peer is truncated to 3x its query" sh -c \
    "ip netns exec h3 dig @fd73::1 -p 3553 +qr +bufsize=4096 +ignore 0.big.pnrp.net AAAA >'$work/amp' &&
     grep -Eq 'flags:[^;]* tc' '$work/amp' &&
     awk '/QUERY SIZE/ { query = \$NF } /MSG SIZE/ { reply = \$NF } END { exit !(query > 0 && reply <= 3 * query) }' '$work/amp'"

# Hostile queries from h3: the daemon answers on, its memory stays bounded.
rss() { awk '/^VmRSS/ { print $2 }' "/proc/${pids[1]}/status"; }
before=$(rss)
check "hostile queries from h3 (20 000 datagrams, TCP garbage)" \
    ip netns exec h3 python3 "$here/dns/hostile.py" fd73::1 3553 20000
after=$(rss)
echo "figure: pnrpd resident memory ${before} kB before the hostile queries, ${after} kB after"
check "memory bounded (grew under 16 MiB)" test $((after - before)) -lt 16384
check "pnrpd still answers after them" says 'fd73::99$' 0.here.pnrp.net AAAA
check "… h3 too, once its rate allows" until_ok 10 sh -c \
    "ip netns exec h3 dig @fd73::1 -p 3553 +time=1 +tries=1 0.here.pnrp.net AAAA | grep -q fd73::99"
ctl 1 status >"$work/status"
cat "$work/status"
check "status counts malformed, rate-limited and denied queries" sh -c \
    "grep -E 'DNS udp \[fd73::1\]:3553: .* [1-9][0-9]* malformed, [1-9][0-9]* rate-limited, [1-9][0-9]* denied' '$work/status'"
check "pnrpd h1 still running" kill -0 "${pids[1]}"

finish
