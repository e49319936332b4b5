"""The README agrees with the commands (issue 11, item 10).

* Its command table is the one :mod:`zkmargin.cli.reference` generates from the commands'
  ``--help`` (synopsis, one-line help, other options): a command that gains an option, or a README
  row edited by hand, fails here. ``python -m zkmargin.cli.reference --write README.md`` rewrites it.
* The walkthrough (the README's first ``sh`` block after "Four roles") runs as written, with this
  worktree's code, and writes nothing into the repository; the bundle example's gates and slots are
  those of the proof the walkthrough makes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from zkmargin.cli import reference
from zkmargin.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def readme_text() -> str:
    return README.read_text(encoding="utf-8")


# --- the command table --------------------------------------------------------------------------


def test_readme_command_table_is_the_generated_one():
    block = reference.readme_table(readme_text())
    assert block is not None, "the README lost its command table markers"
    assert block == reference.table(), (
        "README command table and --help disagree: run `python -m zkmargin.cli.reference --write README.md`")


def test_a_new_option_makes_the_table_disagree(monkeypatch):
    """Twin: the check fails when a command changes and the README does not."""
    cmd = cli.commands["challenge"]
    monkeypatch.setattr(cmd, "params", [*cmd.params, click.Option(["--bytes"], default=32)])
    assert "`--bytes`" in reference.table()
    assert reference.readme_table(readme_text()) != reference.table()


def test_a_hand_edited_row_makes_the_table_disagree():
    """Twin: a README row edited by hand (an option dropped) is caught."""
    edited = readme_text().replace("`--threshold`, `--plot`, `--json`", "`--threshold`, `--json`", 1)
    assert edited != readme_text()
    assert reference.readme_table(edited) != reference.table()


def test_every_command_has_a_row_and_every_option_help():
    table = reference.table()
    for name, cmd in cli.commands.items():
        assert f"| `{name}" in table, name
        undocumented = [o.opts[0] for o in cmd.params
                        if isinstance(o, click.Option) and not o.hidden and not o.help]
        assert undocumented == [], f"{name}: options without help {undocumented}"


def test_an_option_without_help_is_found(monkeypatch):
    """Twin of the previous test: an option without help text is reported."""
    cmd = cli.commands["challenge"]
    monkeypatch.setattr(cmd, "params", [*cmd.params, click.Option(["--bare"])])
    bare = [o.opts[0] for o in cmd.params if isinstance(o, click.Option) and not o.hidden and not o.help]
    assert bare == ["--bare"]


def test_synopsis_shows_arguments_and_required_options():
    assert reference.synopsis("verify-batch", cli.commands["verify-batch"]) == (
        "verify-batch PROOF... --market MARKET --policy POLICY [options]")
    assert reference.synopsis("challenge", cli.commands["challenge"]) == "challenge"
    assert reference.synopsis("open", cli.commands["open"]).startswith("open [OPENINGS...]")


def test_write_replaces_only_the_block(tmp_path):
    stale = tmp_path / "README.md"
    stale.write_text(f"# title\n\n{reference.BEGIN}\n| old |\n{reference.END}\n\ntail\n", encoding="utf-8")
    assert reference.write(stale) is True
    text = stale.read_text(encoding="utf-8")
    assert text.startswith("# title\n\n") and text.endswith("\n\ntail\n")
    assert reference.readme_table(text) == reference.table()
    assert reference.write(stale) is False  # already up to date: untouched


def test_write_refuses_a_file_without_markers(tmp_path):
    """Twin: no markers, no write (the file is left as it was)."""
    plain = tmp_path / "README.md"
    plain.write_text("# no table here\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="no command table markers"):
        reference.write(plain)
    assert plain.read_text(encoding="utf-8") == "# no table here\n"


# --- the walkthrough and the bundle example -----------------------------------------------------


def walkthrough_block(text: str) -> str:
    after = text[text.index("## Four roles"):]
    return re.search(r"```sh\n(.*?)```", after, re.S).group(1)  # type: ignore[union-attr]


def bundle_example(text: str) -> tuple[int, list[str]]:
    """(gates, slots) of the README's ``zkmargin.proof/2`` example (its JSON is abridged)."""
    after = text[text.index("## The proof bundle"):]
    body = re.search(r"```json\n(.*?)```", after, re.S).group(1)  # type: ignore[union-attr]
    gates = int(re.search(r'"gates": (\d+)', body).group(1))  # type: ignore[union-attr]
    slots = json.loads(re.search(r'"slots": (\[.*?\])', body, re.S).group(1))  # type: ignore[union-attr]
    return gates, slots


