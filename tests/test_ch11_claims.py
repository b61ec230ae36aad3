"""Chapter 11's sentences and the README's about it, held to what the code computes from the shipped files:
GPT-3 Table D.1 reproduced by 6ND, the rule that picks the held-out prediction's fit setting, the frontier's
composition, and the mapping task's log-prob and accuracy by size (data/results/family_eval.json)."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from gptedu import scaling as S
from gptedu.config import preset
from gptedu.model import count_params

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "11_scaling.ipynb"
README = ROOT / "README.md"


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def prose():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return flat(" ".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown"))


@pytest.fixture(scope="module")
def readme():
    return flat(README.read_text() + "\n" + (ROOT / "docs" / "results.md").read_text())  # the README and its results page


@pytest.fixture(scope="module")
def runs():
    return S.load_runs()


def test_table_d1_figure_is_the_measured_one_in_chapter_and_readme(prose, readme):
    worst = max(abs(S.pf_days(6 * count_params(preset(n)) * S.GPT3_TOKENS) / paper - 1)
                for n, paper in S.GPT3_TABLE_D1_PF_DAYS.items())
    pct = f"{worst:.1%}"
    assert pct == "0.3%"
    assert f"to within {pct} for all eight models" in prose and f"$D$ = 300B, within {pct}." in prose
    assert f"Table D.1's PF-days to within {pct} for all eight models" in readme
    assert f"(= Table D.1 within {pct})" in readme
    assert "within 3%" not in prose and "within 1%" not in prose


def test_the_rule_and_the_prediction_it_picks(prose, readme, runs):
    rule = S.choose_setting([r for r in runs if r.name != "1.4m"], "1.4m")
    assert rule["chosen"] == (1 / 10, False)
    mae = {k: f"{v:.3f}" for k, v in rule["mae"].items()}
    assert mae == {(1 / 30, True): "0.101", (1 / 30, False): "0.059", (1 / 10, True): "0.034", (1 / 10, False): "0.028"}
    chosen = S.predict_run(runs, "1.4m", 1 / 10, irreducible=False, n_boot=1000, seed=0)
    r = chosen.reveal(runs)
    lo, hi = chosen.interval
    assert r["inside"] and f"{chosen.predicted:.3f}" == "1.966" and f"{lo:.3f}–{hi:.3f}" == "1.900–1.999"
    assert f"{r['error']:+.3f}" == "+0.065" and f"{r['actual']:.3f}" == "1.901"
    assert [chosen.fit_runs.count(n) for n in ("13k", "38k", "113k", "389k")] == [12, 2, 1, 0]
    others = sorted(S.predict_run(runs, "1.4m", f, irreducible=c, n_boot=0).predicted - r["actual"]
                    for f, c in S.SETTINGS if (f, c) != rule["chosen"])
    assert [f"{e:+.3f}" for e in others] == ["+0.012", "+0.033", "+0.175"]
    primary30 = S.predict_run(runs, "1.4m", 1 / 30, irreducible=True, n_boot=0)
    assert [primary30.fit_runs.count(n) for n in ("13k", "38k")] == [12, 1]
    for text in (prose, readme):
        assert "1.966" in text and "1.900–1.999" in text and "+0.065" in text and "0.028" in text
        assert "12 of the 13k, 2 of the 38k, 1 of the 113k" in text
    assert "+0.012, +0.033 and +0.175" in readme
    assert "(mean 0.028), against 0.034 for the same limit with $c$ and 0.059 and 0.101" in prose


def test_frontier_composition(prose, readme, runs):
    C, L, who = S.curve_points(runs)
    keep = S.frontier(C, L)
    kept = [w for w, k in zip(who, keep) if k]
    assert len(kept) == 20 and kept.count("13k") == 12
    assert "12 of its 20 points" in prose and "12 of the frontier's 20 points" in prose
    assert "20 points, 12 of them the 13k run's own curve" in readme


def test_the_mapping_task_steps_in_log_prob_and_accuracy_together(prose, readme, runs):
    entries = json.loads((ROOT / "data" / "results" / "family_eval.json").read_text())["entries"]
    cap = S.capability_points(entries, "mapping", 8, runs)
    nlp = ", ".join(f"{v:.2f}" for v in cap["neg_logprob"])
    acc = [f"{a:g}" for a in cap["accuracy"]]
    assert nlp == "1.97, 1.67, 0.84, 0.74, 0.51" and acc == ["0", "0.085", "0.66", "0.65", "0.755"]
    slope = -np.diff(np.log(cap["neg_logprob"])) / np.diff(np.log(cap["compute"]))
    assert int(np.argmax(slope)) == 1 and slope[1] > 2 * np.delete(slope, 1).max()  # 38k -> 113k, the step
    assert int(np.argmax(np.diff(cap["accuracy"]))) == 1  # accuracy steps between the same two sizes
    assert ", ".join(f"{b:.2f}" for b in slope) in prose
    assert nlp in prose and nlp in readme and "accuracy 0, 0.085, 0.66, 0.65, 0.755" in readme
    assert "fell smoothly" not in prose and "FINDINGS" not in prose


def test_family_v2_law_and_missed_forecast(prose, readme):
    """Section 3's v2 subsection: the frontier exponent and its interval, the bend, and a forecast that every
    setting misses, as the v2 backtests warned (the numbers the prose quotes, recomputed from data/family_v2/)."""
    from gptedu.family import FAMILY_V2_DIR
    runs2, runs1 = S.load_runs(FAMILY_V2_DIR), S.load_runs()
    fits = {}
    for name, rs in (("v1", runs1), ("v2", runs2)):
        C, L, _ = S.curve_points(rs)
        keep = S.frontier(C, L)
        boot = S.bootstrap_fit(C[keep], L[keep], irreducible=False, n=1000, seed=0)["b"]
        fits[name] = (S.fit_power_law(C[keep], L[keep], irreducible=False).b, *S.interval(boot),
                      S.fit_power_law(C[keep], L[keep], irreducible=True).c)
    b2, lo2, hi2, c2 = fits["v2"]
    b1, lo1, hi1, _ = fits["v1"]
    assert lo2 <= lo1 and hi1 <= hi2  # "which contains v1's"
    assert f"$C^{{-{b2:.3f}}}$, 90% interval {lo2:.3f}–{hi2:.3f}, which contains v1's {b1:.3f} ({lo1:.3f}–{hi1:.3f})" in prose
    assert f"puts $c$ at {c2:.2f} nats" in prose
    rule = S.choose_setting(runs2, "793k")
    assert rule["chosen"] == (1 / 10, True)
    mae = sorted(rule["mae"].values())
    assert f"erred by {mae[0]:.3f} to {mae[-1]:.3f} nats on average" in prose
    preds = {s: S.predict_run(runs2, "793k", s[0], s[1], n_boot=1000, seed=0) for s in S.SETTINGS}
    assert not any(p.reveal(runs2)["inside"] for p in preds.values())
    assert min(abs(p.reveal(runs2)["error"]) for p in preds.values()) > 0.2  # "by more than 0.2 nats"
    chosen = preds[1 / 10, True]
    lo, hi = chosen.interval
    assert (f"predicted {chosen.predicted:.3f} ({lo:.3f}–{hi:.3f}), an error of "
            f"{chosen.reveal(runs2)['error']:+.3f}") in prose
    others = [f"{preds[s].reveal(runs2)['error']:+.3f}".replace("-", "−") for s in S.SETTINGS if s != (1 / 10, True)]
    assert f"erred by {others[0]}, {others[1]} and {others[2]}" in prose
    assert all(set(p.fit_runs) == {"6.6k", "25k"} for p in preds.values())  # "the two 2-layer runs alone"
    assert f"predicted {chosen.predicted:.3f} ({lo:.3f}–{hi:.3f}) for an actual {chosen.reveal(runs2)['actual']:.3f}" in readme
    assert f"exponent is {b2:.3f} (90% bootstrap {lo2:.3f}–{hi2:.3f}" in readme
    assert f"erred by {mae[0]:.3f}–{mae[-1]:.3f} nats on average" in readme
    floors = [f"{preds[f, True].fit.c:.2f}" for f in (1 / 30, 1 / 10)]
    assert f"find a floor ({floors[0]} and {floors[1]} nats)" in prose
