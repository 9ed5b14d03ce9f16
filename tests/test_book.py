"""The book pipeline: chapter sources, parameters, the papermill runner, tables and staging."""

import json
from pathlib import Path

import jupytext
import nbformat
import pytest

from pixelbook import book, results
from pixelbook.errors import InputError, PixelbookError, UnknownNameError

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = book.chapters()


def test_every_design_chapter_that_exists_is_in_the_toc():
    toc = (REPO / "_toc.yml").read_text()
    assert {"foundations", "pixelcnn", "results"} <= set(CHAPTERS)
    for slug in CHAPTERS:
        assert f"book/{slug}" in toc


@pytest.mark.parametrize("slug", CHAPTERS)
def test_paired_notebook_is_in_sync(slug):
    source = jupytext.read(REPO / "book" / f"{slug}.md")
    paired = jupytext.read(REPO / "book" / f"{slug}.ipynb")
    strip = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]
    assert strip(source) == strip(paired), f"run `make sync` after editing book/{slug}.md"
    assert paired.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("slug", CHAPTERS)
def test_first_code_cell_is_parameters_then_colab_install(slug):
    code = [c for c in jupytext.read(REPO / "book" / f"{slug}.md").cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    declared = book.declared_parameters(jupytext.read(REPO / "book" / f"{slug}.md"))
    assert declared["profile"] == "str" and "output_dir" in declared
    assert '"google.colab" in sys.modules' in code[1].source and "%pip install" in code[1].source
    assert book.REPOSITORY in code[1].source


def test_colab_defaults_to_the_gpu_profile_on_a_gpu(monkeypatch):
    import sys
    import types

    import torch
    assert book.resolve_profile("smoke") == "smoke"                      # not on Colab
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert book.resolve_profile("smoke") == "smoke"                      # Colab without a GPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert book.resolve_profile("smoke") == "gpu"
    assert book.resolve_profile("cpu") == "cpu"                          # an explicit choice stays


def test_repository_is_named_once_consistently():
    assert f"https://github.com/{book.REPOSITORY}" in (REPO / "_config.yml").read_text()


def test_parameters_are_parsed_and_checked():
    declared = {"profile": "str", "steps": "int | None", "lr": "float", "tag": "str", "fast": "bool"}
    assert book.parse_parameters(["steps=500", "lr=3e-4", "tag=cpu", "fast=True"], declared) == {
        "steps": 500, "lr": 3e-4, "tag": "cpu", "fast": True}
    assert book.parse_parameters(["steps=None"], declared) == {"steps": None}
    for pairs, message in [(["steps=abc"], "parameter steps=abc is not int | None"),
                           (["steps=True"], "parameter steps=True is not int | None"),
                           (["fast=1"], "parameter fast=1 is not bool"),
                           (["epochs=3"], "unknown parameter 'epochs'; this chapter takes: fast, lr, steps, tag"),
                           (["profile=cpu"], "parameter profile is set by the runner"),
                           (["steps"], "bad parameter 'steps': write key=value")]:
        with pytest.raises(InputError, match=message.replace("(", r"\(").replace("|", r"\|")):
            book.parse_parameters(pairs, declared)


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A book/ and results/ of our own, so the runner never touches the real ones."""
    for name in ("book", "results", "_staged"):
        (tmp_path / name).mkdir()
    monkeypatch.setattr(book, "BOOK", tmp_path / "book")
    monkeypatch.setattr(book, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(book, "STAGED", tmp_path / "_staged")
    monkeypatch.setattr(book, "CHAPTERS", ["foundations", "pixelcnn", "broken", "results"])
    return tmp_path


CHAPTER = """---
jupytext:
  text_representation: {{extension: .md, format_name: myst}}
kernelspec: {{display_name: Python 3, language: python, name: python3}}
---
# {title}

```{{code-cell}} ipython3
:tags: [parameters]

profile: str = "smoke"
output_dir: str | None = None
retrain: bool = False
```

```{{code-cell}} ipython3
{body}
```
"""


def test_failing_cell_gives_one_line_and_keeps_the_notebook(sandbox):
    (sandbox / "book" / "broken.md").write_text(CHAPTER.format(title="Broken", body="1 / 0"))
    with pytest.raises(PixelbookError) as info:
        book.run_chapter("broken", "smoke", progress=False)
    message = str(info.value)
    assert message.startswith("chapter broken (smoke) failed in cell 3: ZeroDivisionError: division by zero")
    assert message.endswith(f"the executed notebook is kept at {sandbox}/results/smoke/broken/failed.ipynb")
    assert (sandbox / "results" / "smoke" / "broken" / "failed.ipynb").is_file()
    assert not (sandbox / "results" / "smoke" / "broken" / "executed.ipynb").exists()   # no good run to replace


def test_runner_passes_parameters_and_stamps_provenance(sandbox):
    body = "import json, pathlib\npathlib.Path(output_dir, 'seen.json').write_text(json.dumps([profile, retrain]))"
    (sandbox / "book" / "broken.md").write_text(CHAPTER.format(title="Fine", body=body))
    executed = book.run_chapter("broken", "cpu", retrain=True, progress=False)
    assert json.loads((executed.parent / "seen.json").read_text()) == ["cpu", True]
    meta = nbformat.read(executed, as_version=4).metadata["pixelbook"]
    assert meta["profile"] == "cpu" and meta["chapter"] == "broken" and "commit" in meta
    with pytest.raises(InputError, match="unknown parameter 'steps'; this chapter takes: none"):
        book.run_chapter("broken", "cpu", ["steps=3"], progress=False)


def test_unknown_chapter(sandbox):
    (sandbox / "book" / "pixelcnn.md").write_text(CHAPTER.format(title="PixelCNN", body="1"))
    with pytest.raises(PixelbookError, match="unknown chapter 'pixelrnm'; known: pixelcnn"):
        book.run_chapter("pixelrnm")


def write_executed(root, profile, slug, runs=None):
    (root / "book" / f"{slug}.md").write_text(CHAPTER.format(title=slug, body="1"))
    folder = root / "results" / profile / slug
    folder.mkdir(parents=True)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {slug}\n\nThe intro."),
                                               nbformat.v4.new_code_cell("1")])
    notebook.metadata["pixelbook"] = {"commit": "abcdef1234", "device": "cpu: test", "created": "today"}
    nbformat.write(notebook, folder / "executed.ipynb")
    if runs is not None:
        (folder / "metrics.json").write_text(json.dumps({"chapter": slug, "profile": profile, "commit": "abcdef1234",
                                                         "device": "cpu: test", "runs": runs}))


def test_stage_picks_the_highest_profile_of_most_chapters_and_labels_each_page(sandbox, monkeypatch):
    monkeypatch.setattr(book, "has_profiles", lambda slug: slug in ("pixelcnn", "broken", "other"))
    monkeypatch.setattr(book, "CHAPTERS", ["foundations", "pixelcnn", "broken", "other", "results"])
    run = {"model": "pixelcnn", "dataset": "fashion_mnist", "test_bpd": 3.1}
    write_executed(sandbox, "smoke", "foundations")
    write_executed(sandbox, "smoke", "pixelcnn", [run])
    write_executed(sandbox, "cpu", "pixelcnn", [run])
    write_executed(sandbox, "smoke", "results")
    for slug in ("broken", "other"):
        write_executed(sandbox, "smoke", slug, [])
    assert book.default_book_profile() == "smoke"        # only one of three chapters has cpu results
    write_executed(sandbox, "cpu", "broken", [])
    assert book.default_book_profile() == "cpu"          # two of three; foundations and results have no profiles
    (sandbox / "results" / "cpu" / "broken" / "executed.ipynb").unlink()
    shown = book.stage("cpu")
    assert shown == {"foundations": "smoke", "pixelcnn": "cpu", "broken": "smoke", "other": "smoke",
                     "results": "smoke"}
    staged = nbformat.read(sandbox / "_staged" / "book" / "pixelcnn.ipynb", as_version=4)
    assert staged.cells[0].source == "# pixelcnn" and staged.cells[2].source == "The intro."
    header = staged.cells[1].source
    assert "**Profile:** `cpu`" in header and "fashion_mnist" in header and "`abcdef1`" in header
    assert book.colab_url("pixelcnn") in header
    assert "has no `cpu` results" in nbformat.read(sandbox / "_staged" / "book" / "broken.ipynb", as_version=4).cells[1].source
    assert "has no" not in nbformat.read(sandbox / "_staged" / "book" / "foundations.ipynb", as_version=4).cells[1].source


def test_tables_keep_papers_apart_and_mark_bounds(tmp_path):
    paper = {"value": 3.14, "metric": "bpd", "dataset": "cifar10", "cite": "vandenoord2016pixelrnn"}
    runs = [{"model": "pixelcnn", "dataset": "fashion_mnist", "test_bpd": 3.01234, "bound": "exact",
             "eval_images": 10000, "params": 118080,
             "train_images": 80000, "wallclock_s": 900.0, "paper": paper},
            {"model": "grayscale_pixelcnn", "dataset": "colored_fashion_mnist", "test_bpd": 2.5, "bound": "upper",
             "eval_images": 1000, "train_images": 100, "wallclock_s": 60.0, "paper": None},
            {"model": "igpt", "label": "palette 16", "dataset": "colored_fashion_mnist", "test_bpd": 0.777,
             "bound": "palette", "eval_images": 2000, "train_images": 100, "wallclock_s": 60.0, "paper": None}]
    smoke = [{"model": "pixelcnn", "dataset": "digits", "test_bpd": 2.2, "bound": "exact", "eval_images": 297,
              "train_images": 4800, "wallclock_s": 3.0, "paper": paper}]
    for profile, found in (("cpu", runs), ("smoke", smoke)):
        folder = tmp_path / profile / "pixelcnn"
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps({"chapter": "pixelcnn", "profile": profile,
                                                         "commit": "0123456789", "device": "cpu: x (2 threads)",
                                                         "runs": found}))
    rows = results.write_tables(tmp_path)
    assert len(rows) == 4
    md = (tmp_path / "tables" / "bpd.md").read_text()
    assert md.index("## `cpu` profile") < md.index("## `smoke` profile")          # cpu first, smoke last
    cpu_part = md[: md.index("## `smoke` profile")]
    bpd_table, palette_table = cpu_part.split("palette-space bits per sub-pixel (not a bpd)")
    assert "0.777" not in bpd_table and "| igpt (palette 16) | colored_fashion_mnist | 0.777 | first 2,000 |" in palette_table
    assert ("| pixelcnn | fashion_mnist | 3.012 | 10,000 | 80,000 | 118,080 | 15.0 min | — | 2 CPU threads | 0123456 "
            "| 3.14 (cifar10) [vandenoord2016pixelrnn] |") in md
    assert "| ≤ 2.500 | first 1,000 |" in md and "| 2.200 | 297 |" in md         # the whole digits split
    csv = (tmp_path / "tables" / "bpd.csv").read_text().splitlines()
    assert csv[0].startswith("model,variant,seed,conditional,dataset,profile,test_bpd,bound,eval_images,test_images")
    palette_row = next(line for line in csv if line.startswith("igpt,"))
    assert csv[0].endswith(",palette_bits_per_subpixel")
    assert palette_row.startswith("igpt,palette 16,0,False,colored_fashion_mnist,cpu,,palette,2000,"
                                  "\"first 2,000\"") and palette_row.endswith(",0.77700")
    tex = (tmp_path / "tables" / "bpd.tex").read_text()
    assert "0.777" not in tex
    assert r"\cite{vandenoord2016pixelrnn}" in tex and r"$\leq$ 2.500" in tex and r"fashion\_mnist" in tex


def test_every_seed_gives_the_main_run_first_then_its_replicates():
    """A notebook opened without an output folder reuses the committed smoke runs: every seed of a
    declared run, seed 0 (the plain name) first; an undeclared name is one clear error."""
    ch = book.Chapter("gated_pixelcnn", "smoke")
    found = ch.every_seed("gated_pixelcnn-given-y", progress=False)
    assert [r["seed"] for _, r in found] == [0, 1] and all(r["label"] == "given y" for _, r in found)
    assert len(ch.runs) == 2                                          # reused, not trained
    with pytest.raises(UnknownNameError, match="declares no run 'gated_pixelcnn-typo'"):
        ch.every_seed("gated_pixelcnn-typo")
    assert "| A class label does not lower" in ch.ledger().data        # its claim, verdict from both seeds
