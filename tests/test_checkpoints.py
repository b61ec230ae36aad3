import pytest
import torch

from gptedu.checkpoints import CheckpointError, load_checkpoint, load_model, load_weights_into, save_checkpoint
from gptedu.config import GPTConfig
from gptedu.model import GPT


def small(**overrides) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=17, block_size=8, n_layer=1, n_head=2, n_embd=16, **overrides))


def test_round_trip_keeps_config_weights_step_and_extra(tmp_path):
    model = small()
    opt = torch.optim.AdamW(model.parameters())
    model(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long))[1].backward()
    opt.step()
    path = save_checkpoint(tmp_path / "run.pt", model, step=7, optimizer=opt, extra={"val_loss": 1.5})
    assert (tmp_path / "run.pt.sha256").read_text().endswith("  run.pt\n")
    ckpt = load_checkpoint(path)
    assert ckpt.config == model.config and ckpt.step == 7 and ckpt.extra == {"val_loss": 1.5}
    assert ckpt.optimizer["state"]
    loaded = load_model(path)
    x = torch.randint(0, 17, (2, 8))
    model.eval()
    assert torch.equal(loaded(x)[0], model(x)[0])


def test_corrupted_file_is_caught_before_loading(tmp_path):
    path = save_checkpoint(tmp_path / "run.pt", small())
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupted"):
        load_checkpoint(path)


def test_truncated_file_without_verification_still_gets_a_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "run.pt", small())
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path, verify=False)


def test_missing_file_and_missing_hash(tmp_path):
    with pytest.raises(CheckpointError, match="No checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")
    path = save_checkpoint(tmp_path / "run.pt", small())
    (tmp_path / "run.pt.sha256").unlink()
    with pytest.raises(CheckpointError, match="cannot be verified"):
        load_checkpoint(path)


def test_foreign_file_is_refused(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"wte": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a gptedu checkpoint"):
        load_checkpoint(path, verify=False)


def test_loading_into_a_different_model_names_the_difference(tmp_path):
    path = save_checkpoint(tmp_path / "run.pt", small())
    other = small(norm="post")
    with pytest.raises(CheckpointError, match="norm"):
        load_weights_into(other, path)


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    model = small()
    path = save_checkpoint(tmp_path / "run.pt", model, step=1)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint(path, model, step=2)
    assert path.read_bytes() == before and load_checkpoint(path).step == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt", "run.pt.sha256"]  # no temp file left


def test_load_shipped_unknown_name_lists_what_ships():
    from gptedu.checkpoints import load_shipped

    with pytest.raises(CheckpointError, match="No shipped checkpoint named 'gpt9'"):
        load_shipped("gpt9")
