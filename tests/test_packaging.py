"""Packaging: every folder that maps into the ``zkmargin`` namespace and holds an ``__init__.py`` is
listed in pyproject.toml's ``[tool.setuptools] packages`` (a wheel silently drops it otherwise),
every listed package exists, and every listed package imports from this checkout."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOT_PACKAGES = {"tests", "benchmarks", "docs", "examples", "build", "dist"}


def setuptools_config(root: Path) -> dict:
    with open(root / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["tool"]["setuptools"]


def package_folders(root: Path) -> dict[str, Path]:
    """Import name -> folder, for every folder with __init__.py under a package-dir mapping."""
    mapping = setuptools_config(root).get("package-dir", {})
    found: dict[str, Path] = {}
    for name, rel in mapping.items():
        base = root / rel
        if not (base / "__init__.py").is_file():
            continue
        for init in sorted(base.rglob("__init__.py")):
            parts = init.parent.relative_to(base).parts
            if any(p.startswith(".") or p == "__pycache__" or p.endswith(".egg-info") for p in parts):
                continue
            found.setdefault(".".join((name, *parts)), init.parent)
    return found


def packaging_problems(root: Path) -> list[str]:
    """Everything that would make the wheel differ from the source tree."""
    cfg = setuptools_config(root)
    listed = list(cfg.get("packages", []))
    mapping = cfg.get("package-dir", {})
    problems = []
    folders = package_folders(root)
    for name, folder in sorted(folders.items()):
        if name not in listed:
            problems.append(f"{folder.relative_to(root)}/ holds __init__.py but {name} is not in [tool.setuptools] packages")
    for name in listed:
        if name not in folders:
            problems.append(f"{name} is listed in [tool.setuptools] packages but has no folder with __init__.py")
    if len(set(listed)) != len(listed):
        problems.append("[tool.setuptools] packages lists a package twice")
    mapped = {Path(rel).parts[0] for rel in mapping.values() if rel}
    for child in sorted(root.iterdir()):
        if (
            child.is_dir()
            and (child / "__init__.py").is_file()
            and child.name not in mapped
            and child.name not in NOT_PACKAGES
            and not child.name.startswith(".")
        ):
            problems.append(f"{child.name}/ holds __init__.py but no package-dir maps it into zkmargin")
    return problems


# --- the real tree ----------------------------------------------------------------------------------


def test_every_package_folder_is_listed():
    assert packaging_problems(ROOT) == []


def test_design_folders_are_mapped():
    cfg = setuptools_config(ROOT)
    assert cfg["package-dir"].items() >= {
        "zkmargin": "zkmargin",
        "zkmargin.circuits": "circuits",
        "zkmargin.prover": "prover",
        "zkmargin.verifier": "verifier",
        "zkmargin.cli": "cli",
    }.items()
    folders = package_folders(ROOT)
    for name in ("zkmargin", "zkmargin.crypto.backends", "zkmargin.circuits", "zkmargin.prover", "zkmargin.verifier", "zkmargin.cli"):
        assert name in folders


@pytest.mark.parametrize("name", setuptools_config(ROOT)["packages"])
def test_listed_package_imports_from_this_checkout(name):
    module = importlib.import_module(name)
    folder = package_folders(ROOT)[name]
    assert Path(module.__file__).resolve() == (folder / "__init__.py").resolve(), (
        f"{name} imports from {module.__file__}, not from {folder} (stale install? run pip install -e .)"
    )


def test_no_generic_top_level_names_importable(tmp_path):
    """Nothing generic lands in site-packages: from outside the checkout, 'prover' etc. are only
    reachable as zkmargin.* (inside it, the working directory on sys.path would hide a leak)."""
    code = (
        "import importlib.util as u, json; "
        "print(json.dumps({n: u.find_spec(n) is not None for n in "
        "('circuits', 'prover', 'verifier', 'cli', 'zkmargin.prover', 'zkmargin.circuits.gadgets')}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    found = json.loads(out.stdout)
    assert found == {
        "circuits": False,
        "prover": False,
        "verifier": False,
        "cli": False,
        "zkmargin.prover": True,  # twin: the namespaced names are there
        "zkmargin.circuits.gadgets": True,
    }


def test_no_root_conftest():
    assert not (ROOT / "conftest.py").exists()


# --- the checker itself, on fake trees ---------------------------------------------------------------


def fake_tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    for folder in package_folders(ROOT).values():
        target = root / folder.relative_to(ROOT)
        target.mkdir(parents=True, exist_ok=True)
        (target / "__init__.py").write_text("")
    (root / "tests").mkdir()
    return root


def test_checker_twin_clean_fake_tree_passes(tmp_path):
    assert packaging_problems(fake_tree(tmp_path)) == []


@pytest.mark.parametrize(
    "folder,name",
    [
        ("prover/extra", "zkmargin.prover.extra"),
        ("zkmargin/models2", "zkmargin.models2"),
        ("zkmargin/crypto/backends/native", "zkmargin.crypto.backends.native"),
        ("cli/commands", "zkmargin.cli.commands"),
    ],
)
def test_checker_reports_unlisted_package_folder(tmp_path, folder, name):
    root = fake_tree(tmp_path)
    (root / folder).mkdir(parents=True)
    (root / folder / "__init__.py").write_text("")
    problems = packaging_problems(root)
    assert len(problems) == 1 and name in problems[0] and folder in problems[0]


def test_checker_ignores_folders_without_init(tmp_path):
    root = fake_tree(tmp_path)
    (root / "prover" / "notes").mkdir()
    (root / "zkmargin" / "__pycache__").mkdir(exist_ok=True)
    assert packaging_problems(root) == []


def test_checker_reports_unmapped_top_level_package(tmp_path):
    root = fake_tree(tmp_path)
    (root / "service").mkdir()
    (root / "service" / "__init__.py").write_text("")
    problems = packaging_problems(root)
    assert len(problems) == 1 and "service" in problems[0]


def test_checker_reports_stale_listing(tmp_path):
    root = fake_tree(tmp_path)
    shutil.rmtree(root / "zkmargin" / "data")
    problems = packaging_problems(root)
    assert len(problems) == 1 and "zkmargin.data" in problems[0]
