#!/bin/sh
# nsswitch.sh — add or remove the pnrp source on the hosts: line of nsswitch.conf.
# Usage: packaging/nsswitch.sh add|remove [FILE]   (FILE defaults to $DESTDIR/etc/nsswitch.conf)
#   add:    insert "pnrp [!UNAVAIL=return]" right before "dns" (or at the end of the sources when
#           there is no dns); nothing if pnrp is already a source. Without a hosts: line, append
#           one marked "# added by pnrp". Backs FILE up once as FILE.pnrp-backup.
#   remove: undo add byte for byte; deletes FILE.pnrp-backup once FILE equals it again.
# Only the first hosts: line is touched (glibc uses the first); every other byte is kept.
# The write is atomic (temp file in the same directory, then mv) and keeps FILE's mode and owner.
# NOTE: "[!UNAVAIL=return]" means DNS is consulted only when the module answers UNAVAIL, so
# libnss_pnrp must return NSS_STATUS_UNAVAIL for names outside .pnrp.net and when pnrpd is down.
set -eu

die() { echo "nsswitch.sh: $*" >&2; exit 1; }

mode=${1:-}
case $mode in add|remove) ;; *) die "usage: nsswitch.sh add|remove [FILE]" ;; esac
file=${2:-${DESTDIR:-}/etc/nsswitch.conf}
[ -f "$file" ] || die "$file: no such file"
[ ! -L "$file" ] || die "$file is a symlink; run me on its target"

# Does FILE end in a newline (or is it empty)? $(...) strips a trailing newline.
nonl=0
[ -z "$(tail -c 1 "$file")" ] || nonl=1

tmp=$(mktemp "$(dirname "$file")/.nsswitch.pnrp.XXXXXX")
trap 'rm -f "$tmp"' EXIT INT TERM

awk -v mode="$mode" -v nonl="$nonl" '
BEGIN {
    ins = "pnrp [!UNAVAIL=return]"
    mark = "  # added by pnrp"
    newline = "hosts:          files " ins " dns" mark
}
# Split the sources of a hosts: line body into words, skipping [action] blocks.
# Fills S[k] (start), E[k] (end), T[k] (text); returns the count.
function words(body,    i, c, n, depth, tok) {
    n = 0; depth = 0; tok = ""
    for (i = index(body, ":") + 1; i <= length(body) + 1; i++) {
        c = (i <= length(body)) ? substr(body, i, 1) : " "
        if (depth) { if (c == "]") depth = 0; continue }
        if (c == "[" || c == " " || c == "\t") {
            if (tok != "") { n++; T[n] = tok; S[n] = i - length(tok); E[n] = i - 1; tok = "" }
            if (c == "[") depth = 1
        } else tok = tok c
    }
    return n
}
function find(n, w,    k) { for (k = 1; k <= n; k++) if (T[k] == w) return k; return 0 }
function isws(c) { return c == " " || c == "\t" }
function add(body,    n, k, l) {
    n = words(body)
    if (find(n, "pnrp")) return body
    if ((k = find(n, "dns"))) return substr(body, 1, S[k] - 1) ins " " substr(body, S[k])
    for (l = length(body); l > 0 && isws(substr(body, l, 1)); l--) ;
    return substr(body, 1, l) " " ins substr(body, l + 1)
}
function remove(body,    n, k, p, a, j, b) {
    while ((k = find(n = words(body), "pnrp"))) {
        p = S[k]; a = E[k] + 1
        for (j = a; isws(substr(body, j, 1)); j++) ;
        if (substr(body, j, 1) == "[" && (b = index(substr(body, j), "]"))) a = j + b
        for (b = a; isws(substr(body, b, 1)); b++) ;
        if (b > length(body)) {            # last source: drop it and the one space before it
            if (isws(substr(body, p - 1, 1))) p--
            body = substr(body, 1, p - 1) substr(body, a)
        } else                             # drop it and the blanks up to the next source
            body = substr(body, 1, p - 1) substr(body, b)
    }
    return body
}
{
    line = $0
    if (!found && line ~ /^[ \t]*hosts[ \t]*:/) {
        found = 1
        if (mode == "remove" && line == newline) next
        h = index(line, "#")
        body = h ? substr(line, 1, h - 1) : line
        cmt = h ? substr(line, h) : ""
        line = (mode == "add" ? add(body) : remove(body)) cmt
    }
    if (havep) printf "%s\n", pend
    pend = line; havep = 1
}
END {
    if (mode == "add" && !found) {
        if (havep) printf "%s\n", pend
        pend = newline; havep = 1
    }
    if (havep) printf "%s%s", pend, (nonl ? "" : "\n")
}' "$file" >"$tmp"

backup=$file.pnrp-backup
if cmp -s "$tmp" "$file"; then
    echo "nsswitch.sh: $file unchanged"
else
    if [ "$mode" = add ] && [ ! -e "$backup" ]; then
        cp -p "$file" "$backup"
        echo "nsswitch.sh: backed up $file to $backup"
    fi
    chmod --reference="$file" "$tmp"
    chown --reference="$file" "$tmp" 2>/dev/null || true
    mv -f "$tmp" "$file"
    if [ "$mode" = add ]; then what="added pnrp to"; else what="removed pnrp from"; fi
    echo "nsswitch.sh: $what the hosts: line of $file"
fi
if [ "$mode" = remove ] && [ -e "$backup" ]; then
    if cmp -s "$file" "$backup"; then
        rm -f "$backup"
    else
        echo "nsswitch.sh: $file differs from $backup (edited since?); keeping the backup"
    fi
fi
