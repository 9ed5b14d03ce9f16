"""The claims ledger: verdicts computed from every seed, never from one run a side."""

import re

import pytest

from pixelbook import claims, results
from pixelbook.claims import Claim, Side
from pixelbook.storage import REPO


def run(model, bpd, seed, label=None, **extra):
    return {"model": model, "label": label, "seed": seed, "test_bpd": bpd, "train_images": 1000, **extra}


@pytest.mark.parametrize("better, worse, apart", [
    ([3.0, 3.1], [3.5, 3.6], True),              # gap 0.5 > 2 x spread 0.1: two seeds suffice
    ([3.0, 3.1], [3.15, 3.2], False),            # every seed beats, but the gap is within 2 x spread: needs 3
    ([3.0, 3.1, 3.05], [3.15, 3.2, 3.16], True),  # ... and with 3 seeds a side they do separate
    ([3.0, 3.2], [3.1, 3.3], False),             # overlapping seeds
    ([3.0], [4.0], False),                       # one seed a side never separates
])
def test_separated_needs_every_seed_and_enough_of_them(better, worse, apart):
    assert results.separated(better, worse) is apart


CLAIM = Claim("x", "a beats b", "vandenoord2016pixelrnn", "s1", Side("a"), Side("b"))


@pytest.mark.parametrize("runs, verdict", [
    ([run("a", 3.0, 0), run("a", 3.01, 1), run("b", 3.5, 0), run("b", 3.51, 1)], "reproduced"),
    ([run("a", 3.5, 0), run("a", 3.51, 1), run("b", 3.0, 0), run("b", 3.01, 1)], "contradicted"),
    ([run("a", 3.0, 0), run("a", 3.3, 1), run("b", 3.1, 0), run("b", 3.4, 1)], "not separated"),
    ([run("a", 3.0, 0), run("b", 3.5, 0)], "not tested"),                              # one seed a side
    ([run("a", 3.0, 0), run("a", 3.01, 1), run("b", 3.5, 0), run("b", 3.51, 1, partial=True)], "not tested"),
    ([run("a", 3.0, 0), run("a", 3.01, 1)], "not tested"),                             # no runs of b
])
def test_a_verdict_is_computed_from_every_finished_seed(runs, verdict):
    row = claims.verdict(CLAIM, runs)
    assert row["verdict"] == verdict
    if verdict != "not tested":
        assert row["seeds"] == "2 / 2" and "range" in row["evidence"] and row["budget"] == "1,000 training images"


def test_higher_is_better_and_the_second_budget():
    speed = Claim("x", "a trains faster", "vandenoord2016pixelrnn", "s", Side("a"), Side("b"), metric="images_per_s",
                  higher_is_better=True, budget="long")
    runs = [run("a", 3, s, "long", images_per_s=100 + s) for s in (0, 1)] + [
        run("b", 3, s, "long", images_per_s=10 + s) for s in (0, 1)] + [run("b", 3, s, images_per_s=1000) for s in (0, 1)]
    assert claims.verdict(speed, runs)["verdict"] == "reproduced"       # the short-budget b runs are not its
    assert claims.verdict(Claim(**{**speed.__dict__, "budget": None}), runs)["verdict"] == "not tested"


