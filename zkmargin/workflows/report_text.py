"""Plain-text tables and the margin report as text: what ``zkmargin check`` prints and what the demo
shows the trader. Pure formatting, no margin logic.

May import nothing of zkmargin's (it formats a :class:`~zkmargin.MarginReport` it is handed). Used
by the CLI (:mod:`zkmargin.cli.output` re-exports it) and the demo.
"""

from __future__ import annotations

from collections.abc import Set


def table(rows: list[list[str]], right: Set[int] = frozenset(), indent: str = "  ") -> str:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [r[c].rjust(widths[c]) if c in right else r[c].ljust(widths[c])
                 for c in range(len(r))]
        out.append((indent + "  ".join(cells)).rstrip())
    return "\n".join(out)


def pairs(rows: list[tuple[str, str]], indent: str = "  ") -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{indent}{k.ljust(width)}  {v}" for k, v in rows)


def format_report(report) -> str:
    """A :class:`zkmargin.MarginReport` as text (the trader's own, clear-text view)."""
    d = report.to_json_dict()
    q = d["quote"]
    head = (f"{d['venue']}: {d['mode']} margin, {d['requirement_kind']} requirement "
            f"(amounts in {q})")
    lines = [head]
    if report.positions:
        rows = [["symbol", "size", "notional", "requirement", "liq. price"]]
        for p in d["positions"]:
            sym = p["symbol"] + (f" ({p['side']})" if p.get("side") else "")
            rows.append([sym, p["size"], p["notional"], p["requirement"],
                         p["liquidation_price"] or "-"])
        lines.append(table(rows, right={1, 2, 3, 4}))
        if d["mode"] == "portfolio":
            lines.append("  (per-position requirements are each position's stand-alone "
                         "scenario margin; the portfolio requirement nets them)")
    buffer = d["buffer"]
    summary = [
        ("collateral value", d["collateral_value"]),
        ("equity", d["equity"]),
        ("requirement", d["requirement"]),
        (f"required = (1 + {buffer}) x requirement + threshold {d['threshold']}", d["required"]),
        ("excess", d["excess"]),
        ("health (equity / required)", d["health"] or "-"),
    ]
    if d.get("zone"):
        z = d["zone"]
        ladder = ", ".join(f"{r['name']} >= {r['threshold']}" if r["threshold"] is not None else r["name"]
                           for r in z["ladder"])
        summary.append(("margin-call zone", f"{z['name']}  (ladder: {ladder})"))
    lines.append(pairs(summary))
    for note in d.get("notes", []):
        lines.append(f"  note: {note}")
    if d.get("failing_positions"):
        lines.append("  positions below their own isolated requirement: "
                     + ", ".join(d["failing_positions"]))
    verdict = "MEETS the requirement" if d["meets"] else "does NOT meet the requirement"
    lines.append(f"result: the account {verdict}")
    return "\n".join(lines)
