"""The two apps: their pure functions, and that they react when a control changes."""
import numpy as np
import pytest
import torch

from gptedu.labs import attention as A, common as C, tokens as T
from gptedu.config import GPTConfig
from gptedu.model import GPT
from gptedu.tokenizers import BPETokenizer, CharTokenizer, UnknownCharacterError, gpt2_encoding

TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler"


@pytest.fixture(scope="module")
def chars():
    return CharTokenizer.from_text(TEXT + "abcdefghijklmnopqrstuvwxyz")


@pytest.fixture(scope="module")
def bpe():
    return BPETokenizer.train(TEXT * 3, vocab_size=270)


# ---------------------------------------------------------------- token spans and HTML
@pytest.mark.parametrize("name", ["chars", "bpe", "gpt2"])
def test_spans_rebuild_the_text_and_match_encode(name, chars, bpe):
    tokenizer = {"chars": chars, "bpe": bpe, "gpt2": gpt2_encoding()}[name]
    spans = T.token_spans(tokenizer, TEXT)
    assert [s.id for s in spans] == tokenizer.encode(TEXT)
    assert b"".join(s.bytes for s in spans).decode("utf-8") == TEXT
    assert "".join(s.text for s in spans) == TEXT


def test_gpt2_spans_known_ids_and_split_characters():
    enc = gpt2_encoding()
    assert [(s.id, s.text) for s in T.token_spans(enc, "Hello world")] == [(15496, "Hello"), (995, " world")]
    emoji = T.token_spans(enc, " 😀")  # GPT-2 cuts this emoji's 4 bytes into 2 tokens
    assert b"".join(s.bytes for s in emoji) == " 😀".encode()
    assert len(emoji) == 2 and all("\\x" in s.text for s in emoji)
    assert [s.id for s in T.token_spans(enc, "a<|endoftext|>")][-1] == 50256


def test_stats_and_labels(chars):
    spans = T.token_spans(chars, "ab c\n")
    assert T.token_stats("ab c\n", spans) == {"characters": 5, "bytes": 5, "tokens": 5, "chars_per_token": 1.0}
    assert T.token_stats("", []) == {"characters": 0, "bytes": 0, "tokens": 0, "chars_per_token": 0.0}
    assert [T.token_label(s) for s in spans] == ["a", "b", "␣", "c", "↵"]
    assert T.token_stats("é", T.token_spans(gpt2_encoding(), "é"))["bytes"] == 2


def test_tokens_html_escapes_colours_and_shows_ids(chars):
    enc = gpt2_encoding()
    page = T.tokens_html(enc, "a <b> & c")
    assert "<b>" not in page and "&lt;" in page and "&gt;" in page and "&amp;" in page
    assert page.count('class="gptedu-token"') == len(enc.encode("a <b> & c"))
    assert T.PALETTE[0] in page and T.PALETTE[1] in page
    with_ids = T.tokens_html(enc, "Hello world", show_ids=True)
    assert ">15496</span>" in with_ids and ">995</span>" in with_ids
    assert "15496</span>" not in T.tokens_html(enc, "Hello world")
    assert "id 15496" in T.tokens_html(enc, "Hello world")  # on hover


def test_tokens_html_explains_an_unknown_character(chars):
    with pytest.raises(UnknownCharacterError):
        T.token_spans(chars, "café")
    page = T.tokens_html(chars, "café")
    assert "gptedu-error" in page and "UnknownCharacterError" in page and "é" in page


