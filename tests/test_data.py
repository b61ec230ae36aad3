import hashlib
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gptedu import data
from tests.conftest import NetworkBlocked

ROOT = Path(__file__).resolve().parents[1]


def test_network_is_blocked_during_tests():
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("pypi.org", 443), timeout=1)
    with pytest.raises(NetworkBlocked):
        socket.socket().connect(("93.184.215.14", 80))


def test_every_shipped_file_matches_sha256sums():
    sums = data._expected_hashes()
    assert len(sums) == 47
    for name, digest in sums.items():
        assert hashlib.sha256((data.DATA_DIR / name).read_bytes()).hexdigest() == digest, name


def test_readme_lists_every_file_with_its_sha256():
    readme = (ROOT / "data" / "README.md").read_text()
    for name, digest in data._expected_hashes().items():
        assert name in readme and digest in readme, f"data/README.md does not list {name} with its sha256"


def test_gpt2_ranks_have_the_hash_tiktoken_expects():
    path = data.data_path("gpt2.tiktoken")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == \
        "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"


def test_shakespeare_corpus():
    plays = data.list_plays()
    assert len(plays) == 42 and "hamlet" in plays and "sonnets" in plays
    hamlet = data.load_play("hamlet")
    assert hamlet.startswith("HAMLET, PRINCE OF DENMARK") and "To be, or not to be" in hamlet
    corpus = data.load_shakespeare()
    assert 4_900_000 < len(corpus) < 5_200_000
    assert data.load_shakespeare(["hamlet", "lear"]) == hamlet + "\n\n" + data.load_play("lear")


def test_held_out_plays_are_disjoint_from_pretraining():
    held_out, pretrain = set(data.HELD_OUT_PLAYS), set(data.pretraining_plays())
    assert held_out <= set(data.list_plays()) and not held_out & pretrain
    assert held_out | pretrain == set(data.list_plays())
    share = len(data.load_shakespeare(sorted(held_out))) / len(data.load_shakespeare())
    assert 0.10 < share < 0.15


def test_unknown_play_suggests_the_right_name():
    with pytest.raises(data.DataError, match="Did you mean hamlet"):
        data.load_play("hamelt")


def test_rotten_tomatoes_counts():
    rows = data.load_rotten_tomatoes()
    labels = [label for _, label in rows]
    assert labels.count(1) == 7403 and labels.count(0) == 5405
    assert all(isinstance(text, str) and text for text, _ in rows)


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A private copy of data/ to damage."""
    copy = tmp_path / "data"
    shutil.copytree(data.DATA_DIR, copy)
    monkeypatch.setattr(data, "DATA_DIR", copy)
    data._expected_hashes.cache_clear()
    yield copy
    data._expected_hashes.cache_clear()


def test_corrupted_file_gets_a_clear_error(data_copy):
    path = data_copy / "shakespeare" / "hamlet.txt"
    path.write_text(path.read_text().replace("To be, or not to be", "To be, or not to bee"))
    with pytest.raises(data.DataError, match=r"edited or corrupted.*git checkout -- data/shakespeare/hamlet.txt"):
        data.load_play("hamlet")


def test_missing_file_gets_a_clear_error(data_copy):
    (data_copy / "rotten_tomatoes_corpus_full.csv.bz2").unlink()
    with pytest.raises(data.DataError, match=r"missing.*scripts/build_data.py"):
        data.load_rotten_tomatoes()


def test_unknown_file_lists_the_known_ones():
    with pytest.raises(data.DataError, match="gpt2.tiktoken"):
        data.data_path("gpt3.tiktoken")


def test_get_batch_targets_are_inputs_shifted_by_one():
    tokens = torch.arange(1000)
    g = torch.Generator().manual_seed(0)
    x, y = data.get_batch(tokens, batch_size=8, block_size=16, generator=g)
    assert x.shape == y.shape == (8, 16)
    assert torch.equal(y, x + 1)
    g2 = torch.Generator().manual_seed(0)
    assert torch.equal(data.get_batch(tokens, 8, 16, generator=g2)[0], x)


def test_get_batch_rejects_too_little_data():
    with pytest.raises(ValueError, match="too few"):
        data.get_batch(torch.arange(10), 2, 16)


def test_train_val_split():
    train, val = data.train_val_split(torch.arange(100), 0.1)
    assert len(train) == 90 and len(val) == 10 and val[0] == 90
    with pytest.raises(ValueError):
        data.train_val_split(torch.arange(100), 1.5)


def test_build_script_checks_the_archives_it_downloads():
    source = (ROOT / "scripts" / "build_data.py").read_text()
    for archive_hash in ("f393d09d07ea4d0e", "37a91a3921809d9f", "b4d0c48ae0ae7478"):
        assert archive_hash in source
    # --help runs without touching the network
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_data.py"), "--help"],
                         capture_output=True, text=True, check=True)
    assert "SHA256SUMS" in out.stdout


def test_every_generated_file_is_documented_with_its_command():
    """data/checkpoints and data/results are made by the repo's scripts: data/README.md names each one."""
    readme = (ROOT / "data" / "README.md").read_text()
    generated = [p for folder in ("checkpoints", "results") for p in (ROOT / "data" / folder).glob("*")
                 if p.suffix in (".pt", ".json")]
    assert generated, "the shipped checkpoint and results are missing from data/"
    for path in generated:
        assert f"{path.parent.name}/{path.name}" in readme, f"data/README.md does not document {path.name}"
    for sidecar in (ROOT / "data" / "checkpoints").glob("*.sha256"):
        digest = sidecar.read_text().split()[0]
        assert digest in readme, f"data/README.md does not give the sha256 of {sidecar.name[:-7]}"
