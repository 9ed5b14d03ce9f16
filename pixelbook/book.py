"""The executable book: chapters run by papermill, their results with provenance, the HTML staging.

Inside a chapter notebook::

    ch = pb.book.Chapter("pixelcnn", profile, output_dir)
    model, run = ch.train("pixelcnn")      # trains, or reuses the matching checkpoint
    ch.figure(fig, "heatmap")              # shown in the notebook, saved as results/.../heatmap.png
    ch.finish()                            # metrics.json: every run of the chapter + provenance

From the shell, ``python -m pixelbook run CHAPTER --profile P`` executes ``book/CHAPTER.md``
(jupytext) with papermill into ``results/P/CHAPTER/``; ``stage`` then copies one profile's
executed notebooks into ``_staged/book/`` with a provenance header, beside the book's configuration,
for ``jupyter-book build _staged``.
"""

import ast
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import claims, plots, profiles, runs
from .checkpoint import load_model
from .errors import InputError, PixelbookError, UnknownNameError, known
from .provenance import provenance
from .storage import REPO, write_atomic, write_json
from .results import (FINISHED_RUNS, METRICS, add_finished, complete, left_out_note, markdown_table, read_metrics, recorded_runs,
                      render, table_row)

BOOK = REPO / "book"
RESULTS = Path(os.environ.get("PIXELBOOK_RESULTS") or REPO / "results")   # the tests point it elsewhere
STAGED = REPO / "_staged"
REPOSITORY = "pixelbook/pixelbook"           # GitHub owner/name; _config.yml says the same
BRANCH = "main"
# The book's chapter order (as in _toc.yml); a chapter exists once book/<slug>.md does.
CHAPTERS = ["foundations", "pixelcnn", "pixelrnn", "gated_pixelcnn", "pixelcnn_pp", "fast_sampling",
            "auxiliary", "imagegpt", "leaderboard", "results"]
WEIGHTS_LIMIT = 16 * 2**20                   # committed beside the results when at most this big


def chapters() -> list[str]:
    return [slug for slug in CHAPTERS if (BOOK / f"{slug}.md").is_file()]


def check_chapter(slug):
    if slug not in chapters():
        raise UnknownNameError(f"unknown chapter {slug!r}; known: {', '.join(chapters())}")


def in_colab() -> bool:
    return "google.colab" in sys.modules


def resolve_profile(profile: str) -> str:
    """The ``smoke`` default becomes ``gpu`` on Colab when a GPU is present."""
    import torch
    if profile == "smoke" and in_colab() and torch.cuda.is_available():
        return "gpu"
    profiles.check_profile(profile)
    return profile


def colab_url(slug: str) -> str:
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/book/{slug}.ipynb"


