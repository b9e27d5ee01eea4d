"""docs/plugins: the tutorial works as written, the hook examples are real
implementations of their hooks, and the pages' links lead somewhere."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from rcm import hookspecs
from rcm.context import HandlerContext

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs" / "plugins"
TUTORIAL = GUIDE / "tutorial.md"


def _hook_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "hook_reference", REPO / "scripts" / "hook_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tutorial_files() -> dict[str, str]:
    """The files the tutorial shows under a **`path`**: heading, as a reader copies them."""
    text = TUTORIAL.read_text()
    found = re.findall(r"\*\*`([^`]+)`\*\*:\n\n```\w*\n(.*?)```\n", text, re.S)
    return dict(found)


def test_the_tutorial_shows_a_whole_package() -> None:
    assert set(tutorial_files()) == {
        "backup_guard/pyproject.toml",
        "backup_guard/backup_guard.py",
        "backup_guard/tests/test_backup_guard.py",
    }


def test_the_tutorials_package_installs_and_its_tests_pass(tmp_path: Path) -> None:
    """Steps 2 to 4 as a reader does them: the files as shown, pip install, pytest
    in the package's folder (the lab test included, as root)."""
    for rel, body in tutorial_files().items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "--no-deps", "--target", str(site), str(tmp_path / "backup_guard")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"],
        cwd=tmp_path / "backup_guard",
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    expected = "4 passed" if os.geteuid() == 0 else "3 passed, 1 skipped"
    assert expected in run.stdout, run.stdout


HOOKS = _hook_reference().hooks(hookspecs)
CTX_ATTRIBUTES = set(dir(HandlerContext)) | set(
    re.findall(r"self\.(\w+)(?:: [^=]+)? = ", inspect.getsource(HandlerContext.__init__))
)


@pytest.mark.parametrize(("name", "spec"), HOOKS, ids=[n for n, _ in HOOKS])
def test_each_hook_has_an_example_that_implements_it(name: str, spec: object) -> None:
    code = _hook_reference().example(spec)
    assert code, f"{name}: no 'Example::' block in its docstring"
    [fn] = ast.parse(code).body
    assert isinstance(fn, ast.FunctionDef) and fn.name == name
    assert [ast.unparse(d) for d in fn.decorator_list] == ["hookimpl"]
    params = [a.arg for a in fn.args.args]
    allowed = list(inspect.signature(spec).parameters)  # type: ignore[arg-type]
    assert params[0] == "self" and set(params[1:]) <= set(allowed), params
    used = {
        node.attr
        for node in ast.walk(fn)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "ctx"
    }
    assert used <= CTX_ATTRIBUTES, used - CTX_ATTRIBUTES


def test_the_guides_links_lead_somewhere() -> None:
    for page in sorted(GUIDE.glob("*.md")):
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if target.startswith("http"):
                continue
            assert (page.parent / target).exists(), f"{page.name}: {target}"