def test_the_probe_claims_read_each_seeds_probe_by_its_dotted_path():
    """iGPT's two probe claims compare two layers of the same runs, and two budgets of one model."""
    from pixelbook import analysis
    peak, loss = [c for c in claims.CLAIMS if c.chapter == "imagegpt" and not c.untested]

    def probed(seed, layers, label=None):
        rows = [{"features": "pixels", "dims": 4, "accuracy": 0.5}] + [
            {"features": f"layer {k + 1}", "dims": 2, "accuracy": a} for k, a in enumerate(layers)]
        still = [[0, 0, 0, 4.0], [1, 750, 0, 3.5], [2, 1000, 0, 3.4]]
        return run("igpt", 3.0, seed, label, probe=analysis.probe_summary(rows, 10, 10), curve=still)

    middle = [probed(0, [0.6, 0.8, 0.7]), probed(1, [0.61, 0.81, 0.71])]
    assert middle[0]["probe"]["middle"] == 0.8 and middle[0]["probe"]["best_layer"] == 2
    row = claims.verdict(peak, middle)
    assert row["verdict"] == "reproduced" and "probed at its last layer 70.5% (range 70.0%–71.0%" in row["evidence"]
    assert row["flat"] == "no (2 still improving)" and row["seeds"] == "2 / 2"           # each run counted once
    assert claims.verdict(peak, [probed(s, [0.6, 0.7, 0.8 + s / 100]) for s in (0, 1)])["verdict"] == "contradicted"
    short = [probed(s, [0.5, 0.6, 0.55], claims.SHORT) for s in (0, 1)]
    assert claims.verdict(loss, middle + short)["verdict"] == "reproduced"
    assert claims.verdict(loss, middle[:1] + short)["verdict"] == "not tested"          # one seed of the main run


def test_a_claim_about_overfitting_is_tested_only_where_the_worse_side_overfits():
    """Dropout 'prevents overfitting': a budget at which the run without it still improves held
    out has no overfitting to prevent, so a worse test bits/dim with dropout contradicts nothing."""
    dropout = next(c for c in claims.CLAIMS if c.about_overfitting)
    falling = [[0, 0, 0, 4.0], [1, 750, 0, 3.5], [2, 1000, 0, 3.4]]
    rising = [[0, 0, 0, 4.0], [1, 750, 0, 3.3], [2, 1000, 0, 3.4]]
    with_dropout = [run("pixelcnn_pp", 3.2 + s / 100, s, "dropout 0.5", curve=falling) for s in (0, 1)]
    for curve, verdict in ((falling, "not tested"), (rising, "reproduced"), (None, "not tested")):
        without = [run("pixelcnn_pp", 3.4 + s / 100, s, curve=curve) for s in (0, 1)]
        row = claims.verdict(dropout, with_dropout + without)
        assert row["verdict"] == verdict, (curve, row)
    assert "does not overfit at this budget: 2 of 2" in claims.verdict(
        dropout, with_dropout + [run("pixelcnn_pp", 3.0 + s / 100, s, curve=falling) for s in (0, 1)])["evidence"]
    assert results.overfits({"curve": rising}) and not results.overfits({"curve": falling})
    assert results.overfits({"curve": []}) is None


def test_a_curve_is_flat_when_its_last_quarter_gains_little():
    still = {"curve": [[0, 0, 0, 4.0], [1, 750, 0, 3.5], [2, 1000, 0, 3.4]]}
    flat = {"curve": [[0, 0, 0, 4.0], [1, 750, 0, 3.41], [2, 1000, 0, 3.40]]}
    assert not results.curve_end(still)["flat"] and results.curve_end(flat)["flat"]
    assert results.curve_end(still)["gain"] == pytest.approx(0.1) and results.curve_end({"curve": []}) is None
    runs = [run("a", 3.0, s, **flat) for s in (0, 1)] + [run("b", 3.5, s, **still) for s in (0, 1)]
    assert claims.verdict(CLAIM, runs)["flat"] == "no (2 still improving)"
    assert [results.curve_note(r) for r in (still, flat, {})] == ["-0.100, improving", "-0.010, flat", "—"]
    assert results.format_model(run("a", 3.0, 1, label="softmax")) == "a (softmax, seed 1)"
    assert results.format_model(run("a", 3.0, 0)) == "a"                 # seed 0: the chapter's main run


def test_every_claim_names_a_known_paper_and_chapter_and_says_why_when_untested():
    keys = set(re.findall(r"@\w+\{(\w+),", (REPO / "references.bib").read_text()))
    chapters = {p.stem for p in (REPO / "book").glob("*.md")}
    for claim in claims.CLAIMS:
        assert claim.paper in keys and claim.chapter in chapters, claim
        assert (claim.untested is None) == (claim.better is not None and claim.worse is not None), claim


