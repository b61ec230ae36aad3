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
README = " ".join((ROOT / "README.md").read_text().split())
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
