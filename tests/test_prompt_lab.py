"""gptedu.labs.prompt: chapter 08's prompt lab, its plain functions and its widget's callbacks.

Uses the smallest shipped family member (13k, context 256) and a few dozen generated tokens.
"""
import os

import pytest
import torch

from gptedu.family import load_family
from gptedu.generate import generate
from gptedu.labs import prompt as P
from gptedu.labs.prompt import Decoding, Generation, PromptLab, check_prompt, prompt_lab

torch.set_num_threads(int(os.environ.get("GPTEDU_THREADS", "1")))  # as the course runs


@pytest.fixture(scope="module")
def small():
    return load_family("13k")


@pytest.fixture
def lab():
    return prompt_lab("family 13k", "ROMEO.\n", max_new_tokens=24)


@pytest.mark.parametrize("mode, expected", [
    ("greedy", {"greedy": True}),
    ("temperature", {"temperature": 0.7}),
    ("top-k", {"temperature": 0.7, "top_k": 5}),
    ("top-p", {"temperature": 0.7, "top_p": 0.8}),
])
def test_decoding_gives_generate_its_arguments(mode, expected):
    assert Decoding(mode, 0.7, 5, 0.8).kwargs() == expected


def test_unknown_decoding_mode_names_the_choices():
    with pytest.raises(ValueError, match="greedy, temperature, top-k, top-p"):
        Decoding("beam")


def test_stream_writes_what_generate_writes_and_reports_the_chosen_tokens_probability(small):
    model, tok = small
    ids = tok.encode("KING.\nWhat")
    for decoding in (Decoding("greedy"), Decoding("top-p", 0.9, 40, 0.8)):
        steps = list(P.stream(model, ids, decoding, 20, seed=3))
        expected = generate(model, torch.tensor([ids]), 20, generator=torch.Generator().manual_seed(3),
                            **decoding.kwargs())[0, len(ids):].tolist()
        assert [t for t, _, _ in steps] == expected
        with torch.no_grad():
            logits, _ = model(torch.tensor([ids + expected[:-1]]))
        probs = torch.softmax(logits[0, len(ids) - 1:], dim=-1)
        for (token, p, top), row in zip(steps, probs):
            assert abs(p - float(row[token])) < 1e-5
            assert [i for i, _ in top] == row.topk(P.N_CANDIDATES).indices.tolist()
    greedy = list(P.stream(model, ids, Decoding("greedy"), 20))
    assert all(token == top[0][0] for token, _, top in greedy)  # greedy takes the top candidate


def test_check_prompt_says_what_to_do(small):
    model, tok = small
    assert check_prompt("ab", tok, 256) == tok.encode("ab")
    with pytest.raises(ValueError, match="empty"):
        check_prompt("", tok, 256)
    with pytest.raises(ValueError, match="300 tokens.*at most 256.*shorten it by 44"):
        check_prompt("a" * 300, tok, 256)
    with pytest.raises(ValueError, match="not in this tokenizer's vocabulary"):
        check_prompt("caf\u00e9", tok, 256)


def test_colours_go_from_red_to_green():
    low, high = P.probability_colour(0.0), P.probability_colour(1.0)
    red = lambda c: int(c[1:3], 16) - int(c[3:5], 16)  # noqa: E731
    assert red(low) > 0 > red(high)


def test_html_escapes_the_text_and_marks_the_selected_token(small):
    _, tok = small
    gen = Generation(tok.encode("a->b"), ids=tok.encode("&\nc"), probs=[0.1, 0.5, 0.9])
    page = P.continuation_html(tok, gen, selected=2)
    assert "a-&gt;b" in page and "&amp;" in page and "⏎<br>" in page
    assert page.count("gptedu-gen-token") == 3 and page.count("outline") == 1
    assert 'title="token 2: p = 0.500"' in page


def test_presets_are_the_evaluation_prompts_cut_to_fit():
    presets = P.task_presets(chars=180)
    assert len(presets) >= 4
    for text in presets.values():
        assert 0 < len(text) <= 180
    assert presets["label the words (8 examples)"].endswith(" ->")


def test_lab_opens_on_the_candidates_after_the_prompt_and_generates(lab):
    assert lab.error is None and lab.generation.ids == [] and len(lab.generation.top) == 1
    before = lab.figure_out.outputs[0]["data"]["image/png"]
    lab.decoding.value = "greedy"
    gen = lab.generate()
    assert lab.error is None and len(gen.ids) == 24 and len(gen.top) == 24
    assert lab.position.max == 24 and "gptedu-gen-token" in lab.output.value
    assert "24 tokens written" in lab.status.value
    lab.position.value = 5
    assert lab.figure_out.outputs[0]["data"]["image/png"] != before
    assert 'title="token 5' in lab.output.value and "outline" in lab.output.value


def test_same_seed_same_sample_other_seed_other_sample(lab):
    first = lab.generate().ids
    assert lab.generate().ids == first
    lab.seed.value = 1
    assert lab.generate().ids != first


def test_errors_show_in_the_lab_and_the_lab_recovers(lab):
    lab.prompt.value = ""
    assert "empty" in lab.error and "color" in lab.status.value
    assert lab.generate() is None
    lab.prompt.value = "x" * 300
    assert "at most 256" in lab.error
    lab.prompt.value = "caf\u00e9"
    assert "vocabulary" in lab.error
    lab.prompt.value = "KING.\n"
    assert lab.error is None and len(lab.generate().ids) == 24


def test_preset_fills_the_prompt_and_model_switch_reloads(lab):
    lab.preset.value = "label the words (8 examples)"
    assert lab.prompt.value == P.task_presets()["label the words (8 examples)"]
    lab.model.value = "family 38k"
    assert lab.error is None and lab.loaded()[0].config.n_layer == 3


def test_unknown_model_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="family 13k"):
        prompt_lab("gpt-5")


def test_real_gpt2_is_offered_only_when_its_weights_are_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("GPTEDU_GPT2", str(tmp_path))
    assert not any("GPT-2" in name for name in P.model_choices())
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert "GPT-2 124M (OpenAI)" in P.model_choices()


def test_a_model_that_does_not_load_is_an_error_in_the_lab(small):
    def broken():
        raise FileNotFoundError("no weights here")
    lab = PromptLab({"ok": lambda: small, "broken": broken}, {}, "ok", "KING.\n", Decoding(), 8, 0)
    lab.model.value = "broken"
    assert "no weights here" in lab.error
    lab.model.value = "ok"
    assert lab.error is None