def test_the_committed_ledger_has_no_verdict_on_fewer_than_two_seeds_a_side():
    for profile in ("cpu", "smoke"):
        for row in claims.ledger(profile):
            assert row["verdict"] in claims.VERDICTS
            if row["verdict"] != "not tested":
                assert min(int(n.split()[0]) for n in row["seeds"].split(" / ")) >= 2, row   # "2 / 2", "3 / 3 repeats"


def test_the_tables_write_the_ledger(tmp_path):
    written = claims.write_claims(REPO / "results", profiles=("smoke",), out=tmp_path)
    md, csv = (tmp_path / "claims-smoke.md").read_text(), (tmp_path / "claims-smoke.csv").read_text()
    assert len(written["smoke"]) == len(claims.CLAIMS) and (tmp_path / "claims-smoke.tex").is_file()
    assert csv.splitlines()[0] == "claim,paper,section,evidence,seeds_per_side,budget,curves_flat,verdict"
    assert md.count("\n| ") == len(claims.CLAIMS) + 1


@pytest.mark.parametrize("profile", ["smoke", "cpu"])
def test_every_run_a_claim_compares_is_declared_at_two_seeds_or_more(profile):
    """A verdict needs 2 seeds a side: ``profiles.chapter_runs`` declares each side of every
    tested claim at least twice (``Profile.seeds_of``; one seed only for runs no claim compares)."""
    from pixelbook import profiles
    for claim in claims.CLAIMS:
        if claim.untested or claim.timing or claim.budget and claim.budget != (profiles.get(claim.chapter, profile).second_budget
                                                              or (None,))[0]:
            continue                          # a benchmark's repeats, not runs; smoke's second budget is another
        for side in (claim.better, claim.worse):
            label = side.label if side.label is not None else claim.budget
            seeds = [spec.get("seed", 0) for spec in profiles.chapter_runs(claim.chapter, profile)
                     if spec["model"] == side.model and spec.get("label") == label]
            assert len(set(seeds)) >= 2, (claim.claim, side, profile)


def test_run_seeds_name_only_runs_the_chapter_declares_and_each_trains_at_its_seeds():
    from pixelbook import profiles
    for (chapter, profile), entry in profiles.ENTRIES.items():
        planned = profiles.chapter_runs(chapter, profile)
        declared = {(spec["model"], spec.get("label")) for spec in planned}
        assert set(entry.run_seeds) <= declared, (chapter, profile)
        for key, seeds in entry.run_seeds.items():
            assert [spec.get("seed", 0) for spec in planned if (spec["model"], spec.get("label")) == key] == list(seeds)


def test_the_ledger_stands_on_runs_landed_since_the_chapter_last_executed(tmp_path):
    """A chapter's folder records its last execution (``metrics.json``) and the runs the queue
    landed since (``finished_runs.json``): the newest training of each run counts, so seeds of a
    new budget replace the older one; a seed of an older budget beside a new one gives no verdict."""
    import json
    from pixelbook.errors import PixelbookError
    folder = tmp_path / "cpu" / "x"
    folder.mkdir(parents=True)
    old = lambda m, bpd, s: run(m, bpd, s, dataset="d", trained={"created": "2026-01-01"})
    new = lambda m, bpd, s: run(m, bpd, s, dataset="d", train_images=8000, trained={"created": "2026-02-01"})
    (folder / "metrics.json").write_text(json.dumps({"runs": [old("a", 3.9, 0), old("b", 3.0, 0), old("b", 3.01, 1)]}))
    landed = {"h1": new("a", 3.0, 0), "h2": new("a", 3.01, 1), "h3": new("b", 3.5, 0),
              "h4": {**new("b", 3.5, 1), "partial": True}}
    (folder / "finished_runs.json").write_text(json.dumps(landed))
    found = claims.chapter_runs(tmp_path, "cpu", "x")
    assert sorted((r["model"], r["seed"], r["train_images"]) for r in found) == [
        ("a", 0, 8000), ("a", 1, 8000), ("b", 0, 8000), ("b", 1, 1000)]         # the partial new b seed 1 is no run
    row = claims.verdict(CLAIM, found)
    assert row["verdict"] == "not tested" and "different budgets" in row["evidence"]
    landed["h4"].pop("partial")
    results.add_finished(folder, [{**landed["h4"], "plan_hash": "h4"}])   # how a worker or a device import lands one
    assert set(json.loads((folder / "finished_runs.json").read_text())) == {"h1", "h2", "h3", "h4"}
    assert claims.ledger("cpu", tmp_path, [CLAIM])[0]["verdict"] == "reproduced"
    assert [r["test_bpd"] for r in results.collect(tmp_path) if r["model"] == "a"] == [3.0, 3.01]
    for corrupt in ("{not json", "[]"):
        (folder / "finished_runs.json").write_text(corrupt)
        with pytest.raises(PixelbookError, match="finished_runs.json: not a readable list"):
            claims.chapter_runs(tmp_path, "cpu", "x")
        with pytest.raises(PixelbookError, match="finished_runs.json: not a readable list"):
            results.add_finished(folder, [{**landed["h1"], "plan_hash": "h1"}])   # never written over


