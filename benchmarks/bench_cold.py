"""A cold command line (issue 12): ``import zkmargin``, ``zkmargin --help``, ``zkmargin verify
--help`` and a whole ``zkmargin verify`` of a W1 proof, each a fresh process, for one or more
checkouts measured in interleaved rounds (before/after a change: pass both).

    python benchmarks/bench_cold.py [--roots OLD_CHECKOUT,.] [--rounds 7]

``verify (first run)`` starts from a cache directory holding the generator chunks only (what an
installed verifier has after its first proof); ``verify (cached)`` from one that also holds the
prepared verifier's entry (``zkmargin/prepared_store.py``; a checkout without it simply does the
same work again). Every process runs with bytecode caching on (``PYTHONDONTWRITEBYTECODE``
removed, each checkout warmed once), as an installed package would. Figures are medians, with
the ratio to one native 4,096-point MSM (``msm_reference_seconds``) measured in this run, before
and after the rounds, and the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
CLI = "import sys\nfrom zkmargin.cli.main import main\nsys.argv[0] = 'zkmargin'\nmain()\n"


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} (1/5 min) on {os.cpu_count()} cores"


def env_for(root: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "ZKMARGIN_DEBUG")}
    env.update(PYTHONPATH=str(root), ZKMARGIN_CACHE_DIR=str(cache))
    return env


def timed(args: list[str], env: dict[str, str], cwd: Path, ok=(0,)) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if out.returncode not in ok:
        raise SystemExit(f"{' '.join(args[:4])}… exited {out.returncode}: {out.stderr.strip()[-300:]}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--roots", default=str(HERE), help="checkouts to compare, comma-separated")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    roots = [Path(r).resolve() for r in args.roots.split(",") if r]
    sys.path.insert(0, str(HERE))
    from zkmargin import prove
    from zkmargin.workflows.bench import cross_workload, msm_reference_seconds

    work = Path(tempfile.mkdtemp(prefix="zkmargin-bench-cold-"))
    try:
        policy, market, account = cross_workload(20)
        for name, doc in (("policy", policy), ("market", market), ("account", account)):
            (work / f"{name}.json").write_text(json.dumps(doc), encoding="utf-8")
        ch = secrets.token_bytes(32)
        (work / "proof.json").write_text(prove(account, market, policy, 0, ch).to_json(), encoding="utf-8")
        verify = [sys.executable, "-c", CLI, "verify", "proof.json", "-m", "market.json", "-p", "policy.json",
                  "-c", ch.hex()]
        commands = {
            "import zkmargin": [sys.executable, "-c", "import zkmargin"],
            "zkmargin --help": [sys.executable, "-c", CLI, "--help"],
            "zkmargin verify --help": [sys.executable, "-c", CLI, "verify", "--help"],
            "zkmargin verify (first run)": verify,
            "zkmargin verify (cached)": verify,
        }
        # a cache with the generator chunks only, copied for every first run
        gens = work / "gens"
        timed(verify, env_for(HERE, gens), work)
        shutil.rmtree(gens / "prepared-v1", ignore_errors=True)
        warm = {}
        for root in roots:  # bytecode written, and each checkout's cached entry made
            warm[root] = work / f"warm-{len(warm)}"
            shutil.copytree(gens, warm[root])
            for _ in range(2):
                timed(verify, env_for(root, warm[root]), work)
        ref0 = msm_reference_seconds(repeats=5)
        times: dict[tuple[Path, str], list[float]] = {(r, c): [] for r in roots for c in commands}
        started = load()
        for i in range(args.rounds):
            for j, root in enumerate(roots):
                for name, cmd in commands.items():
                    cache = warm[root]
                    if name.endswith("(first run)"):  # a fresh copy: no entry yet
                        cache = work / f"first-{i}-{j}"
                        shutil.copytree(gens, cache)
                    times[(root, name)].append(timed(cmd, env_for(root, cache), work))
        ref = statistics.median([ref0, msm_reference_seconds(repeats=5)])
        print(f"## Cold command line, W1 (20 instruments), {args.rounds} interleaved rounds, medians")
        print(f"({started} at the start, {load()} at the end; MSM4096 = {ref * 1000:.1f} ms)\n")
        print("| checkout | command | seconds | × MSM4096 |\n|---|---|---:|---:|")
        for root in roots:
            for name in commands:
                m = statistics.median(times[(root, name)])
                print(f"| {root.name} | {name} | {m:.3f} | {m / ref:.1f} |")
        print("\n(python -c pass, for scale:", end=" ")
        bare = statistics.median(timed([sys.executable, "-c", "pass"], env_for(HERE, gens), work) for _ in range(5))
        print(f"{bare:.3f} s = {bare / ref:.1f} × MSM4096)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
