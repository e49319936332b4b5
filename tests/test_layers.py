"""The layout's promises, checked on the source: data flows one way (docs/architecture.md).

Every import in the package — at the top of a module or inside a function — is read with
:mod:`ast` and resolved to a ``zkmargin.*`` module; each layer may import only the layers below it,
and the modules' top-level imports form no cycle.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: layer -> the layers it may import (besides itself). The margin rules and the cryptographic core
#: know nothing of each other; the circuits know the rules' public numbers; the documents a proof
#: travels with (bundle, attestation, openings, the trust rule) sit below the API; nothing imports
#: the CLI.
MAY_IMPORT: dict[str, set[str]] = {
    "errors": set(),
    "files": {"errors"},
    "crypto": {"errors", "files"},
    "rules": {"errors", "files"},
    "circuits": {"errors", "crypto", "rules"},
    "prover": {"errors", "crypto", "circuits"},
    "verifier.r1cs": {"errors", "crypto", "circuits"},
    "documents": {"errors", "files", "crypto", "rules", "prover"},
    "api": {"errors", "files", "crypto", "rules", "circuits", "prover", "verifier.r1cs", "documents"},
    "workflows": {"errors", "files", "crypto", "rules", "circuits", "prover", "verifier.r1cs", "documents",
                  "api", "package"},
    "cli": {"errors", "files", "crypto", "rules", "circuits", "prover", "verifier.r1cs", "documents", "api",
            "workflows", "package"},
    "package": {"errors", "api", "rules", "documents"},
}

#: Known exceptions to the layers, each with the reason it is allowed: none.
ALLOWED: set[tuple[str, str]] = set()


def layer_of(module: str) -> str:
    """The layer a ``zkmargin.*`` module belongs to."""
    parts = module.split(".")
    if module == "zkmargin":
        return "package"
    head = parts[1]
    if head in ("errors", "files", "crypto", "rules", "documents", "circuits", "prover", "cli", "api"):
        return head
    if head == "verifier":  # the R1CS verifier sits beside the prover; the log and the audit above the API
        return "verifier.r1cs" if parts[2:3] in (["r1cs"], []) else "workflows"
    return "workflows"  # workflows/, importers/


def package_modules(root: Path) -> dict[str, Path]:
    """Module name -> file, for every module under the package-dir mapping."""
    with open(root / "pyproject.toml", "rb") as fh:
        mapping = tomllib.load(fh)["tool"]["setuptools"]["package-dir"]
    out: dict[str, Path] = {}
    for name, folder in mapping.items():
        base = root / folder
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base).with_suffix("").parts
            if any(p.startswith(".") or p == "__pycache__" for p in rel):
                continue
            if rel[-1] == "__init__":
                rel = rel[:-1]
            out.setdefault(".".join((name, *rel)), path)
    return out


def imports_of(module: str, path: Path, known: set[str]) -> list[tuple[str, bool]]:
    """``(imported zkmargin module, at top level)`` for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top = {id(node) for node in tree.body}
    out = []

    def resolve(name: str) -> str | None:
        while name and name not in known:  # "from zkmargin.x import Name": the module is zkmargin.x
            name = name.rpartition(".")[0]
        return name or None

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            targets = [f"{stem}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            if t.startswith("zkmargin"):
                resolved = resolve(t)
                if resolved is not None and resolved != module:
                    out.append((resolved, id(node) in top))
    return out


def layer_problems(root: Path) -> list[str]:
    modules = package_modules(root)
    known = set(modules)
    problems = []
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        mine = layer_of(module)
        for target, at_top in imports_of(module, path, known):
            if at_top:
                graph[module].add(target)
            theirs = layer_of(target)
            if theirs != mine and theirs not in MAY_IMPORT[mine] and (module, target) not in ALLOWED:
                problems.append(f"{module} ({mine}) imports {target} ({theirs})")
    problems += [f"import cycle: {' -> '.join(c)}" for c in _cycles(graph)]
    return sorted(set(problems))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One representative cycle per strongly connected component with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


# --- the real tree -------------------------------------------------------------------------------------


def test_every_import_goes_down_the_layers():
    assert layer_problems(ROOT) == []


def test_layers_cover_the_package():
    modules = package_modules(ROOT)
    assert "zkmargin.crypto.field" in modules and "zkmargin.circuits.margin.plan" in modules
    assert {layer_of(m) for m in modules} == set(MAY_IMPORT)


# --- the checker, on fake trees ------------------------------------------------------------------------


def _fake(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "repo"
    (root / "circuits").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[tool.setuptools.package-dir]\n"zkmargin" = "zkmargin"\n"zkmargin.circuits" = "circuits"\n')
    for rel, text in {"zkmargin/__init__.py": "", "zkmargin/errors.py": "",
                      "zkmargin/crypto/__init__.py": "", "zkmargin/rules/__init__.py": "",
                      "circuits/__init__.py": "", **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_checker_twin_a_downward_import_passes(tmp_path):
    root = _fake(tmp_path, {"zkmargin/crypto/field.py": "from ..errors import X\n",
                            "circuits/cs.py": "from zkmargin.crypto.field import R\n"})
    assert layer_problems(root) == []


def test_checker_reports_an_upward_import_even_inside_a_function(tmp_path):
    root = _fake(tmp_path, {"zkmargin/crypto/field.py": "def f():\n    from ..rules import engine\n",
                            "zkmargin/rules/engine.py": ""})
    assert layer_problems(root) == ["zkmargin.crypto.field (crypto) imports zkmargin.rules.engine (rules)"]


def test_checker_reports_a_rules_module_reaching_the_circuits(tmp_path):
    root = _fake(tmp_path, {"zkmargin/rules/engine.py": "from zkmargin.circuits.cs import C\n",
                            "circuits/cs.py": ""})
    assert layer_problems(root) == ["zkmargin.rules.engine (rules) imports zkmargin.circuits.cs (circuits)"]


def test_checker_reports_a_top_level_cycle(tmp_path):
    root = _fake(tmp_path, {"zkmargin/rules/a.py": "from . import b\n",
                            "zkmargin/rules/b.py": "from .a import x\n"})
    assert layer_problems(root) == ["import cycle: zkmargin.rules.a -> zkmargin.rules.b"]