def timed(family, *repeats, size="leaderboard", threads=1):
    return {"family": family, "size": size, "threads": threads, "batch": 64, "images_per_s": sorted(repeats)[len(repeats) // 2],
            "images_per_s_repeats": list(repeats)}


def test_a_timing_claim_stands_on_the_benchs_repeats_never_on_the_runs_images_per_s(tmp_path):
    """The training-speed claims compare ``bench train``'s repeated side-by-side timings (1 thread,
    leaderboard size) by the seeds' rule; the runs' own images/s, timed at other moments, do not count."""
    import json
    from pixelbook.errors import PixelbookError
    speed = next(c for c in claims.CLAIMS if c.timing and c.worse.model == "diagonal_bilstm" and c.better.model == "pixelcnn")
    fast_runs = [run("pixelcnn", 3.0, s, images_per_s=1000) for s in (0, 1)] + [
        run("diagonal_bilstm", 3.0, s, images_per_s=1) for s in (0, 1)]
    rows = [timed("pixelcnn", 140, 141, 139), timed("diagonal_bilstm", 120, 119, 121),
            timed("diagonal_bilstm", 999, 999, 999, threads=2), timed("pixelcnn", 1, 1, 1, size="pixelcnn cpu")]
    row = claims.verdict(speed, fast_runs, {"train": rows})
    assert row["verdict"] == "reproduced" and row["seeds"] == "3 / 3 repeats"
    assert "pixelcnn 140.0 (range 139.0–141.0, 3 repeats) images/s" in row["evidence"] and "a timing" in row["flat"]
    slower = [timed("pixelcnn", 110, 111, 109)] + rows[1:]
    assert claims.verdict(speed, fast_runs, {"train": slower})["verdict"] == "contradicted"
    assert claims.verdict(speed, fast_runs, {"train": [timed("pixelcnn", 140), rows[1]]})["verdict"] == "not tested"
    assert claims.verdict(speed, fast_runs, {})["verdict"] == "not tested"                              # no bench at all
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "train.json").write_text(json.dumps({"rows": rows, "device": "cpu: X (2 threads)",
                                                                 "created": "2026-12-04T20:00:00+00:00"}))
    assert [r["family"] for r in claims.timings("cpu", tmp_path)["train"]] == [r["family"] for r in rows]
    assert claims.timings("smoke", tmp_path) == {}                                                   # it times cpu sizes
    assert "on cpu: X (2 threads) (2026-12-04)" in claims.ledger("cpu", tmp_path, [speed])[0]["budget"]
    assert next(r for r in claims.ledger("cpu", tmp_path, [speed]))["verdict"] == "reproduced"
    (tmp_path / "bench" / "train.json").write_text("[1, 2]")
    with pytest.raises(PixelbookError, match="train.json: not a readable bench train file"):
        claims.timings("cpu", tmp_path)


