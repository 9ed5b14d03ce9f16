"""The claims ledger: each chapter's claims from its paper, as data, and verdicts computed from
the runs (``python -m pixelbook tables`` writes ``results/tables/claims-<profile>.{md,csv,tex}``).

A :class:`Claim` names the paper and its section, the two sides it compares (a model, and the
variant label of its runs), the metric and its direction. Its verdict comes from every finished
seed of both sides that the chapter's ``results/<profile>/<chapter>/`` stands on
(:func:`pixelbook.results.landed_runs`: its last execution's runs and those landed since):

- **reproduced**: the seeds separate the sides in the paper's direction
  (:func:`pixelbook.results.separated`: every seed of one beats every seed of the other, with at
  least 2 seeds a side, 3 where the gap is within twice the spread);
- **contradicted**: they separate them the other way;
- **not separated**: neither;
- **not tested**: fewer than 2 seeds a side, no runs at this profile, or a claim this book
  cannot test (its reason is given: a CIFAR-10-only number, say).

Every verdict carries the runs' training images, the seeds per side, each side's mean and
range, and whether every run's held-out curve flattened (:func:`pixelbook.results.curve_end`).
A claim about overfitting (``about_overfitting``) is tested only where the runs of its worse side
overfit (:func:`pixelbook.results.overfits`); elsewhere it is not tested, and the evidence says why.
A claim about speed (``timing``: the benchmark it reads) stands on a benchmark's rows instead
(``results/bench/<timing>.json``, :func:`pixelbook.results.read_bench`), each side one row picked
by its model and :attr:`Side.row`. ``bench train`` times every family at its leaderboard size and
one thread, in rounds that time them all in turn; the sampling benchmarks time the cached and the
naive sampler in rounds (:func:`pixelbook.bench.side_by_side`). A row's repeats count as seeds.
The images/s of the training runs themselves are no evidence: each run was timed at another
moment, beside another run on the other core. No verdict is written by hand.
"""

from dataclasses import dataclass
from pathlib import Path

from .storage import REPO
from .results import FLAT_BPD, Column, complete, curve_end, landed_runs, overfits, read_bench, separated, write_table


@dataclass(frozen=True)
class Side:
    model: str
    label: str | None = None          # the runs' variant label (None: the main runs)
    metric: str | None = None         # this side's own metric (two factors of one bound), else the claim's
    row: tuple = ()                   # a timing side: (key, value) pairs picking its benchmark row

    def describe(self) -> str:
        term = (f", its {self.metric.removeprefix('parts.')} term" if self.metric and self.metric.startswith("parts.")
                else f", {TERMS[self.metric]}" if self.metric else "")
        return self.model + (f" ({self.label})" if self.label else "") + term


# A side's own metric in words; "parts.<name>" reads "its <name> term"
TERMS = {"probe.middle": "probed at its best layer before the last", "probe.last": "probed at its last layer",
         "cached_s": "cached, per batch", "naive_s": "naive, per batch", "speedup": "speed-up of caching",
         "cached_ms_per_pixel": "cached, per pixel", "naive_ms_per_pixel": "naive, per pixel"}
# A timing side's row in ``bench train``: the family at its leaderboard size, one thread
LEADERBOARD_SIZE = (("size", "leaderboard"), ("threads", 1))


@dataclass(frozen=True)
class Claim:
    chapter: str                      # whose runs test it
    claim: str                        # in plain words
    paper: str                        # citation key in references.bib
    section: str
    better: Side | None = None        # the side the paper finds better
    worse: Side | None = None
    metric: str = "test_bpd"          # a run field, a dotted path into one: "parts.sketch" (a factor of a bound), "probe.best"
    higher_is_better: bool = False    # bits/dim: lower is better; images/s, accuracy: higher
    untested: str | None = None       # why the book cannot test it, for claims it lists but cannot test
    budget: str | None = None         # the leaderboard's second budget: the label of both sides' runs
    timing: str | None = None         # evidence: this benchmark's repeated timings ("train", "sampling"), not runs
    about_overfitting: bool = False   # tested only where the worse side's runs overfit (results.overfits)


