"""The bpd tables: every committed run's numbers, regenerated from what ``results/*/*/`` records
(``metrics.json``, and ``finished_runs.json`` for runs landed since) as Markdown, CSV and LaTeX
(``python -m pixelbook tables``). The reporting layer: it reads what the runs wrote and imports
nothing that trains."""

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import data
from .errors import PixelbookError
from .storage import REPO, waiting_lock, write_atomic, write_json


# -- one renderer: rows and column specs to Markdown, CSV and LaTeX ------------------------------

@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[dict], str]                 # the Markdown (and, escaped, LaTeX) text of a row's cell
    csv: str | None = None                      # the CSV header (default: ``header``)
    raw: Callable[[dict], object] | None = None  # the CSV value (default: ``cell``)
    tex: Callable[[dict], str] | None = None    # the LaTeX cell, already LaTeX (default: ``cell``, escaped)
    tex_header: str | None = None
    align: str = "l"                            # LaTeX column alignment
    forms: tuple = ("md", "csv", "tex")         # the outputs that have this column


def render(rows, columns, form="md") -> str:
    """One table of ``rows`` in ``form``: "md" (pipes), "csv", or "tex" (booktabs). Every table
    of the book (bpd, leaderboard, claims) is rows and :class:`Column` specs given to this."""
    columns = [c for c in columns if form in c.forms]
    if form == "csv":
        import csv
        import io
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([c.csv or c.header for c in columns])
        writer.writerows([[(c.raw or c.cell)(r) for c in columns] for r in rows])
        return buffer.getvalue()
    if form == "tex":
        lines = [r"\begin{tabular}{" + "".join(c.align for c in columns) + "}", r"\toprule",
                 " & ".join(latex_escape(c.tex_header or c.header) for c in columns) + r" \\", r"\midrule"]
        lines += [" & ".join(c.tex(r) if c.tex else latex_escape(c.cell(r)) for c in columns) + r" \\" for r in rows]
        return "\n".join(lines + [r"\bottomrule", r"\end{tabular}"]) + "\n"
    lines = ["| " + " | ".join(c.header for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(c.cell(r)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def table_of(rows, cells: dict, form="md") -> str:
    """:func:`render` for a chapter's own small tables: ``cells`` maps each header to a function of a
    row that gives its cell (a string, or a value that prints as one)."""
    return render(rows, [Column(header, cell) for header, cell in cells.items()], form)


def write_table(stem: Path, rows, columns, heading=""):
    """``stem``.md (``heading`` above the table), .csv and .tex."""
    write_atomic(stem.with_suffix(".md"), heading + render(rows, columns, "md"))
    write_atomic(stem.with_suffix(".csv"), render(rows, columns, "csv"))
    write_atomic(stem.with_suffix(".tex"), render(rows, columns, "tex"))


# -- the bpd tables ------------------------------------------------------------------------------

# The book's order: the cpu table first (the committed CPU numbers), smoke last (CI's toy runs).
PROFILE_ORDER = ("cpu", "gpu", "paper", "smoke")

def complete(run) -> bool:
    """A run that trained all its planned steps. A partial run (one that stopped at a device run's
    deadline) is shown labelled, and enters no table, verdict or ranking."""
    return not run.get("partial")


def partial_label(run) -> str:
    """'' for a complete run, ' (partial: 120 of 400 steps)' for a partial one."""
    if complete(run):
        return ""
    planned = run.get("planned_steps")
    return f" (partial: {run.get('train_steps', '?'):,} of {planned:,} steps)" if planned else " (partial)"


def no_verdict(*runs) -> str | None:
    """Why no verdict may be drawn from ``runs`` (one of them is missing or partial), or None."""
    missing = [r for r in runs if r is None]
    partial = [r for r in runs if r is not None and not complete(r)]
    if not (missing or partial):
        return None
    named = [f"{format_model(r)}{partial_label(r)}" for r in partial] + ["a run that did not finish"] * len(missing)
    return f"No verdict: {', '.join(named)} {'is' if len(named) == 1 else 'are'} not a finished run."


def left_out_note(runs) -> str:
    """The sentence under a table that names the partial runs it leaves out ('' when none)."""
    partial = [r for r in runs if not complete(r)]
    return "" if not partial else ("Left out of this table, not finished: "
                                   + ", ".join(f"{format_model(r)}{partial_label(r)}" for r in partial) + ".\n")


# A run "flattened" when the last quarter of its training improved its held-out bits/dim by less
# than this: the rule every run behind a verdict is checked against.
FLAT_BPD = 0.02


def curve_end(run) -> dict | None:
    """How a run's held-out curve ends: the bits/dim gained over the last quarter of its training
    images (from the curve point nearest three quarters to the last), the rate per 10,000 images,
    and ``flat``, whether the gain is under :data:`FLAT_BPD`. None without a curve of 3+ points."""
    curve = run.get("curve") or []
    if len(curve) < 3:
        return None
    images = [point[1] for point in curve]
    quarter = min(range(len(curve)), key=lambda k: abs(images[k] - 0.75 * images[-1]))
    gain = curve[quarter][3] - curve[-1][3]
    seen = images[-1] - images[quarter]
    return {"gain": gain, "per_10k_images": 1e4 * gain / seen if seen else 0.0, "flat": gain < FLAT_BPD,
            "from_images": images[quarter], "to_images": images[-1]}


def overfits(run) -> bool | None:
    """Whether a run overfitted: its held-out bits/dim ended more than :data:`FLAT_BPD` above the
    lowest point of its curve. None without a curve of 3+ points."""
    curve = run.get("curve") or []
    if len(curve) < 3:
        return None
    return curve[-1][3] - min(point[3] for point in curve) > FLAT_BPD


# The runs a chapter folder records: its last execution's (``metrics.json``) and those the run queue
# or a device import landed since (``finished_runs.json``, until the chapter executes again).
METRICS, FINISHED_RUNS = "metrics.json", "finished_runs.json"


def read_metrics(folder) -> dict:
    """A chapter folder's ``metrics.json`` ({} when it has none); a corrupt one is one clear error."""
    path = Path(folder) / METRICS
    try:
        metrics = json.loads(path.read_text()) if path.is_file() else {}
        if not isinstance(metrics, dict) or not isinstance(metrics.get("runs", []), list):
            raise ValueError("no list of runs")
        return metrics
    except (OSError, ValueError) as e:
        raise PixelbookError(f"{path}: not a readable metrics file ({type(e).__name__}: {e}); "
                             f"rerun its chapter") from None


def read_finished(folder) -> dict:
    """A chapter folder's ``finished_runs.json``, {plan hash: run entry} ({} when it has none); a
    corrupt one is one clear error."""
    path = Path(folder) / FINISHED_RUNS
    try:
        found = json.loads(path.read_text()) if path.is_file() else {}
        if not isinstance(found, dict):
            raise ValueError(f"a JSON {type(found).__name__}, not an object")
    except (OSError, ValueError) as e:
        raise PixelbookError(f"{path}: not a readable list of finished runs ({type(e).__name__}: {e}); "
                             f"delete it and rerun its chapter") from None
    return found


def bench_path(name, results_dir=None) -> Path:
    """``results/bench/<name>.json``: where ``python -m pixelbook bench`` writes a benchmark and
    :func:`read_bench` reads it (``results_dir`` replaces ``results/``)."""
    return Path(results_dir or REPO / "results") / "bench" / f"{name}.json"


def read_bench(what, results_dir=None) -> dict | None:
    """``results/bench/<what>.json``, as ``python -m pixelbook bench <what>`` wrote it (None when
    there is none); a corrupt one is one clear error."""
    path = bench_path(what, results_dir)
    if not path.is_file():
        return None
    try:
        bench = json.loads(path.read_text())
        if not isinstance(bench, dict) or not isinstance(bench.get("rows"), list):
            raise ValueError("no list of rows")
        return bench
    except (OSError, ValueError) as e:
        raise PixelbookError(f"{path}: not a readable bench {what} file ({type(e).__name__}: {e}); "
                             f"rerun `python -m pixelbook bench {what}`") from None


def recorded_runs(folder) -> list[dict]:
    """Every run entry ``folder`` records, its last execution's first, then those landed since."""
    return list(read_metrics(folder).get("runs", [])) + list(read_finished(folder).values())


def add_finished(folder, runs) -> dict:
    """Land finished run entries (each with its ``plan_hash``) in ``folder``'s ``finished_runs.json``:
    read, add and write under the folder's lock, since the run queue's workers and a device import
    land theirs side by side. Returns the file's entries."""
    with waiting_lock(Path(folder) / ".finished.lock"):
        found = {**read_finished(folder), **{run["plan_hash"]: run for run in runs}}
        write_json(Path(folder) / FINISHED_RUNS, found)
    return found


def landed_runs(folder) -> list[dict]:
    """The runs a chapter folder stands on now: of every finished run it records (partial ones,
    :func:`complete`, left out), the newest training of each (model, variant label, seed), so a run
    the queue landed replaces the same run of an older budget before the chapter executes again."""
    newest = {}
    for run in filter(complete, recorded_runs(folder)):
        key = (run.get("model"), run.get("label") or None, run.get("seed", 0))
        created = (run.get("trained") or {}).get("created", "")
        if key not in newest or created >= (newest[key].get("trained") or {}).get("created", ""):
            newest[key] = run
    return list(newest.values())


def chapter_folders(results_dir, chapter="*") -> list[Path]:
    """Every ``results/<profile>/<chapter>/`` that records runs."""
    return sorted({path.parent for name in (METRICS, FINISHED_RUNS) for path in Path(results_dir).glob(f"*/{chapter}/{name}")})


def collect(results_dir=None) -> list[dict]:
    """One row per run every ``results/<profile>/<chapter>/`` stands on (:func:`landed_runs`):
    partial runs never enter a bpd table."""
    results_dir = Path(results_dir or REPO / "results")
    rows = []
    for folder in chapter_folders(results_dir):
        info = {**read_metrics(folder), "chapter": folder.name, "profile": folder.parent.name}
        rows += [table_row(run, info) for run in landed_runs(folder)]
    return sorted(rows, key=table_order)


def table_order(row):
    """Profile (the book's order), then dataset, then bits/dim: a table reads best first."""
    rank = PROFILE_ORDER.index(row["profile"]) if row["profile"] in PROFILE_ORDER else len(PROFILE_ORDER)
    return rank, row["dataset"], row["test_bpd"], row["model"], row.get("label") or ""


def by_profile(rows) -> dict:
    """{profile: its rows}, in the book's profile order."""
    tables = {}
    for row in sorted(rows, key=table_order):
        tables.setdefault(row["profile"], []).append(row)
    return tables


def table_row(run: dict, chapter_metrics: dict) -> dict:
    """A run with its profile, and the device and commit of the training that produced it (a
    chapter that reused a checkpoint keeps the provenance of its training)."""
    trained = run.get("trained", chapter_metrics)
    return {"chapter": chapter_metrics["chapter"], "profile": chapter_metrics["profile"], **run,
            "device": trained.get("device", chapter_metrics.get("device")),
            "commit": trained.get("commit", chapter_metrics.get("commit"))}


def format_bpd(row) -> str:
    """'≤ 3.012' for bounds (auxiliary models), '3.012' for exact likelihoods, and
    '3.012 given y' for class-conditional ones (-log p(x | y), not -log p(x))."""
    value = f"{row['test_bpd']:.3f}" + (" given y" if row.get("conditional") else "")
    return value if row.get("bound", "exact") in ("exact", "palette") else f"≤ {value}"


def format_model(row) -> str:
    if row.get("chapter") == "leaderboard":                            # one family, several seeds and budgets
        return f"{row['model']} (leaderboard, {row['label'] + ', ' if row.get('label') else ''}seed {row.get('seed', 0)})"
    named = [row["label"]] if row.get("label") else []
    named += [f"seed {row['seed']}"] if row.get("seed") else []        # a replicate; seed 0 is the main run
    return row["model"] + (f" ({', '.join(named)})" if named else "")


def format_paper(row) -> str:
    paper = row.get("paper")
    if not paper:
        return "—"
    return f"{paper['value']:.2f} ({paper['dataset']}) [{paper['cite']}]"


def test_images(row) -> str:
    """'10,000' when a run was scored on the whole test split, 'first 2,000' for a subset."""
    n = row.get("eval_images")
    if n is None:
        return "?"
    whole = row.get("test_split_images")
    if whole is None:
        try:
            whole = data.test_split_size(row["dataset"])
        except PixelbookError:
            whole = None
    if whole is None:                                                  # a split of unknown size: the count
        return f"{n:,}"
    return f"{n:,}" if n >= whole else f"first {n:,}"


def compact_device(device) -> str:
    """'cpu: AMD EPYC (2 threads)' -> '2 CPU threads'; a GPU keeps its name."""
    found = re.fullmatch(r"cpu: .*\((\d+) threads?\)", str(device or ""))
    if found:
        n = int(found.group(1))
        return f"{n} CPU thread{'' if n == 1 else 's'}"
    return str(device or "?")


def in_palette_space(row) -> bool:
    """An ImageGPT palette run: its bits are of the palette image, not the pixels, so the tables
    keep them out of the bpd column."""
    return row.get("bound") == "palette"


def cited_paper(row) -> str:
    paper = row.get("paper")
    return (f"{paper['value']:.2f} ({latex_escape(paper['dataset'])}) \\cite{{{paper['cite']}}}" if paper else "--")


def paper_field(key):
    return lambda r: (r.get("paper") or {}).get(key, "")


def curve_note(row) -> str:
    """'-0.012, flat' / '-0.035, improving': the held-out bits/dim the last quarter of training
    gained (:func:`curve_end`), and whether that meets the flattening rule; '—' without a curve."""
    end = curve_end(row)
    return "—" if end is None else f"{-end['gain']:+.3f}, {'flat' if end['flat'] else 'improving'}"


def wall_clock(row) -> str:
    return f"{row['wallclock_s'] / 60:.1f} min" if row.get("wallclock_s") is not None else "—"


def bpd_value(row) -> str:
    return "" if in_palette_space(row) else f"{row['test_bpd']:.5f}"


ONLY_CSV = ("csv",)
BPD_COLUMNS = [
    Column("model", format_model, raw=lambda r: r["model"]),
    Column("variant", lambda r: r.get("label") or "", forms=ONLY_CSV),
    Column("seed", lambda r: r.get("seed", 0), forms=ONLY_CSV),
    Column("conditional", lambda r: bool(r.get("conditional")), forms=ONLY_CSV),
    Column("dataset", lambda r: r["dataset"]),
    Column("profile", lambda r: r["profile"], forms=ONLY_CSV),
    Column("test bpd", format_bpd, csv="test_bpd", raw=bpd_value, align="r"),
    Column("bound", lambda r: r.get("bound", "exact"), forms=ONLY_CSV),
    Column("eval_images", lambda r: r.get("eval_images", ""), forms=ONLY_CSV),
    Column("test images", test_images, csv="test_images", align="r"),
    Column("train images", lambda r: f"{r.get('train_images', 0):,}", csv="train_images",
           raw=lambda r: r.get("train_images", ""), align="r"),
    Column("parameters", lambda r: f"{r['params']:,}" if r.get("params") is not None else "—", csv="params",
           raw=lambda r: r.get("params", ""), align="r"),
    Column("wall-clock", wall_clock, csv="wallclock_s", raw=lambda r: r.get("wallclock_s", ""), align="r"),
    Column("last quarter", curve_note, csv="last_quarter_gain_bpd",
           raw=lambda r: f"{curve_end(r)['gain']:.4f}" if curve_end(r) else "", align="r"),
    Column("device", lambda r: compact_device(r.get("device")), raw=lambda r: r.get("device", "")),
    Column("commit", lambda r: str(r.get("commit", "?"))[:7], raw=lambda r: r.get("commit", "")),
    Column("paper (its own dataset)", format_paper, tex=cited_paper, tex_header="paper", forms=("md", "tex")),
    Column("paper_bpd", paper_field("value"), forms=ONLY_CSV),
    Column("paper_dataset", paper_field("dataset"), forms=ONLY_CSV),
    Column("paper_cite", paper_field("cite"), forms=ONLY_CSV),
    Column("palette_bits_per_subpixel", lambda r: f"{r['test_bpd']:.5f}" if in_palette_space(r) else "",
           forms=ONLY_CSV),
]
# The palette runs' own table: their bits are not a bpd, and the paper column does not apply
PALETTE_COLUMNS = [Column("palette-space bits per sub-pixel (not a bpd)", format_bpd) if c.header == "test bpd" else c
                   for c in BPD_COLUMNS if "md" in c.forms and not c.header.startswith("paper")]


def markdown_table(rows) -> str:
    """One table (one profile's rows, or one chapter's), sorted by dataset and bits/dim; palette
    runs in a table of their own under it."""
    rows = sorted(rows, key=table_order)
    text = render([r for r in rows if not in_palette_space(r)], BPD_COLUMNS)
    palette = [r for r in rows if in_palette_space(r)]
    return text + ("\n" + render(palette, PALETTE_COLUMNS) if palette else "")


PROFILE_NOTES = {
    "cpu": "each chapter at its own budget (see the train-images column) on 2 CPU cores; budgets, sizes and "
           "test subsets differ between chapters, so these rows do not rank the families (the leaderboard "
           "chapter does)",
    "gpu": "each chapter's gpu-profile budget",
    "paper": "the papers' hyperparameters",
    "smoke": "CI's toy runs on bundled 8x8 digits: they show that every chapter runs, not how good a model is",
}


def markdown_tables(rows) -> str:
    """Every profile's table under its own heading, cpu first and smoke last."""
    parts = []
    for profile, found in by_profile(rows).items():
        note = PROFILE_NOTES.get(profile, "")
        parts.append(f"## `{profile}` profile\n\n{note[:1].upper() + note[1:]}.\n\n{markdown_table(found)}")
    return "\n".join(parts)


def csv_table(rows) -> str:
    return render(sorted(rows, key=table_order), BPD_COLUMNS, "csv")


def latex_escape(text) -> str:
    for plain, escaped in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("&", r"\&"), ("%", r"\%"), ("#", r"\#"),
                           ("≤", r"$\leq$")):
        text = str(text).replace(plain, escaped)
    return text


def latex_table(rows) -> str:
    """One booktabs tabular per profile (\\usepackage{booktabs}); the paper column cites references.bib.
    Palette runs are left out: they are not a bpd (see bpd.md)."""
    return "\n".join(f"% {profile} profile\n" + render([r for r in found if not in_palette_space(r)], BPD_COLUMNS, "tex")
                     for profile, found in by_profile(rows).items())


def write_tables(results_dir=None) -> list[dict]:
    results_dir = Path(results_dir or REPO / "results")
    rows = collect(results_dir)
    tables = results_dir / "tables"
    write_atomic(tables / "bpd.md", "# Test bits/dim of this book's runs\n\nOur numbers come from "
                 "`log_prob` on each dataset's real test split, on the images the test-images column "
                 "names (\"first 2,000\" is a subset); \"≤\" marks an upper bound. The last column is "
                 "the paper's number for the nearest model, on the paper's own dataset: context, not a "
                 "comparison. \"Last quarter\" is what the last quarter of training changed the held-out "
                 f"bits/dim by, and whether the run met the rule for a flat curve (a gain under {FLAT_BPD}); "
                 "\"—\" marks a run trained without a held-out curve.\n\n" + markdown_tables(rows))
    write_atomic(tables / "bpd.csv", csv_table(rows))
    write_atomic(tables / "bpd.tex", latex_table(rows))
    write_leaderboard(results_dir)
    return rows


# -- the leaderboard -----------------------------------------------------------------------------

def cpu_seconds(run) -> float:
    """Training seconds times the CPU threads it ran on (a GPU run counts its seconds)."""
    return run["wallclock_s"] * (run.get("threads") or 1)


def separated(better, worse) -> bool:
    """Do the seeds separate two sides (lists of test bits/dim, lower is better)? Every seed of
    ``better`` beats every seed of ``worse``, with at least 2 seeds a side, and 3 a side where the
    gap between the means is within twice the larger spread (max - min)."""
    if min(len(better), len(worse)) < 2 or max(better) >= min(worse):
        return False
    gap = sum(worse) / len(worse) - sum(better) / len(better)
    spread = max(max(side) - min(side) for side in (better, worse))
    return gap > 2 * spread or min(len(better), len(worse)) >= 3


def leaderboard(runs) -> list[dict]:
    """One row per family from the leaderboard's runs (one budget): each seed's test bpd, their
    mean and spread (max - min), parameters, training images/s and CPU-seconds; best mean first.
    ``rank`` is shared where the seeds do not separate a family from its rivals: it runs from 1 +
    the families that :func:`separated` puts ahead of it to N - those it puts behind ("2-3");
    ``separated_from_next`` says whether the seeds separate it from the next one."""
    families = {}
    for run in filter(complete, runs):
        families.setdefault(run["model"], []).append(run)
    rows = []
    for model, found in families.items():
        found = sorted(found, key=lambda r: r["seed"])
        values = [r["test_bpd"] for r in found]
        rows.append({"model": model, "params": found[0]["params"], "seeds": {r["seed"]: r["test_bpd"] for r in found},
                     "mean": sum(values) / len(values), "spread": max(values) - min(values),
                     "low": min(values), "high": max(values),
                     "images_per_s": sum(r["train_images"] / r["wallclock_s"] for r in found) / len(found),
                     "cpu_s": sum(cpu_seconds(r) for r in found), "eval_images": found[0]["eval_images"],
                     "train_images": found[0]["train_images"], "dataset": found[0]["dataset"],
                     "test_images": test_images(found[0]), "label": found[0].get("label")})
    rows.sort(key=lambda r: r["mean"])
    values = {r["model"]: list(r["seeds"].values()) for r in rows}
    for row in rows:
        ahead = sum(separated(values[o["model"]], values[row["model"]]) for o in rows)
        behind = sum(separated(values[row["model"]], values[o["model"]]) for o in rows)
        first, last = 1 + ahead, len(rows) - behind
        row["rank"] = str(first) if first == last else f"{first}–{last}"
    for better, worse in zip(rows, rows[1:]):
        better["separated_from_next"] = separated(values[better["model"]], values[worse["model"]])
    return rows


def seeds_cell(row) -> str:
    return ", ".join(f"{v:.3f} (seed {s})" for s, v in sorted(row["seeds"].items()))


LEADERBOARD_COLUMNS = [
    Column("budget", lambda r: r.get("label") or "", forms=ONLY_CSV),
    Column("rank", lambda r: r["rank"]), Column("model", lambda r: r["model"]),
    Column("dataset", lambda r: r["dataset"], forms=ONLY_CSV),
    Column("parameters", lambda r: f"{r['params']:,}", csv="params", raw=lambda r: r["params"], align="r"),
    Column("seeds", lambda r: " ".join(map(str, sorted(r["seeds"]))), forms=ONLY_CSV),
    Column("test bpd per seed", seeds_cell, csv="test_bpd_per_seed",
           raw=lambda r: " ".join(f"{v:.5f}" for _, v in sorted(r["seeds"].items()))),
    Column("mean", lambda r: f"{r['mean']:.3f}", csv="mean_bpd", raw=lambda r: f"{r['mean']:.5f}", align="r"),
    Column("spread (max - min)", lambda r: f"{r['spread']:.3f}" if len(r["seeds"]) > 1 else "— (1 seed)", csv="spread_bpd",
           raw=lambda r: f"{r['spread']:.5f}" if len(r["seeds"]) > 1 else "",
           align="r"),
    Column("separated from the next", lambda r: {True: "yes", False: "no"}.get(r.get("separated_from_next"), "—"),
           csv="separated_from_next", raw=lambda r: r.get("separated_from_next", "")),
    Column("test images", lambda r: r["test_images"], csv="eval_images", raw=lambda r: r["eval_images"]),
    Column("train images", lambda r: f"{r['train_images']:,}", csv="train_images", raw=lambda r: r["train_images"],
           align="r"),
    Column("images/s", lambda r: f"{r['images_per_s']:.0f}", csv="images_per_s", raw=lambda r: f"{r['images_per_s']:.1f}",
           align="r"),
    Column("CPU-min (all seeds)", lambda r: f"{r['cpu_s'] / 60:.1f}", csv="cpu_seconds", raw=lambda r: f"{r['cpu_s']:.0f}",
           align="r"),
]


def leaderboard_markdown(rows) -> str:
    return render(rows, LEADERBOARD_COLUMNS)


def budgets(runs) -> dict:
    """{budget label (None: the profile's own): its runs}, the profile's own budget first."""
    found = {}
    for run in runs:
        found.setdefault(run.get("label"), []).append(run)
    return dict(sorted(found.items(), key=lambda item: item[0] is not None))


def write_leaderboard(results_dir=None) -> list[str]:
    """results/tables/leaderboard-<profile>.{md,csv,tex} for every profile with a finished
    leaderboard: one table per budget, each run's training images in its heading."""
    results_dir = Path(results_dir or REPO / "results")
    written = []
    for folder in chapter_folders(results_dir, "leaderboard"):
        boards = {label: leaderboard(found) for label, found in budgets(landed_runs(folder)).items()}
        boards = {label: rows for label, rows in boards.items() if rows}
        if not boards:
            continue
        profile, tables = folder.parent.name, results_dir / "tables"
        first = next(iter(boards.values()))[0]
        text = (f"# Leaderboard, `{profile}` profile\n\nThe exact families on {first['dataset']}, the same data order, "
                f"optimizer, schedule and EMA rule, scored on {first['test_images']} test images. Best mean first; the "
                f"spread is max - min over the seeds; a shared rank (2–3) means the seeds do not separate the family "
                f"from a rival (every seed of one beats every seed of the other, with at least 2 seeds a side, 3 "
                f"where the gap is within twice the spread).\n")
        for label, rows in boards.items():
            text += f"\n## {rows[0]['train_images']:,} training images per run\n\n" + leaderboard_markdown(rows)
        write_atomic(tables / f"leaderboard-{profile}.md", text)
        rows = [r for found in boards.values() for r in found]
        write_atomic(tables / f"leaderboard-{profile}.csv", render(rows, LEADERBOARD_COLUMNS, "csv"))
        write_atomic(tables / f"leaderboard-{profile}.tex",
                     "\n".join(render(found, LEADERBOARD_COLUMNS, "tex") for found in boards.values()))
        written.append(profile)
    return written
