"""Chapter 08's and the README's sentences about the zero-shot intervals and baselines, held to the shipped
data/results/family_eval.json (its Wilson intervals) and to a live word-frequency baseline (issue 24, item 8),
and the chapter's prose numbers held to what its cells print."""
import json
import re
import statistics
from pathlib import Path

import pytest

from gptedu.evaluation import wilson_interval
from gptedu.family import family_members
from gptedu.play_tasks import cloze_instances, most_frequent_candidate, next_speaker_instances

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT / "data" / "results" / "family_eval.json"
CHAPTER = ROOT / "notebooks" / "08_gpt2_zero_shot.ipynb"
# the README and its results page (docs/results.md), where the README's results paragraphs live
README = " ".join(((ROOT / "README.md").read_text() + "\n" + (ROOT / "docs" / "results.md").read_text()).split())
SIZES = ("13k", "38k", "113k", "389k", "1.4m")
N = 200


@pytest.fixture(scope="module")
def entries():
    if len(family_members()) < 5 or not EVAL.exists():
        pytest.skip("the family or its evaluation is not shipped")
    return json.loads(EVAL.read_text())["entries"]


@pytest.fixture(scope="module")
def chapter():
    cells = json.loads(CHAPTER.read_text())["cells"]
    prose = " ".join(" ".join("".join(c["source"]).split()) for c in cells if c["cell_type"] == "markdown")
    printed = "".join("".join(o.get("text", "")) for c in cells if c["cell_type"] == "code" for o in c["outputs"])
    return prose, printed


def ci(entries, size, task):
    e = entries[f"{size}/{task}/0/nodesc"]
    assert e["n"] == N and e["accuracy_ci95"] == pytest.approx(wilson_interval(e["correct"], N))
    return e["correct"], wilson_interval(e["correct"], N)


def shown(right, interval):
    return f"{right / N:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


@pytest.fixture(scope="module")
def frequency_rule():
    right = sum(most_frequent_candidate(c) == c.answer for c in cloze_instances(N, seed=0))
    return right, wilson_interval(right, N)


def test_cloze_every_size_is_above_chance_but_no_interval_is_resolved(entries, frequency_rule):
    intervals = [ci(entries, s, "cloze")[1] for s in SIZES]
    assert min(lo for lo, _ in intervals) > 0.10  # "above chance at every size", not "only at 1.4m"
    both = intervals + [frequency_rule[1]]
    assert max(lo for lo, _ in both) < min(hi for _, hi in both)  # the five sizes and the rule overlap
    lo, hi = frequency_rule[1]
    assert lo < entries["1.4m/cloze/0/nodesc"]["accuracy"] < hi  # the rule is as good as the largest member
    quoted = f"lower ends {intervals[1][0]:.3f} to {max(lo for lo, _ in intervals):.3f}"
    assert min(lo for lo, _ in intervals) == intervals[1][0] and quoted in README


def test_next_speaker_is_below_chance_at_four_sizes_and_not_at_the_largest(entries):
    chance = statistics.mean(1 / len(x.candidates) for x in next_speaker_instances(N, seed=0))
    below = [s for s in SIZES if ci(entries, s, "next_speaker")[1][1] < chance]
    assert below == ["13k", "38k", "113k", "389k"]
    right, (lo, hi) = ci(entries, "1.4m", "next_speaker")
    assert right == 5 and lo < chance < hi


def test_readme_and_chapter_quote_the_intervals(entries, frequency_rule, chapter):
    prose, printed = chapter
    quotes = [shown(*frequency_rule), shown(*ci(entries, "1.4m", "cloze"))]
    _, speaker = ci(entries, "1.4m", "next_speaker")
    quotes.append(f"[{speaker[0]:.3f}, {speaker[1]:.3f}]")
    for quote in quotes:
        assert quote in README, quote
        assert quote in prose, quote
    assert "above chance only at 1.4m" not in README


def test_every_interval_and_count_in_the_chapter_prose_is_printed_by_a_cell(chapter):
    prose, printed = chapter
    for interval in re.findall(r"\[\d\.\d+, \d\.\d+\]", prose):
        assert interval in printed, interval
    (episodes,) = re.findall(r"it opens (\d+) episodes in the first million characters", prose)
    assert re.search(rf"opens {episodes} episodes in these [\d,]+ characters", printed)


SIZES_V2 = ("6.6k", "25k", "85k", "312k", "793k")


def test_family_v2_paragraph_holds_to_its_evaluation(entries, chapter):
    """Section 2's v2 paragraph: log-probs rise with every size, the gains, the counts, the overlapping
    intervals and the comparison with v1's 389k, all from data/results/family_v2_eval.json."""
    prose, printed = chapter
    v2 = json.loads((ROOT / "data" / "results" / "family_v2_eval.json").read_text())["entries"]
    key = lambda s, t: f"{s}/{t}/0/{'desc' if t == 'insertion' else 'nodesc'}"  # noqa: E731
    gains = []
    for task in ("last_word", "cloze", "next_speaker"):
        lp = [v2[key(s, task)]["logprob"] for s in SIZES_V2]
        assert all(b > a for a, b in zip(lp, lp[1:])), task  # "rises with *every* size"
        assert lp[-1] < entries[key("389k", task)]["logprob"], task  # "its 793k sits below v1's 389k"
        gains.append(f"{lp[-1] - lp[0]:.2f}")
    assert f"by {gains[0]} (final word), {gains[1]} (cloze) and {gains[2]} (next speaker)" in prose
    assert f"(6.6k → 793k: +{gains[0]}, +{gains[1]}, +{gains[2]} nats/char)" in README
    assert all(v2[key(s, "last_word")]["correct"] == 0 for s in SIZES_V2)
    cloze = [v2[key(s, "cloze")] for s in SIZES_V2]
    counts = sorted(e["correct"] for e in cloze)
    assert f"its {counts[0]} to {counts[-1]} of 200 have intervals that all overlap" in prose
    assert f"cloze {counts[0]}–{counts[-1]} of 200 with overlapping intervals" in README
    assert max(e["accuracy_ci95"][0] for e in cloze) < min(e["accuracy_ci95"][1] for e in cloze)
    assert sorted(e["accuracy_ci95"][0] for e in cloze)[:2] == [e["accuracy_ci95"][0] for e in cloze[1::-1]]
    assert all(e["accuracy_ci95"][0] < 0.10 for e in cloze[:2])  # "the two smallest reaching below chance"
    speaker = sorted(v2[key(s, "next_speaker")]["correct"] for s in SIZES_V2)
    assert f"next speaker {speaker[0]} to {speaker[-1]} of 200" in prose
    ins = [v2[key(s, "insertion")] for s in SIZES_V2]
    assert f"({', '.join(str(e['correct']) for e in ins)} of 200;" in prose
    lo_793, hi_312 = ins[4]["accuracy_ci95"][0], ins[3]["accuracy_ci95"][1]
    assert ins[3]["accuracy_ci95"][0] < ins[4]["accuracy_ci95"][1]  # "just overlap"
    assert f"{ins[3]['accuracy_ci95'][0]:.3f} to {ins[4]['accuracy_ci95'][1]:.3f}" in prose and lo_793 < hi_312
    lp = [e["logprob"] for e in ins]
    assert all(b > a for a, b in zip(lp, lp[1:]))
    assert f"(−{-lp[0]:.3f}\nto −{-lp[-1]:.3f})".replace("\n", " ") in prose