VERDICTS = ("reproduced", "not separated", "contradicted", "not tested")
RULE = ("Separated: every seed of one side beats every seed of the other, with at least 2 seeds a side and 3 "
        "where the gap between the means is within twice the larger spread; a timing's repeats (every family "
        "timed in turn, in one process) count as its seeds. A curve is flat when the last "
        f"quarter of training improved held-out bits/dim by less than {FLAT_BPD}.")

PIXELRNN, GATED, PIXELCNN_PP = "vandenoord2016pixelrnn", "vandenoord2016conditional", "salimans2017pixelcnnpp"
FAST, AUXILIARY, IGPT = "ramachandran2017fast", "kolesnikov2017pixelcnn", "chen2020igpt"
# bench sampling's label of PixelCNN++ at its chapter's cpu size (``bench.sampling_models``), and a 28x28 row
PP_CPU, ROW_28 = "pixelcnn_pp, cpu size", (("size", 28),)
LONG = "240k images"                   # profiles: the cpu leaderboard's second budget
SHORT = "quarter budget"               # profiles: ImageGPT's twin of its main run, a quarter of its steps


def at_both_budgets(*claims) -> list[Claim]:
    """The leaderboard's claims at the profile's own budget and at its second one."""
    return [c for claim in claims for c in (claim, Claim(**{**claim.__dict__, "budget": LONG}))]