class Chapter:
    """A chapter's runs and figures. ``output_dir=None`` (a notebook opened by hand, nbval)
    writes into a temporary folder, so only the runner touches ``results/``; it reuses the
    committed runs of its profile, read only."""

    def __init__(self, slug, profile="smoke", output_dir=None, retrain=False, **overrides):
        self.slug, self.profile, self.retrain = slug, resolve_profile(profile), retrain
        self.overrides = {k: v for k, v in overrides.items() if v is not None}
        self.out = Path(output_dir) if output_dir else Path(tempfile.mkdtemp(prefix=f"pixelbook-{slug}-"))
        if not self.out.is_absolute():                                  # the runner passes results/P/CHAPTER
            self.out = REPO / self.out
        self.out.mkdir(parents=True, exist_ok=True)
        self.runs, self.started = [], time.time()
        self.provenance = provenance(slug, self.profile)                 # the code that runs, not later code
        self.previous = self._read_previous(self.out)
        # A notebook opened by hand (or by nbval) reuses the committed runs of its profile, read only
        self.committed = None if output_dir else RESULTS / self.profile / slug
        self.committed_runs = self._read_previous(self.committed) if self.committed else {}

    @property
    def entry(self) -> profiles.Profile:
        return profiles.get(self.slug, self.profile)

    @staticmethod
    def _read_previous(folder) -> dict:
        """The runs ``folder`` already holds: the last finished chapter's, and those a chapter
        killed part-way through finished (``finished_runs.json``, committed as they land)."""
        try:
            return {r.get("plan_hash"): r for r in recorded_runs(folder)}
        except PixelbookError:                       # unreadable: this execution trains afresh
            return {}

    def plan(self, model_name, label=None, dataset=None, seed=None, train_options=None, **size) -> tuple[dict, dict, str]:
        """(``runs.plan`` keywords, the plan, its file name) of one run of this chapter."""
        options = dict(self.overrides, dataset=dataset, size=size or None, label=label, chapter=self.slug,
                       **({"seed": seed} if seed is not None else {}), **({"train_options": train_options} if train_options else {}))
        return options, runs.plan(model_name, self.profile, **options), runs.run_name(model_name, label, seed)

    def train(self, model_name, label=None, dataset=None, progress=True, seed=None, train_options=None, **size):
        """(evaluation model, run entry). Reuses, in order: this folder's weights for the same plan,
        the committed ones of ``results/<profile>/<chapter>/`` (a notebook opened without an
        output folder), a finished run folder of the same plan, else trains. ``label`` and ``size``
        make a variant (an ablation); ``dataset`` replaces the profile's; ``seed`` (default 0)
        names the files too; ``train_options`` gives TrainConfig fields of a variant's own (a second
        budget). A finished run lands in ``finished_runs.json`` with its weights at
        once, under a lock, so the run queue's workers can land theirs side by side."""
        options, record, name = self.plan(model_name, label, dataset, seed, train_options, **size)
        key = runs.plan_hash(record)
        found = [(folder / f"{name}.safetensors", runs_) for folder, runs_ in
                 ((self.out, self.previous), (self.committed, self.committed_runs)) if folder is not None]
        reusable = [(weights, runs_[key]) for weights, runs_ in found if key in runs_ and weights.is_file()]
        if not self.retrain and reusable:
            model, _ = load_model(reusable[0][0])
            run = reusable[0][1]
        else:
            done = runs.train_and_evaluate(model_name, self.profile, progress=progress, retrain=self.retrain,
                                           resume=True, **options)            # a killed run continues
            model, _ = load_model(done.out / "weights.safetensors")
            trained = {k: done.metrics[k] for k in ("commit", "created", "device", "torch")}
            run = {**done.metrics["runs"][0], "plan_hash": key, "trained": trained}
            self.land(run, name, done.out)
        self.runs = [r for r in self.runs if r.get("plan_hash") != key] + [run]
        return model, run

    def declared(self, name, progress=True):
        """(evaluation model, run entry) of the run called ``name`` (``runs.run_name``) among the
        runs this chapter declares (``profiles.chapter_runs``, the list ``device-run`` and the run
        queue train too): the notebook names what it needs, the declaration says how it trains."""
        specs = {runs.run_name(s["model"], s.get("label"), s.get("seed")): s
                 for s in profiles.chapter_runs(self.slug, self.profile)}
        if name not in specs:
            raise UnknownNameError(f"chapter {self.slug} declares no run {name!r} at the {self.profile!r} profile; "
                                   f"it declares: {known(specs)}")
        return self.train(**profiles.spec_keywords(specs[name]), progress=progress)

    def every_seed(self, name, progress=True) -> list[tuple]:
        """[(evaluation model, run entry)] of the run called ``name`` at every seed this chapter
        declares for it, the main run (seed 0, the plain name) first: the seeds a verdict needs."""
        names = [runs.run_name(s["model"], s.get("label"), s.get("seed"))
                 for s in profiles.chapter_runs(self.slug, self.profile)
                 if runs.run_name(s["model"], s.get("label")) == name]
        return [self.declared(n, progress) for n in names] or [self.declared(name, progress)]

    def land(self, run, name, folder):
        """Copy a finished run's weights and figures here and add it to ``finished_runs.json``
        (re-read under the folder's lock: other processes may have added theirs meanwhile)."""
        if (folder / "weights.safetensors").stat().st_size <= WEIGHTS_LIMIT:
            write_atomic(self.out / f"{name}.safetensors", (folder / "weights.safetensors").read_bytes())
        for figure in ("samples", "curve"):
            if (folder / f"{figure}.png").is_file():
                write_atomic(self.out / f"{name}_{figure}.png", (folder / f"{figure}.png").read_bytes())
        self.previous = {**self.previous, **add_finished(self.out, [run])}

    def figure(self, fig, name):
        """Save ``fig`` as ``<output_dir>/<name>.png`` and return it, so the notebook shows it."""
        plots.save_figure(fig, self.out / f"{name}.png")
        return fig

    def table(self):
        """This chapter's finished runs as the book's bpd table (the paper's number in its own
        column), and a line naming the partial runs it leaves out."""
        from IPython.display import Markdown
        info = {"chapter": self.slug, "profile": self.profile, **self.provenance}
        shown = [table_row(run, info) for run in self.runs if complete(run)]
        return Markdown(markdown_table(shown) + ("\n" + left_out_note(self.runs) if left_out_note(self.runs) else ""))

    def ledger(self):
        """The claims this chapter's runs test, each with its verdict computed from every finished
        seed of them (``pixelbook.claims``; the results chapter shows the whole ledger)."""
        from IPython.display import Markdown
        timed = claims.timings(self.profile)
        rows = [claims.verdict(claim, self.runs, timed) for claim in claims.of(self.slug) if not claim.untested]
        return Markdown(render(rows, claims.CLAIM_COLUMNS) + "\n" + claims.RULE)

    def finish(self, extra: dict | None = None):
        """Write metrics.json: provenance, the chapter's wall-clock, every run, and ``extra``
        measurements (benchmarks) under their own keys."""
        metrics = {**self.provenance, "wallclock_s": round(time.time() - self.started, 1),
                   **(extra or {}), "runs": self.runs}
        write_json(self.out / METRICS, metrics)
        (self.out / FINISHED_RUNS).unlink(missing_ok=True)               # metrics.json holds them all now
        return metrics


