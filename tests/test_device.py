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


def test_setup_computes_on_the_cpu_and_names_a_gpu_it_does_not_use(monkeypatch):
    """Chapters compute on the CPU (their committed outputs were made there); a GPU found is named as unused."""
    import gptedu
    from gptedu import session as S

    monkeypatch.delenv("GPTEDU_DEVICE", raising=False)
    monkeypatch.setattr(S, "pick_device", lambda prefer=None: torch.device(prefer or "cuda"))
    session = gptedu.setup(seed=0, threads=1)
    assert session.device.type == "cpu" and session.accelerator == "cuda"
    assert "device cpu (cuda found, not used" in repr(session)
    assert gptedu.setup(seed=0, threads=1, device="cuda").device.type == "cuda"  # asked for: used
    monkeypatch.setenv("GPTEDU_DEVICE", "cuda")
    assert gptedu.setup(seed=0, threads=1).device.type == "cuda"


def test_setup_on_a_cpu_only_machine_reads_as_before(monkeypatch):
    import gptedu

    monkeypatch.delenv("GPTEDU_DEVICE", raising=False)
    session = gptedu.setup(seed=0, threads=1)
    if session.accelerator is None:  # this machine: what every committed notebook prints
        assert repr(session).endswith("device cpu, 1 thread, seed 0")