# Sections and numbers were checked against the papers' text where it was at hand (the PixelCNN++,
# auxiliary-variable and ImageGPT papers in full; the PixelRNN and Gated PixelCNN abstracts, and
# their CIFAR-10 numbers as the PixelCNN++ and auxiliary-variable papers' Table 1 quote them).
CLAIMS = [
    # -- the families, compared at equal budgets on the leaderboard ------------------------------
    *at_both_budgets(
        Claim("leaderboard", "The Diagonal BiLSTM models images better than the Row LSTM", PIXELRNN,
              "CIFAR-10 table (3.00 against 3.07)", Side("diagonal_bilstm"), Side("row_lstm")),
        Claim("leaderboard", "The Row LSTM models images better than the PixelCNN", PIXELRNN,
              "CIFAR-10 table (3.07 against 3.14)", Side("row_lstm"), Side("pixelcnn")),
        Claim("leaderboard", "The Diagonal BiLSTM models images better than the PixelCNN", PIXELRNN,
              "CIFAR-10 table (3.00 against 3.14)", Side("diagonal_bilstm"), Side("pixelcnn")),
        Claim("leaderboard", "Gated PixelCNN models images better than the PixelCNN (0.11 bits/dim on CIFAR-10)",
              GATED, "Table 1 (3.03 against 3.14)", Side("gated_pixelcnn"), Side("pixelcnn")),
        Claim("leaderboard", "PixelCNN++ models images better than the Gated PixelCNN", PIXELCNN_PP,
              "Table 1 (2.92 against 3.03)", Side("pixelcnn_pp"), Side("gated_pixelcnn")),
        Claim("leaderboard", "PixelCNN++ models images better than the PixelRNN (Diagonal BiLSTM)", PIXELCNN_PP,
              "Table 1 (2.92 against 3.00)", Side("pixelcnn_pp"), Side("diagonal_bilstm")),
    ),
    # -- training speed: timed side by side (bench train), each family at its leaderboard size, 1 thread --
    Claim("leaderboard", "The PixelCNN trains faster than the Row LSTM: all its conditionals in parallel",
          PIXELCNN_PP, "section 1", Side("pixelcnn", row=LEADERBOARD_SIZE), Side("row_lstm", row=LEADERBOARD_SIZE),
          metric="images_per_s", higher_is_better=True, timing="train"),
    Claim("leaderboard", "The PixelCNN trains faster than the Diagonal BiLSTM: all its conditionals in parallel",
          PIXELCNN_PP, "section 1", Side("pixelcnn", row=LEADERBOARD_SIZE),
          Side("diagonal_bilstm", row=LEADERBOARD_SIZE), metric="images_per_s", higher_is_better=True, timing="train"),
    Claim("leaderboard", "Gated PixelCNN costs far less compute than the PixelRNN (training images per second)",
          GATED, "abstract", Side("gated_pixelcnn", row=LEADERBOARD_SIZE),
          Side("diagonal_bilstm", row=LEADERBOARD_SIZE), metric="images_per_s", higher_is_better=True, timing="train"),
    Claim("pixelrnn", "Residual and skip connections, and depth up to 12 layers, lower the NLL", PIXELRNN,
          "section 5 (ablation tables)", untested="the book trains no such ablation, and the paper's tables "
                                                  "were not checked against its text here"),
    Claim("pixelrnn", "The absolute CIFAR-10 and ImageNet NLLs (3.00 on CIFAR-10; 3.86 and 3.63 on ImageNet)",
          PIXELRNN, "CIFAR-10 and ImageNet tables", untested="CIFAR-10 and ImageNet only: neither is here"),
    # -- the class label -------------------------------------------------------------------------
    Claim("gated_pixelcnn", "A class label does not lower test bits/dim: it makes overfitting harder to avoid "
                            "(2.94 given the class against 2.92), tested on the Gated PixelCNN",
          PIXELCNN_PP, "section 3.2", Side("gated_pixelcnn"), Side("gated_pixelcnn", "given y")),
    Claim("gated_pixelcnn", "The absolute CIFAR-10 and ImageNet numbers (3.03; 3.83 and 3.57)", GATED, "Table 1",
          untested="CIFAR-10 and ImageNet only"),
    # -- PixelCNN++: its ablations ----------------------------------------------------------------
    Claim("pixelcnn_pp", "Without the short-cut connections the model fails to train", PIXELCNN_PP,
          "section 3.4.2, Figure 7", Side("pixelcnn_pp"), Side("pixelcnn_pp", "no shortcuts")),
    Claim("pixelcnn_pp", "The discretized logistic mixture trains faster than a 256-way softmax (better at equal steps)",
          PIXELCNN_PP, "sections 2.1, 3.4.1, Figure 6", Side("pixelcnn_pp"), Side("pixelcnn_pp", "softmax")),
    Claim("pixelcnn_pp", "Dropout prevents overfitting (without it: train below 2.0, test above 6.0)", PIXELCNN_PP,
          "section 3.4.3, Figure 8", Side("pixelcnn_pp", "dropout 0.5"), Side("pixelcnn_pp"), about_overfitting=True),
    Claim("pixelcnn_pp", "Downsampling performs as well as dilated convolutions", PIXELCNN_PP, "section 2.3",
          untested="the book builds no dilated variant; its single-resolution ablation also cuts depth"),
    Claim("pixelcnn_pp", "A small receptive field attains competitive likelihood, with samples lacking global "
                         "structure", PIXELCNN_PP, "section 3.3, Table 2", untested="no receptive-field ablation here"),
    # -- Fast PixelCNN++ --------------------------------------------------------------------------
    # bench sampling: untrained models (a sampler's cost does not depend on the weights), PixelCNN++
    # at its chapter's cpu size and the middle image size, 28x28
    Claim("fast_sampling", "Caching hidden states speeds sampling up (up to 183x for PixelCNN++): here at batch 1",
          FAST, "abstract, README", Side(PP_CPU, "batch 1, 28x28", "cached_s", ROW_28 + (("batch", 1),)),
          Side(PP_CPU, "batch 1, 28x28", "naive_s", ROW_28 + (("batch", 1),)), metric="cached_s", timing="sampling"),
    Claim("fast_sampling", "Caching speeds sampling up more at larger batches", FAST, "abstract, README",
          Side(PP_CPU, "batch 64, 28x28", row=ROW_28 + (("batch", 64),)),
          Side(PP_CPU, "batch 1, 28x28", row=ROW_28 + (("batch", 1),)), metric="speedup", higher_is_better=True,
          timing="sampling"),
    # -- Kolesnikov & Lampert: the auxiliary variables ---------------------------------------------
    Claim("auxiliary", "The grey sketch costs far fewer bits than the colour details (0.459 against 2.52)", AUXILIARY,
          "section 4.1", Side("grayscale_pixelcnn", metric="parts.sketch"),
          Side("grayscale_pixelcnn", metric="parts.detail")),
    Claim("auxiliary", "Combining both auxiliary variables (a grey base for the Pyramid) is left to future work; "
                       "here: does the grey base help?", AUXILIARY, "section 5",
          Side("pyramid_pixelcnn", "colour grey base"), Side("pyramid_pixelcnn", "colour")),
    Claim("auxiliary", "The uncached Pyramid PixelCNN samples about 12x faster per pixel than PixelCNN++ with caching "
                       "(0.004 against 0.05 s): here at batch 1, 32x32, untrained", AUXILIARY, "section 4.2",
          Side("pyramid_pixelcnn", "batch 1", "naive_ms_per_pixel", (("batch", 1),)),
          Side("pixelcnn_pp", "batch 1", "cached_ms_per_pixel", (("batch", 1),)), metric="naive_ms_per_pixel",
          timing="pyramid"),
    Claim("auxiliary", "The sketch gives samples a strongly coherent global structure", AUXILIARY, "section 4.1, Figure 2",
          untested="a judgement of samples, not a number"),
    Claim("auxiliary", "The CIFAR-10 bounds (Grayscale 2.98, Pyramid 3.32) and CelebA's per-resolution scores",
          AUXILIARY, "Tables 1 and 2", untested="CIFAR-10 and CelebA only"),
    # -- ImageGPT ---------------------------------------------------------------------------------
    Claim("imagegpt", "Linear-probe accuracy peaks in the middle of the network, not at the last layer", IGPT,
          "section 4.1, Figure 2", Side("igpt", metric="probe.middle"), Side("igpt", metric="probe.last"),
          metric="probe.middle", higher_is_better=True),
    Claim("imagegpt", "Lower generative loss goes with higher probe accuracy: here, the same model trained on four "
                      "times the images probes better at its best layer", IGPT, "section 4.2, Figure 3",
          Side("igpt"), Side("igpt", SHORT), metric="probe.best", higher_is_better=True),
    Claim("imagegpt", "The CIFAR-10 linear probe of 96.3% (iGPT-L)", IGPT, "Table 1",
          untested="CIFAR-10 and a model thousands of times larger"),
]


