"""gptedu.experiments.band_ablation: its rows hold what the docstring says, the probe reads the labels; one tiny run end to end."""
import random

import pytest
import torch

from gptedu.subtask_corpus import ARROW, family_tokenizer
from gptedu.experiments import band_ablation


@pytest.fixture(scope="module")
def ab():
    return band_ablation


def fake_data(n: int = 5000) -> dict:
    """The script's data dict on random characters: fast, and the same keys."""
    tok = family_tokenizer()
    gen = torch.Generator().manual_seed(0)
    return dict(train=torch.randint(tok.vocab_size, (n,), generator=gen),
                val=torch.randint(tok.vocab_size, (n,), generator=gen),
                vocab_size=tok.vocab_size, tokenizer=tok,
                train_words=("sword", "crown", "noble", "heart", "lady"), probe_words=("abates", "accost"))


def test_a_line_written_twice_and_where_its_label_is(ab):
    data = fake_data()
    line, offset = ab.line_ids(data, ["sword"], random.Random(0))
    text = data["tokenizer"].decode(line.tolist())
    assert text.startswith("sword" + ARROW) and text.endswith("\n") and len(text) == len("sword") + len(ARROW) + 4
    assert text[offset:offset + 3].isalpha()  # the 3-letter label
    row = torch.zeros(257, dtype=torch.long)
    ab.insert_line(row, line, 160, 20)
    assert torch.equal(row[20:20 + len(line)], line) and torch.equal(row[180:180 + len(line)], line)


def test_training_rows_are_mapping_episodes_or_text_with_one_line_twice(ab):
    data = fake_data()
    tok = data["tokenizer"]
    x, y = ab.train_batch(data, 64, 256, torch.Generator().manual_seed(1))
    assert x.shape == y.shape == (64, 256) and torch.equal(x[:, 1:], y[:, :-1])
    texts = [tok.decode(r.tolist()) for r in x]
    episodes = [t for t in texts if t.split("\n")[0].split(ARROW)[0] in data["train_words"]]
    assert 16 < len(episodes) < 48  # MAPPING_FRACTION = 0.5 of 64 rows
    for t in texts:
        arrows = t.count(ARROW)
        assert arrows >= 15 if t in episodes else arrows in (1, 2)  # the second copy may be cut at the row's end


def test_the_probe_reads_the_labels_and_a_copier_saves_their_whole_loss(ab, monkeypatch):
    """A 'model' that knows each row's answer only at the repeat: the probe must find all of the saving there."""
    monkeypatch.setattr(ab, "PROBE_DISTANCES", (16, 160))
    data = fake_data()

    class RepeatOracle(torch.nn.Module):
        config = type("C", (), {"block_size": 256})

        def forward(self, x):
            logits = torch.zeros(*x.shape, data["vocab_size"])
            # at every position whose token equals the one d back, predict the token that followed then
            for d in (16, 160):
                same = torch.zeros_like(x, dtype=torch.bool)
                same[:, d:] = x[:, d:] == x[:, :-d]
                nxt = torch.roll(x, d - 1, dims=1)  # nxt[t] = x[t - d + 1], the token after the earlier one
                logits[same] += 50 * torch.nn.functional.one_hot(nxt[same], data["vocab_size"]).float()
            return logits, None

    out = ab.copy_probe(RepeatOracle(), data, 4)
    for d in ("16", "160"):
        assert out[d]["repeat"] < 0.1 and out[d]["first"] > 3.0  # uniform guesses at the first label


def test_one_tiny_run_reports_val_loss_and_the_copy_probe(ab, monkeypatch):
    monkeypatch.setattr(ab, "PROBE_ROWS", 2)
    monkeypatch.setattr(ab, "EVAL_BATCHES", 1)
    monkeypatch.setattr(ab, "TRACK_ROWS", 2)
    data = fake_data()
    for pattern in ab.PATTERNS:
        run = ab.train_one(pattern, seed=0, steps=2, batch=2, lr=1e-3, data=data)
        assert run["pattern"] == pattern and run["tokens"] == 2 * 2 * 256
        assert set(run["copy"]) == {str(d) for d in ab.PROBE_DISTANCES}
        assert 3.0 < run["val_loss"] < 6.0  # about ln(90) = 4.5 untrained
        assert len(run["first_losses"]) == 2 and [c["step"] for c in run["copy_curve"]] == [0, 1, 2]
        assert set(run["copy_curve"][-1]["saved"]) == set(run["copy"])


def test_spread_episodes_never_bring_a_word_back_within_one_band(ab):
    """--spread: each word's previous line is more than SPREAD_GAP lines back, so every repeat is beyond w = 32."""
    data = dict(fake_data(), train_words=("sword", "crown", "noble", "heart", "lady", "ghost", "crowd", "tiger"))
    text = data["tokenizer"].decode(ab.spread_mapping_row(data, 16 * 14 * 6, random.Random(0)).tolist())
    lines = text.split("\n")[:-1]
    for start in range(0, len(lines) - 16, 16):  # one mapping per 16 lines
        words = [line.split(ARROW)[0] for line in lines[start:start + 16]]
        for i, word in enumerate(words):
            assert word not in words[max(0, i - ab.SPREAD_GAP):i], (start, i)
        assert len(set(words)) >= ab.SPREAD_GAP + 1
    x, _ = ab.train_batch(dict(data, spread=True), 8, 256, torch.Generator().manual_seed(0))
    assert x.shape == (8, 256)