# -- the runner ---------------------------------------------------------------------------------

RUNNER_PARAMETERS = ("profile", "output_dir", "retrain")      # set by the runner, not by -p


def fits_annotation(value, annotation: str) -> bool:
    """Does ``value`` fit an annotation such as ``int | None``?"""
    checks = {"None": lambda v: v is None, "bool": lambda v: isinstance(v, bool),
              "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
              "str": lambda v: isinstance(v, str)}
    return any(checks.get(option.strip(), lambda v: True)(value) for option in annotation.split("|"))


def parse_parameters(pairs, declared: dict) -> dict:
    """``["steps=500", "retrain=True"]`` -> typed values, checked against the parameters cell."""
    values = {}
    for pair in pairs or []:
        name, sep, text = pair.partition("=")
        if not sep:
            raise InputError(f"bad parameter {pair!r}: write key=value")
        if name in RUNNER_PARAMETERS:
            raise InputError(f"parameter {name} is set by the runner; use --profile and --retrain")
        if name not in declared:
            raise InputError(f"unknown parameter {name!r}; this chapter takes: "
                             f"{known(set(declared) - set(RUNNER_PARAMETERS)) or 'none'}")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        if not fits_annotation(value, declared[name]):
            raise InputError(f"parameter {name}={text} is not {declared[name]}")
        values[name] = value
    return values


def declared_parameters(notebook) -> dict:
    """{name: 'int | None', ...} from the annotations of the cell tagged ``parameters``."""
    for cell in notebook.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            tree = ast.parse(cell.source)
            return {node.target.id: ast.unparse(node.annotation) for node in tree.body
                    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)}
    raise PixelbookError("the chapter has no code cell tagged 'parameters'")


def read_chapter(slug):
    import jupytext
    notebook = jupytext.read(BOOK / f"{slug}.md")
    notebook.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3",
                                                "language": "python"})
    return notebook