def of(chapter) -> list[Claim]:
    """The claims a chapter's runs test (and those it lists as untested)."""
    return [c for c in CLAIMS if c.chapter == chapter]


def chapter_runs(results_dir, profile, chapter) -> list[dict]:
    """The finished runs a chapter stands on at ``profile`` (:func:`pixelbook.results.landed_runs`:
    its last execution's and those landed since; [] when there are none)."""
    return landed_runs(Path(results_dir) / profile / chapter)


def value(run, metric):
    """A run's ``metric``: a field, or a dotted path into one (``parts.sketch``, ``probe.best``)."""
    for key in metric.split("."):
        run = run.get(key) if isinstance(run, dict) else None
    return run


def timings(profile, results_dir=None, claims=None) -> dict:
    """{benchmark: its rows}: the evidence of the timing claims (:attr:`Claim.timing`) at the
    ``cpu`` profile, whose sizes the benchmarks time, each row with the machine and the day that
    measured it; {} at another profile, a benchmark without a file left out."""
    timed = {}
    for what in sorted({c.timing for c in claims or CLAIMS if c.timing}) if profile == "cpu" else ():
        bench = read_bench(what, results_dir)
        if bench is not None:
            timed[what] = [{**row, "measured_on": bench.get("device", "?"), "measured": str(bench.get("created", "?"))[:10]}
                           for row in bench["rows"] if isinstance(row, dict)]
    return timed


def timing_row(rows, side: Side) -> dict | None:
    """The benchmark row of a timing side: its model (or family) and every pair of :attr:`Side.row`."""
    return next((r for r in rows if (r.get("model") or r.get("family")) == side.model and not r.get("skipped")
                 and all(r.get(k) == v for k, v in side.row)), None)


def scaled(row, metric) -> str:
    """A note where a side's figure stands on a naive run that drew only its first pixels."""
    naive = metric.startswith("naive") or metric == "speedup"
    return (f" (naive scaled up from its first {row['naive_pixels']:,} pixels)"
            if naive and row.get("naive_estimated") else "")


