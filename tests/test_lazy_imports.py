"""What ``import zkmargin`` and the command line's start load (issue 12: a cold ``zkmargin verify``
that is fast).

Each check runs a fresh interpreter on this checkout (``PYTHONPATH``) and reads its ``sys.modules``:

* ``import zkmargin`` loads the error hierarchy only — no pydantic, no document models, no API, no
  circuits, no numpy; its twin: touching ``zkmargin.load_policy`` loads pydantic and the models
  (so the first check can fail), and every name of ``zkmargin.__all__`` resolves;
* importing the command line (what ``zkmargin --help`` and ``zkmargin verify --help`` run) loads
  none of them either, nor FastAPI or the importers; its twin: ``zkmargin check`` loads the models;
* the ``import-*`` commands' exchange choice still lists the profiles (loaded on first use).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Modules a light start must not load (prefixes).
HEAVY = ("pydantic", "zkmargin.rules.models", "zkmargin.api", "zkmargin.circuits.margin", "numpy",
         "fastapi", "zkmargin.importers", "zkmargin.rules.engine")


def _modules_after(code: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ZKMARGIN_DEBUG", None)
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_import_zkmargin_loads_no_models_and_the_flat_api_loads_them_on_use():
    light = _modules_after(f"import zkmargin\nassert zkmargin.__file__.startswith({str(ROOT)!r})")
    assert "zkmargin.errors" in light
    assert _heavy(light) == []
    # twin: the flat API's loaders are there, and using one loads what it needs
    used = _modules_after("import zkmargin\nzkmargin.load_policy")
    assert "pydantic" in used and "zkmargin.rules.models" in used
    every = _modules_after("import zkmargin\nfor name in zkmargin.__all__: getattr(zkmargin, name)\n"
                           "from zkmargin import verify, prove, load_policy, ProofBundle, VerificationResult\n"
                           "assert zkmargin.verify is verify and callable(prove)")
    assert "zkmargin.api" in every


def test_the_command_line_starts_without_models_and_a_command_loads_what_it_uses(tmp_path):
    cli = _modules_after("from zkmargin.cli.main import cli\nassert 'verify' in cli.commands")
    assert _heavy(cli) == []
    # `zkmargin verify --help` and `zkmargin --help`: still nothing heavy
    helped = _modules_after(
        "from zkmargin.cli.main import main\n"
        "for args in (['--help'], ['verify', '--help'], ['import-market', '--help']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, exc.code\n")
    assert _heavy(helped) == []
    # twin: a command that reads a policy loads the models
    data = ROOT / "zkmargin" / "data"
    checked = _modules_after(
        "from zkmargin.cli.main import main\n"
        "try:\n"
        f"    main(['check', {str(data / 'example_account_cross.json')!r}, '-m', {str(data / 'example_market_cross.json')!r},"
        f" '-p', {str(data / 'example_policy_cross.json')!r}, '--json'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, 1), exc.code\n")
    assert "pydantic" in checked and "zkmargin.rules.models" in checked


def test_the_exchange_choice_loads_its_profiles_on_use():
    from click.testing import CliRunner

    from zkmargin.cli.main import cli

    res = CliRunner().invoke(cli, ["import-market", "no-such-exchange", "--data", "x", "-p", "y"])
    assert res.exit_code == 2
    assert "binance" in res.output and "bybit" in res.output
