"""Adding a family is one model file, its profile entries, its paper entry and a chapter
(CONTRIBUTING.md). One test per registered family names every piece that is missing, so the list
cannot be half-done silently."""

import ast
import inspect
from pathlib import Path

import pytest

from pixelbook import bench, book, models, papers, profiles
from pixelbook.models.base import AutoregressiveModel
from pixelbook.models.staged import StagedModel

MODELS = Path(models.__file__).parent
TOC = Path(book.__file__).resolve().parent.parent / "_toc.yml"


def registering_modules() -> set:
    """The files of pixelbook/models that register a family (``@register(...)``)."""
    found = set()
    for path in MODELS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "register":
                found.add(path.stem)
    return found


def test_every_model_file_that_registers_a_family_is_imported_by_the_registry():
    init = ast.parse((MODELS / "__init__.py").read_text())
    imported = {a.name for node in ast.walk(init) if isinstance(node, ast.ImportFrom) and node.level == 1
                and node.module is None for a in node.names}
    missing = registering_modules() - imported
    assert not missing, f"pixelbook/models/__init__.py does not import {sorted(missing)}: their families never register"


def cached(model) -> bool:
    """Does the model (each stage of a staged one) sample with a cached sampler of its own?"""
    stages = [m for m, _ in model.stages(lambda shape, levels: None)] if isinstance(model, StagedModel) else [model]
    return all(type(m).cached_sampler is not AutoregressiveModel.cached_sampler for m in stages)


@pytest.mark.parametrize("name", models.names())
def test_the_family_is_complete(name):
    missing = []
    for profile in profiles.PROFILES:
        try:
            chapter, _ = profiles.for_model(name, profile)
        except Exception:
            missing.append(f"a profiles.ENTRIES entry at the {profile!r} profile")
            continue
        if profile == "smoke":
            if chapter not in book.CHAPTERS:
                missing.append(f"its chapter {chapter!r} in book.CHAPTERS")
            if f"book/{chapter}" not in TOC.read_text():
                missing.append(f"its chapter book/{chapter} in _toc.yml")
            if not any(spec["model"] == name for spec in profiles.chapter_runs(chapter, profile)):
                missing.append(f"a run in profiles.chapter_runs({chapter!r})")
    if name not in papers.PAPER_RESULTS and name not in papers.NO_PAPER_RESULT:
        missing.append("a papers.PAPER_RESULTS entry (or a reason in papers.NO_PAPER_RESULT)")
    if not any(spec["family"] == name for spec in bench.train_sizes().values()):
        missing.append("a bench.train_sizes configuration")
    if not cached(models.create(name, (1, 4, 4), 4)):
        missing.append("a cached sampler (cached_sampler) of its own")
    init = models.family(name).__init__
    knobs = [p for p in inspect.signature(init).parameters.values() if p.name not in ("self", "image_shape", "levels")]
    positional = [p.name for p in knobs if p.kind != inspect.Parameter.KEYWORD_ONLY]
    if positional:
        missing.append(f"keyword-only knobs (positional: {positional})")
    doc = inspect.getdoc(init) or ""
    undocumented = [p.name for p in knobs if "Args:" not in doc or p.name not in doc.split("Args:", 1)[1]]
    if undocumented:
        missing.append(f"an Args: entry in its constructor's docstring for {undocumented}")
    assert not missing, f"{name} lacks: " + "; ".join(missing)