def timing_verdict(claim: Claim, rows, row) -> dict:
    """A timing claim's row: each side's repeats in its benchmark row, by the seeds' rule."""
    sides = (("better", claim.better), ("worse", claim.worse))
    found = {name: timing_row(rows, side) for name, side in sides}
    metrics = {name: side.metric or claim.metric for name, side in sides}
    missing = [side.describe() for name, side in sides if found[name] is None]
    if missing:
        return {**row, "evidence": f"no bench {claim.timing} timing of {' and '.join(missing)}"}
    values = {name: r.get(f"{metrics[name]}_repeats") or [r[metrics[name]]] for name, r in found.items()}
    row["evidence"] = "; ".join(f"{side.describe()} {summary(values[name], metrics[name], 'repeat')}"
                                f"{UNITS.get(metrics[name], '')}{scaled(found[name], metrics[name])}"
                                for name, side in sides)
    better = found["better"]
    threads = f", {better['threads']} thread{'s' * (better['threads'] > 1)}" if "threads" in better else ""
    batches = " / ".join(str(b) for b in sorted({r["batch"] for r in found.values()}))
    row.update(budget=f"bench {claim.timing}, batch {batches}{threads}, on {better.get('measured_on', '?')} "
                      f"({better.get('measured', '?')})", flat="— (a timing)",
               seeds=f"{len(values['better'])} / {len(values['worse'])} repeats")
    if min(len(v) for v in values.values()) < 2:
        return {**row, "evidence": row["evidence"] + " (one timing a side: no verdict)"}
    return {**row, "verdict": compare(claim, values["better"], values["worse"])}


def compare(claim, better, worse) -> str:
    """reproduced, contradicted or not separated: :func:`pixelbook.results.separated` either way."""
    sign = -1 if claim.higher_is_better else 1                   # separated() reads lower as better
    good, bad = [sign * v for v in better], [sign * v for v in worse]
    return "reproduced" if separated(good, bad) else "contradicted" if separated(bad, good) else "not separated"


def verdict(claim: Claim, runs, timed=None) -> dict:
    """One ledger row: the claim, its evidence and its computed verdict (module docstring), from the
    chapter's ``runs``, or for a timing claim from ``timed`` ({benchmark: rows}, :func:`timings`)."""
    row = {"chapter": claim.chapter, "claim": claim.claim, "paper": claim.paper, "section": claim.section,
           "better": claim.better.describe() if claim.better else "", "worse": claim.worse.describe() if claim.worse else "",
           "metric": claim.metric, "budget": "", "seeds": "", "evidence": "", "flat": "", "verdict": "not tested"}
    if claim.untested:
        return {**row, "evidence": claim.untested}
    if claim.timing:
        return timing_verdict(claim, (timed or {}).get(claim.timing, []), row)
    runs = [r for r in runs if complete(r)]                            # a partial run is no evidence
    sides = {}
    metrics = {name: side.metric or claim.metric for name, side in (("better", claim.better), ("worse", claim.worse))}
    for name, side in (("better", claim.better), ("worse", claim.worse)):
        label = side.label if side.label is not None else claim.budget
        sides[name] = sorted((r for r in runs if r["model"] == side.model and (r.get("label") or None) == label
                              and value(r, metrics[name]) is not None), key=lambda r: r.get("seed", 0))
    better, worse = sides["better"], sides["worse"]
    if not better or not worse:
        return {**row, "budget": claim.budget or "", "evidence": "no finished runs of " + " and ".join(
            s.describe() for s, found in ((claim.better, better), (claim.worse, worse)) if not found)
            + (f" at the {claim.budget} budget yet" if claim.budget else " at this profile")}
    images = sorted({r.get("train_images") for r in better + worse})
    row["budget"] = " / ".join(f"{n:,}" for n in images if n) + " training images"
    row["seeds"] = f"{len(better)} / {len(worse)}"
    values = {name: [value(r, metrics[name]) for r in found] for name, found in sides.items()}
    row["evidence"] = "; ".join(f"{side.describe()} {summary(values[name], claim.metric)}"
                                for name, side in (("better", claim.better), ("worse", claim.worse)))
    ends = [curve_end(r) for r in {id(r): r for r in better + worse}.values()]   # two metrics of one run: once
    row["flat"] = ("no curve" if any(e is None for e in ends) else
                   "yes" if all(e["flat"] for e in ends) else f"no ({sum(not e['flat'] for e in ends)} still improving)")
    mixed = [side.describe() for side, found in ((claim.better, better), (claim.worse, worse))
             if len({r.get("train_images") for r in found}) > 1]
    if mixed:                                       # a run landed at a new budget beside an older seed
        return {**row, "verdict": "not tested",
                "evidence": row["evidence"] + f" (the seeds of {' and '.join(mixed)} trained at different budgets: no verdict)"}
    if min(len(better), len(worse)) < 2:
        return {**row, "verdict": "not tested",
                "evidence": row["evidence"] + " (fewer than 2 seeds a side: no verdict)"}
    fitted = [overfits(r) for r in worse] if claim.about_overfitting else []
    if not all(fitted):                             # a claim about overfitting where the runs show none
        return {**row, "verdict": "not tested", "evidence": row["evidence"] + (
            f" ({claim.worse.describe()}: a run without a held-out curve, so no sign of overfitting: no verdict)"
            if None in fitted else
            f" ({claim.worse.describe()} does not overfit at this budget: {fitted.count(False)} of {len(worse)} "
            f"held-out curves end within {FLAT_BPD} of their lowest point, so there is no overfitting to prevent: "
            f"no verdict)")}
    return {**row, "verdict": compare(claim, values["better"], values["worse"])}


