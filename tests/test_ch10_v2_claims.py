"""Chapter 10's sentences about family v2 and the task-diversity transition are the shipped results' numbers.

Sections 5 and 6 (and the summary) quote data/results/family_v2_eval.json, data/family_v2/*.json and
data/results/task_diversity.json; each number below is recomputed from those files and must appear in the
chapter's prose as written, and each qualitative claim ("beyond the intervals", "0 at every size") is checked.
"""
import json
from pathlib import Path

import pytest

from gptedu.experiments import rule_results as RR
from gptedu.family import FAMILY_V2_DIR, SIZES_V2

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "10_gpt3_in_context_learning.ipynb"
EV = RR.load_eval()
KS = EV["settings"]["ks"]
MAIN = {s: {k: RR.pooled(EV, s, RR.HELD_LETTERS, k) for k in KS} for s in SIZES_V2}
BIG = {("all" if r["unbounded"] else r["n_tasks"]): r["scores"] for r in RR.load_transition(shape=(4, 128))}
SMALL = {("all" if r["unbounded"] else r["n_tasks"]): r["scores"] for r in RR.load_transition(shape=(3, 96))}


def prose() -> str:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return " ".join(" ".join("".join(c["source"]).split()) for c in cells if c["cell_type"] == "markdown")


TEXT = prose()


def said(*numbers: str) -> None:
    for n in numbers:
        assert n in TEXT, f"chapter 10 does not say {n!r}"


def test_the_main_panel_rises_with_k_and_size_and_has_nothing_to_copy():
    assert all(MAIN[s][k]["copier"] == 0 for s in SIZES_V2 for k in KS)
    for size in ("312k", "793k"):
        assert RR.apart(MAIN[size][1], MAIN[size][8])
        said(f"{MAIN[size][1]['accuracy']:.3f}", f"{MAIN[size][8]['accuracy']:.3f}")
    assert RR.apart(MAIN["312k"][8], MAIN["793k"][8])
    assert all(MAIN[s][k]["accuracy"] == 0 for s in ("6.6k", "25k", "85k") for k in KS)
    said("The three smaller sizes score 0 at every K")


def test_where_the_largest_rises_and_where_it_is_level():
    m = MAIN["793k"]
    assert RR.apart(m[1], m[2]) and RR.apart(m[2], m[4])
    assert not RR.apart(m[4], m[8]) and not RR.apart(m[8], m[16]) and not RR.apart(m[16], m[8])
    said(f"({m[4]['accuracy']:.3f}, {m[8]['accuracy']:.3f}, {m[16]['accuracy']:.3f})",
         f"312k falls back at K = 16 ({MAIN['312k'][16]['accuracy']:.3f})")


def test_other_held_out_conditions():
    trained, held = RR.pooled(EV, "793k", RR.TRAINED_LETTERS, 8), MAIN["793k"][8]
    new = {s: RR.pooled(EV, s, RR.NEW_RULES, 8) for s in ("312k", "793k")}
    said(f"793k scores {trained['accuracy']:.3f}", f"{held['accuracy']:.3f} with the four",
         f"{new['793k']['accuracy']:.3f} for 793k and {new['312k']['accuracy']:.3f}")
    assert all(RR.pooled(EV, s, RR.FORMAT_CONDITIONS, k)["accuracy"] == 0 for s in SIZES_V2 for k in KS)
    said("0 at every size. What the models infer is the rule within the trained line format")


def test_the_probe_numbers():
    end = {s: json.loads((FAMILY_V2_DIR / f"{s}.json").read_text())["probe"][-1]["score"] for s in SIZES_V2}
    said(f"{end['6.6k']:.2f} nats at the end of training for 6.6k, {end['793k']:.2f} for 793k")
    assert list(end.values()) == sorted(end.values())


@pytest.mark.parametrize("n_tasks", [1, 4, 16])
def test_few_task_streams_are_memorised_and_infer_nothing(n_tasks):
    s = BIG[n_tasks]
    assert s["seen"]["8"]["accuracy"] >= 0.9
    assert s["unseen_parameters"]["8"]["accuracy"] == 0 and s["new_rule"]["8"]["accuracy"] == 0


