import pytest
import torch

from gptedu.device import describe_device, pick_device


def test_auto_picks_an_available_device(monkeypatch):
    monkeypatch.delenv("GPTEDU_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert pick_device().type == expected


def test_argument_and_environment_override(monkeypatch):
    monkeypatch.setenv("GPTEDU_DEVICE", "cpu")
    assert pick_device().type == "cpu"
    assert pick_device("cpu") == torch.device("cpu")


def test_unknown_device_lists_the_choices():
    with pytest.raises(ValueError, match="cuda, mps, cpu"):
        pick_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_says_what_is_available():
    with pytest.raises(RuntimeError, match="not available.*available: .*cpu"):
        pick_device("cuda")


def test_describe_names_the_device():
    assert describe_device(torch.device("cpu")).startswith("cpu: ")


def test_setup_fixes_threads_and_seeds():
    import gptedu

    session = gptedu.setup(seed=3, threads=1)
    a = torch.rand(3)
    gptedu.setup(seed=3, threads=1)
    assert torch.equal(a, torch.rand(3))
    assert torch.get_num_threads() == 1
    assert "seed 3" in repr(session) and "1 thread" in repr(session)