# ---------------------------------------------------------------- the playground reacts
def test_playground_reacts_to_text_choice_and_ids(chars, bpe):
    app = T.tokenizer_playground("to be", tokenizers={"characters": chars, "our BPE": bpe,
                                                      "GPT-2": gpt2_encoding()})
    assert repr(app) == "TokenizerPlayground(tokenizers=['characters', 'our BPE', 'GPT-2'], choice='characters')"
    assert app.stats_values["tokens"] == 5
    assert "5 tokens" in app.stats.value
    before = app.view.value
    app.text.value = "to be or not"
    assert app.stats_values["tokens"] == 12 and app.view.value != before
    app.choice.value = "GPT-2"
    assert [s.id for s in app.spans] == gpt2_encoding().encode("to be or not")
    assert app.stats_values["chars_per_token"] == pytest.approx(12 / len(app.spans))
    app.show_ids.value = True
    assert f">{app.spans[0].id}</span>" in app.view.value
    app.choice.value = "our BPE"
    assert [s.id for s in app.spans] == bpe.encode("to be or not")
    app.choice.value = "characters"
    app.text.value = "café"
    assert app.spans == [] and "UnknownCharacterError" in app.error and "cannot encode" in app.stats.value
    for name in ("tokenizer-choice", "text", "show-ids", "stats", "tokens"):
        assert sum(f"gptedu-{name}" in w._dom_classes for w in app.children) == 1, name


def test_playground_default_tokenizers_and_bad_choice(bpe):
    app = T.tokenizer_playground(bpe=bpe, choice="GPT-2")
    assert list(app.tokenizers) == ["characters", "our BPE", "GPT-2"]
    assert app.text.value == T.DEFAULT_TEXT and app.error is None
    assert list(T.tokenizer_playground().tokenizers) == ["characters", "GPT-2"]
    with pytest.raises(ValueError, match="not one of"):
        T.tokenizer_playground(choice="gpt2")


# ---------------------------------------------------------------- attention: pure functions
def causal_rows(T, seed=0):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(T, T, generator=g).masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    return scores.softmax(-1).numpy()


def test_head_weights_picks_a_head_or_the_mean():
    maps = torch.stack([torch.stack([torch.tensor(causal_rows(5, seed=10 * layer + h)) for h in range(3)])
                        for layer in range(2)])[:, None]  # (n_layer=2, B=1, n_head=3, 5, 5)
    assert np.array_equal(A.head_weights(maps, 1, 2), maps[1, 0, 2].numpy())
    mean = A.head_weights(maps, 0, "mean")
    assert np.allclose(mean, maps[0, 0].mean(0).numpy()) and np.allclose(mean.sum(-1), 1)
    with pytest.raises(ValueError, match="layers 0..1"):
        A.head_weights(maps, 2, 0)
    with pytest.raises(ValueError, match="0..2"):
        A.head_weights(maps, 0, 3)
    with pytest.raises(ValueError, match="one sequence"):
        A.head_weights(maps[0], 0, 0)


def test_attention_lines_geometry():
    weights = causal_rows(6)
    lines = A.attention_lines(weights, threshold=0.0)
    assert len(lines) == 6 * 7 // 2  # one line per (query, key <= query) pair
    assert all(j <= i for i, j, _ in lines)  # causal: no line goes to a later token
    assert [w for *_, w in lines] == sorted(w for *_, w in lines)  # strongest drawn last, on top
    assert lines[-1][2] == pytest.approx(weights.max())
    strong = A.attention_lines(weights, threshold=0.3)
    assert strong and all(w >= 0.3 for *_, w in strong) and len(strong) < len(lines)
    only_4 = A.attention_lines(weights, threshold=0.0, query=4)
    assert {(i, j) for i, j, _ in only_4} == {(4, j) for j in range(5)}
    assert sum(w for *_, w in only_4) == pytest.approx(1.0)


def test_attention_figure_shows_the_weights():
    weights = causal_rows(7)
    labels = list("abcdefg")
    fig = A.attention_figure(weights, labels, "layer 0, head 0", query=3)
    heat = fig.axes[0]
    assert np.allclose(heat.images[0].get_array(), weights)
    assert [t.get_text() for t in heat.get_yticklabels()] == labels
    assert len(fig.axes[1].collections[0].get_segments()) == 4  # query 3 attends to keys 0..3
    grid = A.attention_figure(weights, labels, per_head=np.stack([weights, weights.T]))
    assert sum(bool(ax.images) for ax in grid.axes) == 2
    assert C.figure_png(fig).startswith(b"\x89PNG")


# ---------------------------------------------------------------- the explorer reacts
@pytest.fixture(scope="module")
def tiny_model(chars):
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=chars.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=16, dropout=0.1)
    return GPT(config)


