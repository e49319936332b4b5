"""Benchmarks: the reference workloads, generated programmatically and deterministically.

* **W1** — cross margin, 20 perpetuals with flat maintenance rates, 3 collateral assets (quote,
  BTC and ETH with flat haircuts), 64-bit sizes.
* **W2** — portfolio margin, 20 instruments (4 perpetuals and 16 options on them) × the 16 CME SPAN
  scenarios, the scenario table built with :mod:`zkmargin.rules.scenarios`.
* **sweep** — W1's cross policy with a universe of 4, 8, 16, 32, 64, 128 and 256 perpetuals
  (``quick``: 4 to 32).

Per workload: multiplication gates, padded gates (the power of two the inner-product argument
runs over), prove seconds, verify seconds (the best of a few runs; includes rebuilding the circuit
from the verifier's own policy and market), proof bytes (binary), binary bytes ("+commit. B": the
proof plus the 48-byte commitments), bundle bytes (the JSON file a trader sends, which carries
them as hex next to the public statement). Nothing here is random: sizes, prices and balances are
functions of the index, so every run proves the same statements (the blindings are fresh).

    from zkmargin.workflows.bench import run_benchmarks
    print(run_benchmarks(quick=True).to_table())

:func:`msm_reference_seconds` is the unit every benchmark table quotes its ratios in (one native
4,096-point multi-scalar multiplication, measured in the same run).

May import the API and everything below it. Used by the CLI (``bench``), ``benchmarks/`` and the
tests.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from ..api import ProveTimings, prove, verify, verify_batch
from ..crypto.backends import get_backend
from ..rules.models import load_account, load_market, load_policy

__all__ = [
    "SWEEP",
    "QUICK_SWEEP",
    "BenchRow",
    "BenchReport",
    "cross_workload",
    "portfolio_workload",
    "measure",
    "run_benchmarks",
    "machine_description",
]

SWEEP = (4, 8, 16, 32, 64, 128, 256)
QUICK_SWEEP = (4, 8, 16, 32)
AS_OF = "2024-06-03T08:00:00Z"
_DECIMALS = {"size": 3, "price": 2, "rate": 4, "amount": 8}
_BITS = {"size": 64, "price": 48, "amount": 64}


def _symbol(i: int) -> str:
    return f"P{i:03d}USDT"


def _mark(i: int) -> Decimal:
    # deterministic, spread over three orders of magnitude, two decimals
    return Decimal(((i * 7919) % 99991) + 137) / 100 + Decimal(5 * (i % 7))


def cross_workload(n: int) -> tuple[dict, dict, dict]:
    """(policy, market, account) documents: cross margin over ``n`` perpetuals with flat rates
    (maintenance 0.5 %–1.1 %, initial twice that), collateral USDT, BTC (5 % haircut) and ETH
    (8 % haircut), no rounding of the requirement (a per-position rounding rule costs about 90
    gates per instrument). The account holds every instrument, longs and shorts alternating."""
    if n < 1:
        raise ValueError("n must be >= 1")
    instruments, prices, positions = [], {}, []
    for i in range(n):
        sym = _symbol(i)
        mmr = Decimal(50 + 10 * (i % 7)) / 10000
        instruments.append({
            "symbol": sym, "kind": "perpetual",
            "maintenance": {"rate": str(mmr)}, "initial": {"rate": str(2 * mmr)},
        })
        mark = _mark(i)
        prices[sym] = str(mark)
        size = Decimal((i % 5) + 1) * Decimal("1.25") * (1 if i % 2 == 0 else -1)
        entry = (mark * Decimal("0.97") if size > 0 else mark * Decimal("1.02")).quantize(Decimal("0.01"))
        positions.append({"symbol": sym, "size": str(size), "entry_price": str(entry)})
    prices.update({"BTC": "67240.00", "ETH": "3479.50", "USDT": "1"})
    policy = {
        "format": "zkmargin.policy/1", "venue": f"bench-cross-{n}", "quote": "USDT",
        "decimals": dict(_DECIMALS), "bits": dict(_BITS), "requirement": "maintenance",
        "mode": "cross", "buffer": "0.05",
        "collateral": [{"asset": "USDT", "haircut": "0"}, {"asset": "BTC", "haircut": "0.05"},
                       {"asset": "ETH", "haircut": "0.08"}],
        "instruments": instruments,
    }
    market = {"format": "zkmargin.market/1", "as_of": AS_OF, "prices": prices}
    account = {"format": "zkmargin.account/1",
               "balances": {"USDT": str(2500 * n), "BTC": "0.5", "ETH": "4"},
               "positions": positions}
    return policy, market, account


_UNDERLYINGS = (("BTCUSDT", "67250.40", 0.55), ("ETHUSDT", "3480.15", 0.62),
                ("SOLUSDT", "152.37", 0.80), ("BNBUSDT", "598.20", 0.50))


def portfolio_workload() -> tuple[dict, dict, dict]:
    """(policy, market, account): portfolio margin over 4 perpetuals and 16 options (a call and a
    put at 90 % and 110 % of spot on each), 16 SPAN scenarios from :mod:`zkmargin.rules.scenarios`
    (15 % price scan range, 25 vol points, Black–Scholes repricing)."""
    from ..rules.scenarios import black_scholes, build_scenarios, year_fraction

    expiry = "2024-12-27T08:00:00Z"
    t = year_fraction(AS_OF, expiry)
    instruments, prices, positions = [], {"USDT": "1", "BTC": "67240.00"}, []
    for u, (sym, spot, vol) in enumerate(_UNDERLYINGS):
        instruments.append({"symbol": sym, "kind": "perpetual"})
        prices[sym] = spot
        s0 = float(spot)
        positions.append({"symbol": sym, "size": ("-" if u % 2 else "") + str(Decimal(2 + u)),
                          "entry_price": spot})
        for k, (moneyness, right) in enumerate(((0.9, "put"), (1.1, "call"), (0.9, "call"),
                                                (1.1, "put"))):
            strike = Decimal(round(s0 * moneyness)).quantize(Decimal(1))
            osym = f"{sym[:-4]}-20241227-{strike}-{right[0].upper()}"
            instruments.append({"symbol": osym, "kind": "option", "underlying": sym,
                                "strike": str(strike), "expiry": expiry, "right": right})
            value = float(black_scholes([s0], float(strike), t, vol, right)[0])
            prices[osym] = str(Decimal(value).quantize(Decimal("0.0001")))
            if k < 2:  # protective put / covered call around the perpetual
                size = Decimal(2 + u) * (1 if right == "put" else -1) * (-1 if u % 2 else 1)
                positions.append({"symbol": osym, "size": str(size), "entry_price": prices[osym]})
    base = {
        "format": "zkmargin.policy/1", "venue": "bench-portfolio-20", "quote": "USDT",
        "decimals": {"size": 3, "price": 4, "rate": 4, "amount": 8}, "bits": dict(_BITS),
        "requirement": "maintenance", "mode": "portfolio", "buffer": "0",
        "collateral": [{"asset": "USDT", "haircut": "0"}, {"asset": "BTC", "haircut": "0.05"}],
        "instruments": instruments, "rounding": {"mode": "up", "decimals": 2},
    }
    market = {"format": "zkmargin.market/1", "as_of": AS_OF, "prices": prices}
    vols = {sym: vol for sym, _spot, vol in _UNDERLYINGS}
    shocks = {sym: 0.15 for sym, _spot, _vol in _UNDERLYINGS}
    policy = dict(base)
    policy["scenarios"] = build_scenarios(base, market, "span", factor="1", spot_shocks=shocks,
                                          vol_shocks=0.25, vols=vols)
    account = {"format": "zkmargin.account/1", "balances": {"USDT": "250000", "BTC": "1"},
               "positions": positions}
    return policy, market, account


@dataclass
class BenchRow:
    workload: str
    mode: str
    instruments: int
    scenarios: int
    commitments: int
    gates: int
    padded_gates: int
    prove_seconds: float
    verify_seconds: float
    proof_bytes: int
    binary_bytes: int
    bundle_bytes: int
    extra: dict = field(default_factory=dict)

    def to_json_dict(self) -> dict:
        out = asdict(self)
        out["prove_seconds"] = round(self.prove_seconds, 4)
        out["verify_seconds"] = round(self.verify_seconds, 4)
        if not self.extra:
            out.pop("extra")
        return out


def measure(name: str, policy: dict, market: dict, account: dict, *, backend=None,
            verify_repeats: int = 3, batch: int = 0) -> BenchRow:
    """Prove once and verify ``verify_repeats`` times (best time) one workload. With ``batch`` > 0,
    also time :func:`verify_batch` over ``batch`` copies of the proof (same MSM size as as many
    distinct proofs) and report it in ``extra``."""
    pol = load_policy(policy)
    mkt = load_market(market, pol)
    acct = load_account(account, pol)
    be = get_backend(backend)
    challenge = bytes(range(32))
    timings = ProveTimings()
    t0 = time.perf_counter()
    bundle = prove(acct, mkt, pol, 0, challenge, backend=be, timings=timings)
    prove_s = time.perf_counter() - t0
    best = float("inf")
    for _ in range(max(1, verify_repeats)):
        t0 = time.perf_counter()
        verify(bundle, mkt, pol, 0, challenge, backend=be)
        best = min(best, time.perf_counter() - t0)
    extra = {}
    if batch:
        t0 = time.perf_counter()
        verify_batch([bundle] * batch, mkt, pol, 0, challenge, backend=be)
        extra[f"batch_{batch}_verify_seconds"] = round(time.perf_counter() - t0, 4)
    n_scen = len(pol.scenarios.names) if pol.scenarios is not None else 0
    return BenchRow(
        workload=name, mode=pol.mode, instruments=len(pol.instruments), scenarios=n_scen,
        commitments=len(bundle.commitments), gates=int(bundle.statement["gates"]),
        padded_gates=1 << bundle.proof[5],  # byte 5 of the proof header: log2(padded gates)
        prove_seconds=prove_s, verify_seconds=best, proof_bytes=len(bundle.proof),
        binary_bytes=bundle.size, bundle_bytes=len(bundle.to_json().encode()), extra=extra,
    )


MSM_REFERENCE_POINTS = 4096


def msm_reference_seconds(backend=None, repeats: int = 5) -> float:
    """Median time of one native multi-scalar multiplication of 4,096 points with random 255-bit
    scalars: the yardstick every figure is quoted against (absolute times on a shared machine
    drift; ratios to this, measured in the same run, do not)."""
    import secrets
    import statistics

    from ..crypto.generators import get_generators

    be = get_backend(backend)
    points = get_generators(be).G(MSM_REFERENCE_POINTS)
    scalars = [secrets.randbelow(1 << 255) for _ in points]
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        be.msm(points, scalars)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def machine_description() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        from importlib.metadata import version

        ark = version("py_arkworks_bls12381")
    except Exception:  # pragma: no cover - not installed
        ark = None
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "py_arkworks_bls12381": ark, "platform": platform.platform()}


@dataclass
class BenchReport:
    rows: list[BenchRow]
    backend: str
    quick: bool
    machine: dict
    seconds: float
    msm4096_seconds: float = 0.0

    def ratio(self, seconds: float) -> float:
        return seconds / self.msm4096_seconds if self.msm4096_seconds else float("nan")

    def to_json_dict(self) -> dict:
        rows = []
        for r in self.rows:
            d = r.to_json_dict()
            d["prove_msm4096"] = round(self.ratio(r.prove_seconds), 2)
            d["verify_msm4096"] = round(self.ratio(r.verify_seconds), 3)
            rows.append(d)
        return {"backend": self.backend, "quick": self.quick, "machine": self.machine,
                "seconds": round(self.seconds, 2), "msm4096_seconds": round(self.msm4096_seconds, 5),
                "workloads": rows}

    def to_table(self) -> str:
        """A Markdown table (also readable as plain text)."""
        head = ["workload", "mode", "instr.", "scen.", "gates", "padded", "prove s", "prove ×MSM",
                "verify s", "verify ×MSM", "proof B", "+commit. B", "bundle B"]
        lines = [head]
        for r in self.rows:
            lines.append([r.workload, r.mode, str(r.instruments), str(r.scenarios or "-"),
                          str(r.gates), str(r.padded_gates), f"{r.prove_seconds:.2f}",
                          f"{self.ratio(r.prove_seconds):.1f}", f"{r.verify_seconds:.3f}",
                          f"{self.ratio(r.verify_seconds):.2f}", str(r.proof_bytes), str(r.binary_bytes),
                          str(r.bundle_bytes)])
        widths = [max(len(row[c]) for row in lines) for c in range(len(head))]
        right = set(range(2, len(head)))

        def fmt(row):
            cells = [row[c].rjust(widths[c]) if c in right else row[c].ljust(widths[c])
                     for c in range(len(row))]
            return "| " + " | ".join(cells) + " |"

        out = [fmt(lines[0]),
               "|" + "|".join(("-" * (w + 1) + ":" if c in right else "-" * (w + 2))
                              for c, w in enumerate(widths)) + "|"]
        out += [fmt(row) for row in lines[1:]]
        for r in self.rows:
            for k, v in r.extra.items():
                out.append(f"{r.workload}: {k.replace('_', ' ')} = {v}")
        m = self.machine
        out.append(f"×MSM: the time over one native {MSM_REFERENCE_POINTS:,}-point multi-scalar "
                   f"multiplication measured in the same run ({self.msm4096_seconds * 1000:.1f} ms, median)")
        out.append(f"backend {self.backend}; {m['cpu']} ({m['cores']} cores), Python {m['python']}, "
                   f"py_arkworks_bls12381 {m['py_arkworks_bls12381']}; total {self.seconds:.1f} s")
        return "\n".join(out)


def run_benchmarks(quick: bool = False, backend=None,
                   progress: Callable[[str], None] | None = None) -> BenchReport:
    """Run W1, W2 and the universe-size sweep (4..256, or 4..32 with ``quick``) and return the
    report. ``progress`` is called with each workload's name before it runs. The full run also
    times a batch verification of 100 W1 proofs."""
    be = get_backend(backend)
    t_start = time.perf_counter()
    rows = []

    def step(name, docs, **kw):
        if progress is not None:
            progress(name)
        rows.append(measure(name, *docs, backend=be, **kw))

    if progress is not None:
        progress(f"MSM of {MSM_REFERENCE_POINTS} points")
    msm_before = msm_reference_seconds(be)
    step("W1", cross_workload(20), batch=0 if quick else 100)
    step("W2", portfolio_workload())
    for n in (QUICK_SWEEP if quick else SWEEP):
        step(f"sweep-{n}", cross_workload(n), verify_repeats=3 if n <= 64 else 1)
    # the yardstick before and after the workloads, so a load change during the run shows
    msm = (msm_before + msm_reference_seconds(be)) / 2
    return BenchReport(rows=rows, backend=be.name, quick=quick, machine=machine_description(),
                       seconds=time.perf_counter() - t_start, msm4096_seconds=msm)
