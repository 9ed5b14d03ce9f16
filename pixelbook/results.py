"""The bpd tables: every committed run's numbers, regenerated from ``results/*/*/metrics.json``
as Markdown, CSV and LaTeX (``python -m pixelbook tables``). The reporting layer: it reads what
the runs wrote and imports nothing that trains."""

import json
from pathlib import Path

from .errors import PixelbookError
from .files import REPO, device_name, write_atomic  # noqa: F401  (device_name: the chapters' figure titles)


# -- the bpd tables ------------------------------------------------------------------------------

COLUMNS = ["model", "dataset", "profile", "test bpd", "train images", "wall-clock", "device", "commit",
           "paper (its own dataset)"]


def collect(results_dir=None) -> list[dict]:
    """One row per run in every ``results/<profile>/<chapter>/metrics.json``."""
    results_dir = Path(results_dir or REPO / "results")
    rows = []
    for path in sorted(results_dir.glob("*/*/metrics.json")):
        try:
            metrics = json.loads(path.read_text())
            rows += [table_row(run, metrics) for run in metrics.get("runs", [])]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise PixelbookError(f"{path}: not a readable metrics file ({type(e).__name__}: {e}); "
                                 f"rerun its chapter") from None
    return sorted(rows, key=table_order)


def table_order(row):
    from .profiles import PROFILES
    rank = PROFILES.index(row["profile"]) if row["profile"] in PROFILES else len(PROFILES)
    return row["model"], row.get("label") or "", row["dataset"], rank


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
    return row["model"] + (f" ({row['label']})" if row.get("label") else "")


def format_paper(row) -> str:
    paper = row.get("paper")
    if not paper:
        return "—"
    return f"{paper['value']:.2f} ({paper['dataset']}) [{paper['cite']}]"


def table_cells(row) -> list[str]:
    wall = row.get("wallclock_s")
    return [format_model(row), row["dataset"], row["profile"], format_bpd(row), f"{row.get('train_images', 0):,}",
            f"{wall / 60:.1f} min" if wall is not None else "—", str(row.get("device", "?")),
            str(row.get("commit", "?"))[:7], format_paper(row)]


def in_palette_space(row) -> bool:
    """An ImageGPT palette run: its bits are of the palette image, not the pixels, so the tables
    keep them out of the bpd column."""
    return row.get("bound") == "palette"


def markdown_table(rows) -> str:
    pixels = [r for r in rows if not in_palette_space(r)]
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(table_cells(r)) + " |" for r in pixels]
    palette = [r for r in rows if in_palette_space(r)]
    if palette:
        head = ["model", "dataset", "profile", "palette-space bits per sub-pixel (not a bpd)", "train images",
                "wall-clock", "device", "commit"]
        lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(table_cells(r)[:8]) + " |" for r in palette]
    return "\n".join(lines) + "\n"


def csv_table(rows) -> str:
    import csv
    import io
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "variant", "conditional", "dataset", "profile", "test_bpd", "bound", "eval_images",
                     "train_images",
                     "wallclock_s", "device", "commit", "paper_bpd", "paper_dataset", "paper_cite",
                     "palette_bits_per_subpixel"])
    for r in rows:
        paper = r.get("paper") or {}
        value = f"{r['test_bpd']:.5f}"
        bpd, palette = ("", value) if in_palette_space(r) else (value, "")
        writer.writerow([r["model"], r.get("label") or "", bool(r.get("conditional")), r["dataset"], r["profile"],
                         bpd, r.get("bound", "exact"),
                         r.get("eval_images", ""), r.get("train_images", ""), r.get("wallclock_s", ""),
                         r.get("device", ""), r.get("commit", ""), paper.get("value", ""), paper.get("dataset", ""),
                         paper.get("cite", ""), palette])
    return buffer.getvalue()


def latex_escape(text) -> str:
    for plain, escaped in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("&", r"\&"), ("%", r"\%"), ("#", r"\#"),
                           ("≤", r"$\leq$")):
        text = str(text).replace(plain, escaped)
    return text


def latex_table(rows) -> str:
    """A booktabs tabular (\\usepackage{booktabs}); the paper column cites references.bib."""
    head = ["model", "dataset", "profile", "test bpd", "train images", "wall-clock", "device", "commit", "paper"]
    lines = [r"\begin{tabular}{lllrrrlll}", r"\toprule", " & ".join(head) + r" \\", r"\midrule"]
    for r in rows:
        if in_palette_space(r):                                       # not a bpd; see bpd.md
            continue
        cells = table_cells(r)
        paper = r.get("paper")
        cited = (f"{paper['value']:.2f} ({latex_escape(paper['dataset'])}) \\cite{{{paper['cite']}}}"
                 if paper else "--")
        lines.append(" & ".join(latex_escape(c) for c in cells[:8]) + f" & {cited}" + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def write_tables(results_dir=None) -> list[dict]:
    results_dir = Path(results_dir or REPO / "results")
    rows = collect(results_dir)
    tables = results_dir / "tables"
    write_atomic(tables / "bpd.md", "# Test bits/dim of this book's runs\n\nOur numbers come from "
                 "`log_prob` on each dataset's real test split; \"≤\" marks an upper bound. The last column is "
                 "the paper's number for the nearest model, on the paper's own dataset: context, not a "
                 "comparison.\n\n" + markdown_table(rows))
    write_atomic(tables / "bpd.csv", csv_table(rows))
    write_atomic(tables / "bpd.tex", latex_table(rows))
    return rows