def test_explorer_reacts_to_layer_head_query_and_prompt(tiny_model, chars):
    tiny_model.train()
    app = A.attention_explorer(tiny_model, chars, prompt="to be or not")
    assert tiny_model.training, "the explorer must leave the model's mode as it found it"
    assert repr(app) == "AttentionExplorer(layer 0, head 0, 12 tokens)"
    expected = tiny_model.eval().attention_maps(torch.tensor([chars.encode("to be or not")]))
    tiny_model.train()
    assert np.allclose(app.weights, expected[0, 0, 0].numpy())
    assert np.allclose(app.figure.axes[0].images[0].get_array(), app.weights)
    assert app.output.outputs[0]["data"]["image/png"]
    first = app.weights.copy()

    app.layer.value = 1
    assert np.allclose(app.weights, expected[1, 0, 0].numpy()) and not np.allclose(app.weights, first)
    app.head.value = "mean"
    assert np.allclose(app.weights, expected[1, 0].mean(0).numpy())
    app.head.value = "all"
    assert app.weights.shape == (2, 12, 12)
    app.head.value = 1
    app.query.value = 5
    assert "query 5" in app.status.value
    assert len(app.figure.axes[1].collections[0].get_segments()) == 6

    app.prompt.value = "not to be"
    assert app.labels == list("not␣to␣be") and app.weights.shape == (9, 9)
    assert app.query.value == "all" and len(app.query.options) == 10
    assert np.allclose(app.weights.sum(-1), 1.0) and np.allclose(np.triu(app.weights, 1), 0.0)


def test_explorer_explains_bad_prompts_and_crops_long_ones(tiny_model, chars):
    app = A.attention_explorer(tiny_model, chars, prompt="café")
    assert app.weights is None and app.output.outputs == () and "UnknownCharacterError" in app.status.value
    app.prompt.value = ""
    assert "empty" in app.status.value
    app.prompt.value = "abcdefghij" * 5  # 50 characters, the model's context is 32
    assert len(app.labels) == 32 and "first 18 cut" in app.status.value
    assert app.labels[-1] == "j"
    for name in ("prompt", "layer", "head", "query"):
        assert any(f"gptedu-{name}" in w._dom_classes for w in app.children[1].children + (app.prompt,)), name


def test_live_loss_plot_redraws_into_its_widget_only():
    import matplotlib.pyplot as plt

    from gptedu.labs.liveplot import LiveLossPlot

    class FakeTrainer:
        history = [{"step": 0, "train_loss": 4.0, "val_loss": 4.1}, {"step": 50, "train_loss": 3.0, "val_loss": 3.2}]

    plot = LiveLossPlot()
    before = set(plt.get_fignums())
    plot(FakeTrainer(), FakeTrainer.history[-1])
    (shown,) = plot.widget.outputs
    assert shown["data"]["text/plain"] == "<loss at step 50>" and shown["data"]["image/png"]
    assert set(plt.get_fignums()) == before  # nothing left open for the inline backend to show again
    assert plot.history == FakeTrainer.history


def test_explorer_shows_which_layers_are_banded(chars):
    """GPT-3's alternating pattern (chapter 09): the banded layers are named, their band edges drawn,
    and their weights are zero outside the band."""
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=chars.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=16, dropout=0.0,
                       attention_pattern="alternating", attention_window=4)
    model = GPT(config)
    app = A.attention_explorer(model, chars, prompt="to be or not to be")
    assert A.layer_name(model, 0) == "layer 0" and A.layer_name(model, 1) == "layer 1 (banded, window 4)"
    assert "banded" not in app.status.value and not app.figure.axes[0].lines  # layer 0 is dense
    app.layer.value = 1
    assert app.figure.get_suptitle() == "layer 1 (banded, window 4), head 0"
    assert "is banded" in app.status.value and "the 3 tokens before it" in app.status.value
    assert len(app.figure.axes[0].lines) == 2  # the band's two edges
    T = app.weights.shape[0]
    outside = np.array([[j <= i - 4 for j in range(T)] for i in range(T)])
    assert np.all(app.weights[outside] == 0) and np.allclose(app.weights.sum(1), 1)
    app.head.value = "all"
    assert all(len(ax.lines) == 2 for ax in app.figure.axes[:2])
