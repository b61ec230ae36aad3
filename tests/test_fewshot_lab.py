"""gptedu.labs.fewshot: chapter 10's few-shot lab, its plain functions and its widget's callbacks.

Uses the shipped family's two smallest members (13k, 38k) and a few dozen queries: each test takes
well under a few seconds on one thread.
"""
import os

import pytest
import torch

from gptedu import evaluation
from gptedu.family import family_members, load_family
from gptedu.labs import fewshot as L
from gptedu.subtask_corpus import ARROW, TASKS, render_answer, render_prompt

torch.set_num_threads(int(os.environ.get("GPTEDU_THREADS", "1")))  # as the course runs

pytestmark = pytest.mark.skipif(len(family_members()) < 2, reason="the family is not shipped")


@pytest.fixture(scope="module")
def small():
    return load_family("38k")


def png(lab):
    return lab.output.outputs[0]["data"]["image/png"]


# ------------------------------------------------------------------ settings and examples
def test_settings_refuse_bad_values():
    assert L.LabSettings().key == "1.4m/insertion/4/nodesc"
    assert L.LabSettings(description=True, k=0, size="13k", task="mapping").key == "13k/mapping/0/desc"
    for bad, message in ((dict(task="sorting"), "task='sorting': choose one of"),
                         (dict(k=-1), "k=-1 must be a whole number"), (dict(k=True), "k=True"),
                         (dict(seed=-2), r"seed=-2 must be a whole number from 0 to 1,000,000 \(the lab.s seed box\)"),
                         (dict(description="yes"), "description='yes' must be True or False"),
                         (dict(n=0), "n=0 must be a positive whole number")):
        with pytest.raises(ValueError, match=message):
            L.LabSettings(**bad)


@pytest.mark.parametrize("task", TASKS)
def test_an_example_is_rendered_as_the_evaluation_renders_it(task):
    ex = L.draw_example(task, 3, seed=5, description=True)
    assert len(ex.examples) == 3 and ex.query not in {s for s, _ in ex.examples}
    assert ex.prompt == render_prompt(task, ex.examples, ex.query, True) and ex.answer == render_answer(ex.target)
    segments = L.prompt_segments(ex)
    assert "".join(text for text, _ in segments) == ex.prompt + ex.answer + "\n"
    assert [role for _, role in segments] == ["description", "demo", "demo", "demo", "query", "answer"]
    assert L.draw_example(task, 3, seed=5, description=True) == ex  # seeded
    assert L.draw_example(task, 3, seed=6, description=True) != ex  # another seed: other demonstrations


def test_prompt_html_colours_each_part_and_strikes_out_what_is_cropped(small):
    _, tok = small
    ex = L.draw_example("insertion", 2, seed=0)
    page = L.prompt_html(ex, 256, tok)
    for role in ("demo", "query", "answer"):
        assert L.ROLE_COLOURS[role] in page
    assert "line-through" not in page.split("</div>", 1)[1]  # nothing cropped (the legend aside)
    long = L.draw_example("insertion", 16, seed=0)
    page = L.prompt_html(long, 256, tok)
    body = page.split("</div>", 1)[1]
    assert "line-through" in body and "&lt;" not in ex.prompt
    kept = L.kept_characters(tok, long, 256)
    assert kept == 256 - len(long.answer + "\n") + 1 < len(long.prompt)


def test_k_too_large_is_refused_and_cropping_is_counted(small):
    _, tok = small
    fine = L.draw_example("insertion", 16, seed=0)  # cropped, as the shipped K = 16 points were, but most is left
    assert L.visible_demonstrations(tok, fine, 256) >= 8
    L.check_fits(tok, fine, 256)
    assert L.visible_demonstrations(tok, L.draw_example("mapping", 4, 0), 256) == 4
    with pytest.raises(L.DoesNotFit, match=r"K=32 is too large: .* About K ≤ \d+ fits"):
        L.check_fits(tok, L.draw_example("insertion", 32, seed=0), 256)