def test_the_transition_at_4x128():
    u = {n: BIG[n]["unseen_parameters"]["8"] for n in BIG}
    r = {n: BIG[n]["new_rule"]["8"] for n in BIG}
    assert RR.apart(u[16], u[64]) and RR.apart(u[64], u["all"]) and RR.apart(r[16], r[64]) and RR.apart(r[64], r["all"])
    said(f"held-out letters {u[64]['accuracy']:.2f}, new rules {r[64]['accuracy']:.2f}",
         f"({u['all']['accuracy']:.2f} and {r['all']['accuracy']:.2f}, beyond 64's)",
         f"fall from {BIG[1]['seen']['8']['accuracy']:.2f} to {BIG['all']['seen']['8']['accuracy']:.2f}",
         f"0.93 with 16" if f"{BIG[16]['seen']['8']['accuracy']:.2f}" == "0.93" else "(16 tasks changed)")


def test_3x96_never_infers():
    worst = max(SMALL[n]["unseen_parameters"]["8"]["accuracy"] for n in SMALL)
    top = max(SMALL[n]["unseen_parameters"]["8"]["ci95"][1] for n in SMALL)
    said(f"held-out letters at most {worst:.2f}, its interval reaching {top:.2f}",
         f"({SMALL['all']['seen']['8']['accuracy']:.2f})")


def test_section_4s_heldout_tasks_on_v2():
    """The v2 held-out paragraph: first_letter inferred (some answers not copyable), nothing outside the rule
    families, drop_at never learned, the mapping's lookup lost, insertion carried to longer words in part."""
    held = json.loads((ROOT / "data" / "results" / "heldout_tasks.json").read_text())
    h2, h1 = held["heldout_v2"], held["heldout"]
    assert h2["family"] == "v2" and h2["block"] == 512 and set(h2["checkpoints"]) == set(SIZES_V2)
    pt = lambda size, task, k: h2["points"][f"{size}/{task}/{k}"]  # noqa: E731
    ks = lambda task: h2["tasks"][task]["ks"]  # noqa: E731
    first = {k: pt("793k", "first_letter", k) for k in (1, 8, 12)}
    assert first[1]["correct"] == 0 and first[12]["ci95"][0] > first[1]["ci95"][1]
    results_page = " ".join((ROOT / "docs" / "results.md").read_text().split())
    assert (f"0 → {first[12]['correct']} of 200 from K = 1 to 12, {first[8]['correct_not_copyable']} of its "
            f"{first[8]['correct']} right answers at K = 8") in results_page
    said(f"from 0 right at K = 1 to {first[12]['correct']} of 200 at K = 12",
         f"at K = 8, {first[8]['correct_not_copyable']} of its {first[8]['correct']} right answers had no")
    rising = [s for s in SIZES_V2 if any(pt(s, "first_letter", b)["ci95"][0] > pt(s, "first_letter", a)["ci95"][1]
                                         for i, a in enumerate(ks("first_letter")) for b in ks("first_letter")[i + 1:])]
    assert len(rising) == 4
    said("four of the five sizes rise beyond their intervals")
    v1_uncopied = sum(h1["points"][f"{s}/first_letter/{k}"]["correct_not_copyable"]
                      for s in ("13k", "38k", "113k", "389k", "1.4m") for k in h1["tasks"]["first_letter"]["ks"])
    assert v1_uncopied == 1 and "had one (section 4's table)" in TEXT
    assert max(pt(s, t, k)["accuracy"] for t in ("last_two", "doubled", "upper") for s in SIZES_V2 for k in ks(t)) <= 0.01
    drop = max(RR.rule_point(EV, s, "drop_at", k)["accuracy"] for s in SIZES_V2 for k in KS)
    said(f"at most {drop:.3f} in its evaluation")
    assert h2["tasks"]["mapping"]["copyable"][str(ks("mapping")[-1])] == "1" * 200
    assert max(pt(s, "mapping", k)["accuracy"] for s in SIZES_V2 for k in ks("mapping")) <= 0.01
    best_ins = max(pt(s, "insertion", k)["accuracy"] for s in SIZES_V2 for k in ks("insertion"))
    long = max((pt(s, "insertion_long", k)["accuracy"], s, k) for s in SIZES_V2 for k in ks("insertion_long"))
    said(f"v2's best {best_ins:.3f}", f"{long[1]} up to {long[0]:.3f} at K = {long[2]}")
    assert all(pt(s, "insertion_equals", k)["accuracy"] == 0 for s in SIZES_V2 for k in ks("insertion_equals"))
