"""README's architecture tree is the package as it stands: every module of collector/ is named
there, and every module or folder it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "collector"


def architecture_tree() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Architecture", 1)[1]
    return next(block for block in section.split("```")[1::2] if block.lstrip().startswith("collector/"))


def test_every_module_of_the_package_is_named_in_the_readme_tree():
    named = set(re.findall(r"\b(\w+\.py)\b", architecture_tree()))
    modules = {path.name for path in PACKAGE.rglob("*.py") if path.name != "__init__.py"}
    assert sorted(modules - named) == []


def test_every_module_and_folder_the_tree_names_exists():
    tree = architecture_tree()
    existing = {path.name for path in PACKAGE.rglob("*.py")}
    folders = {path.name + "/" for path in PACKAGE.rglob("*") if path.is_dir() and path.name != "__pycache__"}
    assert sorted(set(re.findall(r"\b(\w+\.py)\b", tree)) - existing) == []
    assert sorted(set(re.findall(r"\b([a-z_]+/)(?=[\s)])", tree)) - folders - {"collector/"}) == []