def run_chapter(slug, profile="smoke", parameters=None, retrain=False, progress=True) -> Path:
    """Execute ``book/<slug>.md`` with papermill into ``results/<profile>/<slug>/``."""
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    check_chapter(slug)
    profiles.check_profile(profile)
    notebook = read_chapter(slug)
    values = parse_parameters(parameters, declared_parameters(notebook))
    out = RESULTS / profile / slug
    out.mkdir(parents=True, exist_ok=True)
    executed, partial, failed = out / "executed.ipynb", out / ".partial.executed.ipynb", out / "failed.ipynb"
    # Relative to the repository where it lies inside it, so executed notebooks show no machine's paths
    shown = out.resolve().relative_to(REPO) if out.resolve().is_relative_to(REPO) else out
    values = {**values, "profile": profile, "output_dir": str(shown), "retrain": retrain or values.get("retrain", False)}
    stamp = provenance(slug, profile)                # the code that runs, not what is committed later
    # papermill cannot read "str | None" annotations and warns about them; we check parameters ourselves
    logging.getLogger("papermill").setLevel(logging.ERROR)
    quiet = os.environ.get("PIXELBOOK_PROGRESS")
    os.environ["PIXELBOOK_PROGRESS"] = "0"            # the kernel inherits it: no bars in outputs
    try:
        papermill.execute_notebook(notebook, str(partial), parameters=values, kernel_name="python3",
                                   progress_bar=progress, cwd=str(BOOK))
    except PapermillExecutionError as e:             # executed.ipynb keeps the last good run
        os.replace(partial, failed)
        raise PixelbookError(f"chapter {slug} ({profile}) failed in cell {e.exec_count}: {e.ename}: "
                             f"{str(e.evalue).splitlines()[0] if e.evalue else ''}; the executed notebook "
                             f"is kept at {failed}") from None
    except (DeadKernelError, NoSuchKernel, RuntimeError) as e:
        raise PixelbookError(f"chapter {slug} ({profile}): the notebook kernel failed ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else 'no message'}); is ipykernel installed?") from None
    finally:
        if quiet is None:
            del os.environ["PIXELBOOK_PROGRESS"]
        else:
            os.environ["PIXELBOOK_PROGRESS"] = quiet
    _stamp(partial, stamp)
    os.replace(partial, executed)
    failed.unlink(missing_ok=True)
    return executed


def _stamp(path, stamp):
    """Record the run's provenance in the executed notebook's metadata (read by ``stage``)."""
    import nbformat
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata["pixelbook"] = stamp
    nbformat.write(notebook, path)


def has_results(profile, slug) -> bool:
    return (RESULTS / profile / slug / "executed.ipynb").is_file()


def best_profile(slug, among=profiles.PROFILES) -> str | None:
    """The highest profile with an executed notebook of ``slug``."""
    found = [p for p in among if has_results(p, slug)]
    return found[-1] if found else None


def has_profiles(slug) -> bool:
    """Chapters that train something have profile entries; foundations and results do not, and
    look the same at every profile."""
    return slug in profiles.chapters()


def default_book_profile() -> str:
    """The highest profile that at least half of the chapters with profiles have results for
    (a chapter without it falls back to its own highest, and its page says so)."""
    content = [slug for slug in chapters() if has_profiles(slug)]
    covering = [p for p in profiles.PROFILES
                if content and 2 * sum(has_results(p, slug) for slug in content) >= len(content)]
    return covering[-1] if covering else "smoke"


