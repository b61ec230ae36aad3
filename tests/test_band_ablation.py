"""scripts/band_ablation.py: its repeated spans sit where the probe reads them; one tiny run end to end."""
import importlib.util
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "band_ablation.py"


def _load():
    spec = importlib.util.spec_from_file_location("band_ablation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_rows_repeat_a_span_and_the_probe_reads_the_repeat(monkeypatch):
    ab = _load()
    letters = torch.arange(100, 126)
    row = torch.zeros(257, dtype=torch.long)
    T, d = 256, 160
    start = T - ab.SPAN - d
    ab.insert_repeat(row, letters, d, start, torch.Generator().manual_seed(0))
    y = row[1:]
    # the probe's slices of targets: letters 2..SPAN of the first span and of the repeat
    assert torch.equal(y[start:start + ab.SPAN - 1], row[start + 1:start + ab.SPAN])
    assert torch.equal(y[start + d:start + d + ab.SPAN - 1], y[start:start + ab.SPAN - 1])
    assert start + d + ab.SPAN == T and int(row[T - 1]) >= 100  # the repeat ends at the last input position

    data = dict(train=torch.randint(0, 30, (5000,)), val=torch.randint(0, 30, (5000,)), vocab_size=30,
                letters=torch.arange(4, 30))
    x, y = ab.train_batch(data, 64, 256, torch.Generator().manual_seed(1))
    assert x.shape == y.shape == (64, 256) and torch.equal(x[:, 1:], y[:, :-1])


def test_one_tiny_run_reports_val_loss_and_the_copy_probe(monkeypatch):
    ab = _load()
    monkeypatch.setattr(ab, "PROBE_ROWS", 2)
    monkeypatch.setattr(ab, "EVAL_BATCHES", 1)
    monkeypatch.setattr(ab, "TRACK_ROWS", 2)
    data = dict(train=torch.randint(0, 30, (5000,)), val=torch.randint(0, 30, (5000,)), vocab_size=30,
                letters=torch.arange(4, 30))
    for pattern in ab.PATTERNS:
        run = ab.train_one(pattern, seed=0, steps=2, batch=2, lr=1e-3, data=data)
        assert run["pattern"] == pattern and run["tokens"] == 2 * 2 * 256
        assert set(run["copy"]) == {str(d) for d in ab.PROBE_DISTANCES}
        assert 2.0 < run["val_loss"] < 5.0  # about ln(30) = 3.4 untrained
        assert len(run["first_losses"]) == 2 and [c["step"] for c in run["copy_curve"]] == [0, 1, 2]
        assert set(run["copy_curve"][-1]["saved"]) == set(run["copy"])
