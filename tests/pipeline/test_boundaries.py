"""The package's boundaries (README "Layout"), checked, not only written down.

* import-linter's contracts in pyproject.toml: the package never imports kfp, components or deploy;
  step packages never import each other and sit over registry / model / core; registry backends are
  independent; no import cycle between sibling modules at any depth (lazy imports included);
* ``import tweet_sentiment.settings`` (what compiling reads) loads neither torch nor kfp;
* components import only the standard library and kfp at module level (plus the authoring-time
  settings lookup in ``components/_settings.py``), and each component body imports only a step module.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = sorted(p for p in (ROOT / "components").glob("*.py") if not p.name.startswith("_"))


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    """Run import-linter on the tree at ``root`` (its pyproject.toml, its packages first on the path)."""
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))"
    env = {"PYTHONPATH": f"{root / 'src'}:{root}", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def test_import_contracts_hold():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        ("core/text.py", "import kfp", "The package never imports kfp"),
        ("train/loop.py", "import tweet_sentiment.evaluate.gate", "Step packages sit over"),
        ("core/labels.py", "import tweet_sentiment.registry", "Step packages sit over"),
        ("registry/local.py", "import tweet_sentiment.registry.gcs", "Registry backends never import"),
        ("train/config.py", "import tweet_sentiment.train.loop", "No import cycle"),
    ],
)
def test_a_planted_import_breaks_its_contract(tmp_path, module, planted, contract):
    """The contracts guard something: each planted import (a lazy one, inside a function) is caught."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for folder in ("components", "deploy"):
        shutil.copytree(ROOT / folder, tree / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    target = tree / "src" / "tweet_sentiment" / module
    target.write_text(target.read_text() + f"\n\ndef _planted():\n    {planted}\n", encoding="utf-8")

    result = _lint_imports(tree)

    assert result.returncode == 1, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[1]
    assert contract in broken, result.stdout


def test_settings_load_neither_torch_nor_kfp():
    code = (
        "import sys, tweet_sentiment.settings; "
        "print(sorted(m for m in ('torch', 'kfp', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _imports(nodes) -> list[str]:
    names = []
    for node in nodes:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(node.module or "")
    return names


def _allowed_at_module_level(name: str) -> bool:
    top = name.split(".")[0]
    return top in sys.stdlib_module_names or top in ("kfp", "components") or name == "__future__"


@pytest.mark.parametrize("path", COMPONENTS, ids=lambda p: p.name)
def test_components_import_only_the_standard_library_and_kfp_at_module_level(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    at_module_level = _imports(tree.body)
    assert [n for n in at_module_level if not _allowed_at_module_level(n)] == []


@pytest.mark.parametrize("path", COMPONENTS, ids=lambda p: p.name)
def test_a_component_body_imports_only_a_step_module(path):
    """The body is what ships to the container: a lazy import of ``tweet_sentiment.<step>.step``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bodies = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert bodies, f"{path.name} defines no component"
    for function in bodies:
        package_imports = [n for n in _imports(ast.walk(function)) if n.startswith("tweet_sentiment")]
        assert package_imports, f"{path.name}:{function.name} calls nothing in the package"
        for name in package_imports:
            assert name.endswith(".step") or name == "tweet_sentiment.settings", (path.name, name)


def test_the_authoring_helpers_read_only_the_settings():
    """components/_settings.py may read the declared defaults at compile time, nothing else."""
    tree = ast.parse((ROOT / "components" / "_settings.py").read_text(encoding="utf-8"))
    outside = [n for n in _imports(tree.body) if not _allowed_at_module_level(n)]
    assert outside == ["tweet_sentiment.settings"]