def run_all(profile="smoke", skip_higher=False, retrain=False, progress=True, parameters=None):
    """Every chapter in book order; ``skip_higher`` leaves alone a chapter that already has
    results of a higher profile (what ``make book`` wants). The results chapter runs last."""
    profiles.check_profile(profile)
    takes = {slug: declared_parameters(read_chapter(slug)) for slug in chapters()}
    for pair in parameters or []:                    # each chapter checks the values it takes
        name = pair.partition("=")[0]
        if not any(name in declared for declared in takes.values()):
            raise InputError(f"unknown parameter {name!r}; no chapter takes it")
    done = []
    order = profiles.PROFILES
    for slug in chapters():
        higher = [p for p in order[order.index(profile) + 1:] if has_results(p, slug)]
        if skip_higher and higher and slug != "results":
            print(f"{slug}: skipped, results of the {higher[-1]!r} profile exist")
            continue
        print(f"{slug}: running the {profile!r} profile")
        own = [pair for pair in parameters or [] if pair.partition("=")[0] in takes[slug]]
        run_chapter(slug, profile, own, retrain, progress)
        done.append(slug)
    return done


# -- staging for jupyter-book ---------------------------------------------------------------------

def header_cell(slug, profile, notebook, wanted):
    import nbformat
    info = notebook.metadata.get("pixelbook", {})
    metrics = read_metrics(RESULTS / profile / slug)
    datasets = sorted({r["dataset"] for r in metrics.get("runs", [])})
    commit = (info.get("commit") or "unknown")[:7]
    parts = [f"**Profile:** `{profile}`"]
    if datasets:
        parts.append(f"**dataset:** {', '.join(datasets)}")
    parts += [f"**device:** {info.get('device', 'unknown')}", f"**commit:** `{commit}`",
              f"**executed:** {info.get('created', 'unknown')}"]
    note = ""
    if profile != wanted and has_profiles(slug):
        note = (f"\n\nThis book was built with the `{wanted}` profile; this chapter has no `{wanted}` results "
                f"yet, so it shows its highest profile, `{profile}`.")
    badge = (f"[Open this chapter in Colab]({colab_url(slug)})"    # a plain link: no image from the network
             if slug != "results" else "")
    return nbformat.v4.new_markdown_cell(f"{badge}\n\n```{{admonition}} This page's run\n{' · '.join(parts)}"
                                         f"{note}\n```", metadata={"tags": ["pixelbook-header"]})


def under_title(first, header) -> list:
    """Split the chapter's first cell after its '# Title' line and put ``header`` there."""
    import nbformat
    title, _, rest = first.source.lstrip().partition("\n")
    if first.cell_type != "markdown" or not title.startswith("# "):
        return [header, first]
    return [nbformat.v4.new_markdown_cell(title), header] + ([nbformat.v4.new_markdown_cell(rest.strip())] if rest.strip() else [])


def stage(profile=None) -> dict:
    """Lay out the book's sources for ``jupyter-book build _staged``: the configuration, the
    table of contents and the bibliography, the intro, and one profile's executed notebooks with
    a provenance header, under ``_staged/book/`` like their sources, so a page's address is
    ``.../book/pixelcnn.html`` with no build folder in it.

    Returns {chapter: profile shown}. Chapters without results of ``profile`` fall back to
    their highest profile, and their header says so."""
    import nbformat
    wanted = profile or default_book_profile()
    profiles.check_profile(wanted)
    shutil.rmtree(STAGED, ignore_errors=True)
    (STAGED / "book").mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml", "references.bib"):
        shutil.copyfile(REPO / name, STAGED / name)
    intro = next((p for p in (BOOK / "intro.md", REPO / "book" / "intro.md") if p.is_file()), None)
    if intro is None:
        raise PixelbookError(f"the book has no intro: {BOOK / 'intro.md'} is missing")
    shutil.copyfile(intro, STAGED / "book" / "intro.md")
    shown = {}
    for slug in chapters():
        use = wanted if has_results(wanted, slug) else best_profile(slug)
        if use is None:
            raise PixelbookError(f"chapter {slug} has no executed notebook under results/; "
                                 f"run: python -m pixelbook run {slug} --profile smoke")
        notebook = nbformat.read(RESULTS / use / slug / "executed.ipynb", as_version=4)
        notebook.cells[0:1] = under_title(notebook.cells[0], header_cell(slug, use, notebook, wanted))
        nbformat.write(notebook, STAGED / "book" / f"{slug}.ipynb")
        shown[slug] = use
    return shown