def test_the_sampling_claims_compare_each_sides_repeats_in_its_benchmark_row():
    """The caching claims read bench sampling's PixelCNN++ rows at its chapter's size (28x28), the
    Pyramid's bench pyramid's rows at batch 1: each side's repeats, by the seeds' rule."""
    caching, batches = [c for c in claims.CLAIMS if c.timing == "sampling"]
    pyramid = next(c for c in claims.CLAIMS if c.timing == "pyramid")
    def row(model, batch, cached, naive, size=28):
        return {"model": model, "size": size, "batch": batch, "cached_s_repeats": cached, "naive_s_repeats": naive,
                "speedup_repeats": [n / c for n, c in zip(naive, cached)],
                **{f"{k}_ms_per_pixel_repeats": [1000 * t / 1024 for t in v] for k, v in (("cached", cached), ("naive", naive))}}
    sampling = [row(claims.PP_CPU, 1, [1.0, 1.1, 1.05], [15.0, 16.0]), row(claims.PP_CPU, 64, [2.0, 2.1, 2.2], [280.0, 290.0]),
                row(claims.PP_CPU, 1, [9.0, 9.0, 9.0], [1.0, 1.0], size=14), row("pixelcnn", 1, [9.0, 9.0], [1.0, 1.0])]
    first = claims.verdict(caching, [], {"sampling": sampling})
    assert first["verdict"] == "reproduced" and first["seeds"] == "3 / 2 repeats"
    assert "cpu size (batch 1, 28x28), cached, per batch 1.050 s (range 1.000 s–1.100 s, 3 repeats)" in first["evidence"]
    assert claims.verdict(batches, [], {"sampling": sampling})["verdict"] == "reproduced"
    sampling[1].update(naive_estimated=True, naive_pixels=37)                     # a naive run over its budget
    assert "(batch 64, 28x28) 139.0× (range 138.1×–140.0×, 2 repeats) (naive scaled up from its first 37 pixels)" in (
        claims.verdict(batches, [], {"sampling": sampling})["evidence"])
    assert "bench sampling, batch 1 / 64" in claims.verdict(batches, [], {"sampling": sampling})["budget"]
    flat = [sampling[0], row(claims.PP_CPU, 64, [2.0, 2.1, 2.2], [30.0, 33.0])]        # 15x against 14.5x: no gap
    assert claims.verdict(batches, [], {"sampling": flat})["verdict"] == "not separated"
    single = [row(claims.PP_CPU, 1, [1.0], [15.0])]
    assert "one timing a side: no verdict" in claims.verdict(caching, [], {"sampling": single})["evidence"]
    timed = [row("pixelcnn_pp", 1, [1.0, 1.0, 1.1], [16.0, 17.0], 32), row("pyramid_pixelcnn", 1, [0.9, 0.9, 1.0],
                                                                             [14.0, 14.5], 32)]
    result = claims.verdict(pyramid, [], {"pyramid": timed})
    assert result["verdict"] == "contradicted" and "pyramid_pixelcnn (batch 1), naive, per pixel 13.92 ms" in result["evidence"]
    assert claims.verdict(pyramid, [], {})["evidence"] == ("no bench pyramid timing of pyramid_pixelcnn (batch 1), "
                                                          "naive, per pixel and pixelcnn_pp (batch 1), cached, per pixel")


def test_bench_train_times_every_configuration_in_rounds():
    from pixelbook import bench
    result = bench.train_profile(["pixelcnn"], threads=(1,), seconds=0.01, progress=False, repeats=2)
    assert result["repeats"] == 2 and {r["size"] for r in result["rows"]} == {"leaderboard", "pixelcnn cpu"}
    for row in result["rows"]:
        assert len(row["images_per_s_repeats"]) == 2 and row["images_per_s"] > 0 and row["flops_per_image"] > 0
        assert row["images_per_s"] == pytest.approx(sum(row["images_per_s_repeats"]) / 2, abs=0.01)   # the median of 2
        assert row["top_ops"] and 0 < row["fraction_of_matmul"]