# How a metric's values print (bits/dim, the default: 3 decimals), and a unit after a side's summary
FORMATS = {"images_per_s": "{:.1f}", "speedup": "{:.1f}×", "cached_s": "{:.3f} s", "naive_s": "{:.2f} s",
           "cached_ms_per_pixel": "{:.3f} ms", "naive_ms_per_pixel": "{:.2f} ms"}
UNITS = {"images_per_s": " images/s"}


def summary(values, metric, unit="seed") -> str:
    shown = "{:.1%}" if metric.startswith("probe.") else FORMATS.get(metric, "{:.3f}")
    mean = sum(values) / len(values)
    seeds = f"{len(values)} {unit}{'s' * (len(values) > 1)}"
    if len(values) == 1:
        return f"{shown.format(mean)} ({seeds})"
    return f"{shown.format(mean)} (range {shown.format(min(values))}–{shown.format(max(values))}, {seeds})"


def ledger(profile="cpu", results_dir=None, claims=CLAIMS) -> list[dict]:
    """Every claim's row at ``profile``, in declaration order."""
    results_dir = Path(results_dir or REPO / "results")
    cache, timed = {}, timings(profile, results_dir, claims)
    rows = []
    for claim in claims:
        if claim.chapter not in cache:
            cache[claim.chapter] = chapter_runs(results_dir, profile, claim.chapter)
        rows.append(verdict(claim, cache[claim.chapter], timed))
    return rows


CLAIM_COLUMNS = [
    Column("claim", lambda r: r["claim"]), Column("paper", lambda r: r["paper"]),
    Column("section", lambda r: r["section"]), Column("our evidence", lambda r: r["evidence"], csv="evidence"),
    Column("seeds per side", lambda r: r["seeds"], csv="seeds_per_side"),
    Column("budget", lambda r: r["budget"]), Column("curves flat", lambda r: r["flat"], csv="curves_flat"),
    Column("verdict", lambda r: f"**{r['verdict']}**", raw=lambda r: r["verdict"]),
]


def write_claims(results_dir=None, profiles=("cpu", "smoke"), out=None) -> dict:
    """results/tables/claims-<profile>.{md,csv,tex}: the claims ledger (``pixelbook.claims``)."""
    results_dir = Path(results_dir or REPO / "results")
    written = {}
    for profile in profiles:
        rows = ledger(profile, results_dir)
        counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}
        heading = (f"# Claims ledger, `{profile}` profile\n\nEach paper's claims, and the verdict computed from "
                   f"every finished seed of the runs that test them: " + ", ".join(f"{n} {v}" for v, n in counts.items())
                   + f". {RULE}\n\n")
        write_table(Path(out or results_dir / "tables") / f"claims-{profile}", rows, CLAIM_COLUMNS, heading)
        written[profile] = rows
    return written
