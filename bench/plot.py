#!/usr/bin/env python3
"""Pictures and tables of the simulated-cloud figures (bench/simulate.sh writes them).

    python3 bench/plot.py [DIR]        # DIR defaults to docs/figures

Reads DIR/*.json (one `simulate --json` run each), writes DIR/hops-vs-n.svg,
DIR/churn-success.svg, DIR/churn-latency.svg and DIR/heal.svg, and prints Markdown tables for
docs/PERFORMANCE.md.
Python's standard library only.
"""

import json
import math
import pathlib
import sys

HEAL_DEFINITION = (
    "heal_s: lookups are grouped by start time into 10 s windows from the heal; heal_s is the "
    "start, in seconds after the heal, of the earliest window W such that, from W to the end of "
    "every later window, the cross-half lookups (asker and publisher in different halves) "
    "started since W succeeded at least 99 % of the time."
)


def load(directory):
    runs = {}
    for path in sorted(directory.glob("*.json")):
        with open(path) as f:
            run = json.load(f)
        # Other benchmarks keep their figures here too (bench/dns.sh): only the simulator's.
        if isinstance(run, dict) and "nodes" in run:
            runs[path.stem] = run
    return runs


def kind(run):
    if run.get("partition_s") is not None:
        return "partition"
    if run.get("session_median_s") is not None:
        return "churn"
    if run.get("unreachable"):
        return "unreachable"
    return "static"


# ---- SVG ----------------------------------------------------------------------------------

W, H, LEFT, RIGHT, TOP, BOTTOM = 560, 340, 60, 150, 30, 45
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def nice_ticks(low, high, count=5):
    """Round tick values between low and high."""
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def chart(title, xlabel, ylabel, series, xlog=False, ymin=None, ymax=None, marks=()):
    """An SVG line chart. series: [(label, [(x, y), ...])]; marks: [(x, label)] vertical lines."""
    points = [p for _, pts in series for p in pts if p[1] is not None]
    if not points:
        return None
    fx = (lambda x: math.log10(x)) if xlog else (lambda x: x)
    xs = [fx(x) for x, _ in points] + [fx(x) for x, _ in marks]
    ys = [y for _, y in points]
    x0, x1 = min(xs), max(xs)
    y0 = min(ys) if ymin is None else ymin
    y1 = max(ys) if ymax is None else ymax
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        y1 = y0 + 1
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(x):
        return LEFT + (fx(x) - x0) / (x1 - x0) * pw

    def py(y):
        return TOP + ph - (y - y0) / (y1 - y0) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{LEFT}" y="18" font-size="13" font-weight="bold">{title}</text>',
        f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>',
    ]
    for y in nice_ticks(y0, y1):
        out.append(f'<line x1="{LEFT}" y1="{py(y):.1f}" x2="{LEFT + pw}" y2="{py(y):.1f}" '
                   f'stroke="#eee"/>')
        out.append(f'<text x="{LEFT - 5}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.4g}</text>')
    data_x = sorted({x for _, pts in series for x, _ in pts})
    if xlog and len(data_x) <= 8:
        ticks = data_x
    elif xlog:
        ticks = [10 ** e for e in range(math.floor(x0), math.ceil(x1) + 1)]
    else:
        ticks = nice_ticks(x0, x1)
    for x in ticks:
        if fx(x) < x0 - 1e-9 or fx(x) > x1 + 1e-9:
            continue
        out.append(f'<text x="{px(x):.1f}" y="{TOP + ph + 15}" text-anchor="middle">{x:.4g}</text>')
    out.append(f'<text x="{LEFT + pw / 2}" y="{H - 8}" text-anchor="middle">{xlabel}</text>')
    out.append(f'<text transform="translate(14,{TOP + ph / 2}) rotate(-90)" '
               f'text-anchor="middle">{ylabel}</text>')
    for n, (x, label) in enumerate(marks):
        out.append(f'<line x1="{px(x):.1f}" y1="{TOP}" x2="{px(x):.1f}" y2="{TOP + ph}" '
                   f'stroke="#999" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{px(x) + 3:.1f}" y="{TOP + ph - 6 - 14 * n}" fill="#666">{label}</text>')
    for n, (label, pts) in enumerate(series):
        colour = COLOURS[n % len(COLOURS)]
        pts = [(x, y) for x, y in pts if y is not None]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        if len(pts) <= 20:
            for x, y in pts:
                out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        ly = TOP + 10 + 16 * n
        out.append(f'<line x1="{W - RIGHT + 10}" y1="{ly}" x2="{W - RIGHT + 30}" y2="{ly}" '
                   f'stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{W - RIGHT + 35}" y="{ly + 4}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write(directory, name, svg):
    if svg:
        (directory / name).write_text(svg)
        print(f"<!-- wrote {directory / name} -->")


# ---- tables -------------------------------------------------------------------------------

def cell(value, digits=1):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}".replace(",", " ")
    if isinstance(value, int):
        return f"{value:,}".replace(",", " ")
    return str(value)


def pct(value):
    return "–" if value is None else f"{100 * value:.2f} %"


def table(title, rows, columns):
    if not rows:
        return
    print(f"\n**{title}**\n")
    print("| " + " | ".join(name for name, _ in columns) + " |")
    print("|" + "|".join("---:" for _ in columns) + "|")
    for name, run in rows:
        print("| " + " | ".join(get(name, run) for _, get in columns) + " |")


