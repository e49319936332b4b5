"""The margin benchmarks from a checkout, without the CLI: ``python benchmarks/bench_margin.py
[--quick] [--json]``. The same as ``zkmargin bench``; the workloads live in :mod:`zkmargin.workflows.bench`."""

from __future__ import annotations

import argparse
import json
import sys

from zkmargin.workflows.bench import run_benchmarks


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="limit the sweep to 4..32 instruments")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--backend", default=None, help="arkworks (default) or py_ecc")
    args = ap.parse_args(argv)
    report = run_benchmarks(quick=args.quick, backend=args.backend,
                            progress=lambda name: print(f"bench: {name} ...", file=sys.stderr))
    print(json.dumps(report.to_json_dict(), indent=2) if args.json else report.to_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