def _repo_files() -> set[str]:
    out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--ignored"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return {line[3:] for line in out.splitlines() if "__pycache__" not in line}


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory):
    """Run the README's walkthrough with this worktree's code; (result, its folder $W, files before)."""
    tmp = tmp_path_factory.mktemp("walkthrough")
    script = ("set -euo pipefail\n"
              f'zkmargin() {{ "{sys.executable}" -m zkmargin.cli "$@"; }}\n'
              + walkthrough_block(readme_text())
              + '\necho "W=$W"\n')
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(ROOT)}
    env.pop("ZKMARGIN_DEBUG", None)
    before = _repo_files()
    p = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    w = Path(re.findall(r"^W=(.*)$", p.stdout, re.M)[-1]) if "W=" in p.stdout else tmp
    return p, w, before


@pytest.mark.slow
def test_walkthrough_runs_as_written_and_writes_outside_the_repository(walkthrough):
    p, w, before = walkthrough
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "Traceback" not in p.stderr
    assert {f.name for f in w.iterdir()} >= {"venue.pem", "venue.pub", "challenge.txt", "proof.json",
                                             "venue.log", "receipt.json"}
    assert _repo_files() == before  # nothing new (or changed) in the repository


@pytest.mark.slow
def test_bundle_example_is_what_the_walkthrough_proves(walkthrough):
    p, w, _ = walkthrough
    assert p.returncode == 0, p.stderr[-3000:]
    statement = json.loads((w / "proof.json").read_text(encoding="utf-8"))["statement"]
    assert bundle_example(readme_text()) == (statement["gates"], statement["slots"])
    assert statement["threshold"] == "25000"


def test_the_old_bundle_example_is_caught():
    """Twin: the example the README showed before issue 11 (1,239 gates, 7 slots, another venue)
    is not the walkthrough's circuit — the comparison above would fail on it."""
    from zkmargin.workflows.policy_info import circuit_shape

    old = ('## The proof bundle\n```json\n{"statement": {"gates": 1239,\n "slots": ["size:BTCUSDT", '
           '"size:ETHUSDT", "size:SOLUSDT", "cost", "balance:USDT", "balance:BTC", "balance:ETH"]}}\n```\n')
    policy = json.loads((ROOT / "examples/cross/policy.json").read_text(encoding="utf-8"))
    market = json.loads((ROOT / "examples/cross/market.json").read_text(encoding="utf-8"))
    shape = circuit_shape(policy, market, "25000")
    assert bundle_example(readme_text()) == (shape["gates"], shape["slots"])
    assert bundle_example(old) != (shape["gates"], shape["slots"])


# --- serve's numeric options: the bounds its --help shows -----------------------------------------


@pytest.mark.parametrize(("opt", "inside", "outside"), [
    ("--challenge-ttl", "300", "0.5"), ("--challenge-ttl", "86400", "inf"),
    ("--max-body", "1024", "1023"), ("--max-body", "1048576", "1048577"),
    ("--body-timeout", "0.1", "0.05"), ("--body-timeout", "3600", "3601"),
])
def test_serve_option_bounds(opt, inside, outside):
    """An in-range value converts; its twin just outside the range is a usage error naming the option."""
    param = next(p for p in cli.commands["serve"].params if opt in p.opts)
    ctx = click.Context(cli.commands["serve"], info_name="serve")
    assert float(param.type.convert(inside, param, ctx)) == float(inside)
    with pytest.raises(click.BadParameter):
        param.type.convert(outside, param, ctx)


# --- the README's limits are the input layer's -----------------------------------------------------


def _anchors(md: str) -> set[str]:
    heads = re.findall(r"^#+ (.+)$", md, re.M)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in heads}


def test_readme_links_into_formats_name_its_headings():
    anchors = _anchors((ROOT / "docs" / "formats.md").read_text(encoding="utf-8"))
    links = re.findall(r"\(docs/formats\.md#([^)]+)\)", readme_text())
    assert "reading-documents" in links
    assert [a for a in links if a not in anchors] == []
    assert "no-such-section" not in anchors  # twin: an anchor without a heading is not found


@pytest.mark.parametrize(("kind", "text"), [
    ("policy", "policy 16 MiB"), ("market", "market and account 4 MiB"), ("account", "market and account 4 MiB"),
    ("proof", "receipts and keys 1 MiB"), ("history", "price histories 32 MiB"),
    ("recording", "exchange recordings 64 MiB"),
])
def test_readme_size_caps_are_the_input_layers(kind, text):
    from zkmargin.files.inputs import LIMITS, MAX_DEPTH, MAX_DIGITS

    readme = " ".join(readme_text().split())
    assert text in readme
    mib = int(re.search(r"(\d+) MiB", text).group(1))  # type: ignore[union-attr]
    assert LIMITS[kind][0] == mib << 20
    assert LIMITS[kind][0] != (mib + 1) << 20  # twin: another figure would not match
    assert f"nested at most {MAX_DEPTH} levels" in readme and f"at most {MAX_DIGITS} digits" in readme