# ------------------------------------------------------------------ the model on one example
def test_greedy_answer_and_probabilities_agree_with_exact_match(small):
    model, tok = small
    items = evaluation.instances("insertion", 1, 12)
    right, _ = evaluation.exact_match_scores(model, tok, items)
    for inst, ok in zip(items, right):
        assert (L.greedy_answer(model, tok, inst.prompt) == inst.answer) == ok
    assert any(right) and not all(right)  # 38k at K = 1: about 0.6 (shipped)
    ex = L.draw_example("mapping", 8, seed=1)
    answer = L.greedy_answer(model, tok, ex.prompt)
    cands = L.candidates(ex, answer)
    assert cands[0] == ex.target and set(t for _, t in ex.examples) <= set(cands) and len(set(cands)) == len(cands)
    probs = L.candidate_probs(model, tok, ex, cands)
    assert all(0 < p < 1 for p in probs) and sum(probs) <= 1 + 1e-6  # distinct whole answers: disjoint events


# ------------------------------------------------------------------ scoring and the plot
def test_score_with_seed_0_reproduces_the_shipped_instances(small):
    model, tok = small
    entries = L.load_shipped_eval()
    seen = []
    r = L.score(model, tok, L.LabSettings(task="insertion", k=1, size="38k", n=30), on_progress=lambda d, n: seen.append(d))
    stored = entries["38k/insertion/1/nodesc"]["per_instance"]["correct"][:30]
    assert abs(r["correct"] - sum(stored)) <= 1 and r["n"] == 30 and r["cropped"] == 0
    assert seen == [10, 20, 30]
    lo, hi = r["ci95"]
    assert lo <= r["accuracy"] <= hi


def test_copier_ceiling_rises_with_k_and_counts_shown_queries():
    ceiling = [L.copier_ceiling(k, n=100) for k in (0, 1, 4, 16)]
    assert ceiling[0] == 0 and all(a < b for a, b in zip(ceiling, ceiling[1:])) and ceiling[-1] > 0.9
    # K = 1 and 5 words: the query is the shown word with probability 1/5
    assert 0.1 < ceiling[1] < 0.35


def test_figure_draws_the_shipped_curves_and_the_learners_points():
    entries = L.load_shipped_eval()
    curves = L.shipped_curves(entries, "insertion", False)
    assert list(curves) == family_members() and curves["1.4m"]["k"] == list(evaluation.KS)
    fig = L.fig12_figure(entries, "mapping", False, {("38k", "mapping", 4, False): {"accuracy": 0.1, "ci95": [0.04, 0.2]}},
                         ceiling=[0, 0.2, 0.3, 0.5, 0.8, 0.97])
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "perfect copier" in labels and "your scores (★)" in labels and "1.4m (shipped, n=200)" in labels
    empty = L.fig12_figure(None, "insertion", True)  # no shipped file: an empty plot, no error
    assert not empty.axes[0].lines and not empty.legends


# ------------------------------------------------------------------ the widget
def test_the_lab_reacts_to_its_controls_and_scores():
    lab = L.fewshot_lab(task="insertion", k=1, size="13k", n=20)
    assert lab.error is None and lab.answer is not None and lab.example.task == "insertion"
    before_prompt, before_png = lab.prompt_view.value, png(lab)
    lab.k.value = 2
    assert lab.prompt_view.value != before_prompt and len(lab.example.examples) == 2
    lab.size.value = "38k"
    assert set(lab.models) == {"13k", "38k"}
    lab.k.value = 16
    assert lab.error.startswith("PromptTooLong") and "cropped from the left" in lab.error
    lab.k.value = 32
    assert lab.error.startswith("DoesNotFit") and lab.answer_view.value == ""
    assert lab.score_now() is None and "DoesNotFit" in lab.status.value and not lab.button.disabled
    lab.k.value = 1
    assert lab.error is None
    r = lab.score_now()
    assert r["n"] == 20 and lab.progress.value == 20 and ("38k", "insertion", 1, False) in lab.points
    assert "20 right" in lab.status.value or "/20 right" in lab.status.value
    assert png(lab) != before_png
    lab.task.value = "mapping"
    assert lab._ceiling is not None and ARROW.strip() in lab.example.prompt
    assert "FewShotLab(38k, mapping, K=1" in repr(lab)


def test_lab_arguments_are_checked():
    with pytest.raises(ValueError, match="size='2m' is not a shipped family member"):
        L.fewshot_lab(size="2m")
    with pytest.raises(ValueError, match="entries='mine'"):
        L.fewshot_lab(entries="mine")
    with pytest.raises(TypeError, match="entries must be"):
        L.fewshot_lab(entries=[1])
    with pytest.raises(ValueError, match="task='x'"):
        L.fewshot_lab(task="x")