def main():
    directory = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "docs/figures")
    runs = load(directory)
    if not runs:
        sys.exit(f"plot.py: no JSON in {directory} (run bench/simulate.sh)")
    by_kind = {}
    for name, run in runs.items():
        by_kind.setdefault(kind(run), []).append((name, run))

    # Hops against N.
    static = sorted(by_kind.get("static", []), key=lambda r: r[1]["nodes"])
    write(directory, "hops-vs-n.svg", chart(
        "LOOKUP hops against cloud size (static, internet latency)", "nodes", "hops",
        [("p50", [(r["nodes"], r["hops_p50"]) for _, r in static]),
         ("p99", [(r["nodes"], r["hops_p99"]) for _, r in static]),
         ("log10 N", [(r["nodes"], math.log10(r["nodes"])) for _, r in static])],
        xlog=True, ymin=0))

    # Success and latency against the median session (same size and loss).
    churn = sorted((r for r in by_kind.get("churn", []) if not r[1]["loss"]),
                   key=lambda r: r[1]["session_median_s"])
    minutes = [(r["session_median_s"] / 60, r) for _, r in churn]
    write(directory, "churn-success.svg", chart(
        "Lookups under churn: success", "median session (min)", "resolved (%)",
        [("success", [(m, 100 * r["success"]) for m, r in minutes])],
        xlog=True, ymax=100,
        ymin=max(0, math.floor(min([100 * r["success"] for _, r in minutes] or [100])) - 1)))
    write(directory, "churn-latency.svg", chart(
        "Lookups under churn: latency", "median session (min)", "latency (ms)",
        [("p50", [(m, r["latency_ms_p50"]) for m, r in minutes]),
         ("p99", [(m, r["latency_ms_p99"]) for m, r in minutes])],
        xlog=True, ymin=0))

    # The heal curve: cross-half success per 10 s window around the heal.
    for name, run in by_kind.get("partition", []):
        windows = run.get("windows") or []
        cut = -run["partition_s"]
        write(directory, f"heal-{name}.svg" if len(by_kind["partition"]) > 1 else "heal.svg", chart(
            f"Cross-half lookups around the heal ({run['nodes']} nodes, cut {run['partition_s']:.0f} s)",
            "start of the 10 s window, s after the heal", "success (%)",
            [("cross-half", [(w["start_s"], 100 * w["cross_resolved"] / w["cross_asked"])
                             for w in windows if w["cross_asked"]]),
             ("all", [(w["start_s"], 100 * w["resolved"] / w["asked"])
                      for w in windows if w["asked"]])],
            ymin=0, ymax=100,
            marks=[(cut, "cut"), (0, "heal")] + ([(run["heal_s"], "healed")]
                                                 if run.get("heal_s") is not None else [])))

    common = [
        ("run", lambda n, r: f"`{n}`"),
        ("nodes", lambda n, r: cell(r["nodes"])),
        ("resolved", lambda n, r: f"{cell(r['resolved'])}/{cell(r['asked'])}"),
        ("success", lambda n, r: pct(r["success"])),
        ("hops p50/p99", lambda n, r: f"{cell(r['hops_p50'])}/{cell(r['hops_p99'])}"),
        ("latency p50/p99 ms", lambda n, r: f"{cell(r['latency_ms_p50'], 0)}/{cell(r['latency_ms_p99'], 0)}"),
    ]
    table("Static clouds (internet latency)", static, common + [
        ("messages/lookup (estimate)", lambda n, r: cell(r["messages_per_lookup"])),
        ("messages/lookup (exact)", lambda n, r: cell(r.get("messages_per_lookup_exact"))),
        ("maintenance B/node/s", lambda n, r: cell(r["maintenance_bytes_per_node_s"])),
        ("wall s", lambda n, r: cell(r["wall_s"], 0)),
        ("peak RSS MiB", lambda n, r: cell((r["peak_rss_kib"] or 0) / 1024, 0)),
    ])
    table("Continuous churn (Weibull sessions, shape 0.5)", sorted(
        by_kind.get("churn", []), key=lambda r: r[1]["session_median_s"]), common[:1] + [
        ("median session", lambda n, r: f"{r['session_median_s'] / 60:g} min"),
        ("simulated", lambda n, r: f"{r['duration_s'] / 60:g} min"),
        ("loss", lambda n, r: pct(r["loss"])),
        ("arrivals", lambda n, r: cell(r["arrivals"])),
        ("left cleanly/vanished", lambda n, r: f"{r['departures_graceful']}/{r['departures_abrupt']}"),
    ] + common[2:] + [
        ("bytes/node/s", lambda n, r: cell(r["steady_bytes_per_node_s"])),
        ("wall s", lambda n, r: cell(r["wall_s"], 0)),
    ])
    table("Firewalled nodes", by_kind.get("unreachable", []), common[:2] + [
        ("firewalled", lambda n, r: pct(r["unreachable"])),
        ("reachable askers", lambda n, r: pct(r["reachable_success"])),
        ("firewalled askers", lambda n, r: pct(r["unreachable_success"])),
        ("firewalled names", lambda n, r: f"{r['unreachable_targets_resolved']}/{r['unreachable_targets_asked']}"),
        ("says Firewalled (firewalled / open)", lambda n, r: "{}/{}".format(
            r["reachability"]["firewalled"]["firewalled"], r["reachability"]["open"]["firewalled"])),
    ] + common[3:])
    table("Partition and heal", by_kind.get("partition", []), common[:2] + [
        ("cut", lambda n, r: f"{r['partition_s']:g} s"),
        ("heal_s", lambda n, r: cell(r["heal_s"], 0)),
    ] + common[2:])
    if by_kind.get("partition"):
        print(f"\n{HEAL_DEFINITION}")


if __name__ == "__main__":
    main()
