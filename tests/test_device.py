import pytest
import torch

from gptedu.device import describe_device, pick_device


@pytest.fixture(autouse=True)
def _restore_session_device(monkeypatch):
    """gptedu.setup() sets the package's default device; each test here starts from none and leaves none behind."""
    from gptedu import device

    monkeypatch.setattr(device, "_session_device", None)


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
    monkeypatch.setattr(S, "available_device", lambda: torch.device("cuda"))
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


def test_after_setup_the_package_computes_where_the_session_says(monkeypatch):
    """On a machine with a GPU, setup()'s "cuda found, not used" must be true of the package's defaults too: a
    Trainer or loader given no device (chapter 05's live run) computes on the CPU, not on the GPU it would pick."""
    import gptedu
    from gptedu import device
    from gptedu.config import GPTConfig
    from gptedu.model import GPT
    from gptedu.train import TrainConfig, Trainer

    monkeypatch.delenv("GPTEDU_DEVICE", raising=False)
    real = device._available
    monkeypatch.setattr(device, "_available", lambda name: True if name == "cuda" else real(name))  # a GPU, as seen
    assert device.pick_device().type == "cuda"  # before setup: the first available, as always
    session = gptedu.setup(seed=0, threads=1)
    assert session.device.type == "cpu" and session.accelerator == "cuda"
    assert device.pick_device().type == "cpu" and device.pick_device("cpu").type == "cpu"
    model = GPT(GPTConfig(vocab_size=8, block_size=4, n_layer=1, n_head=1, n_embd=8))
    data = torch.randint(0, 8, (64,))
    assert Trainer(model, data, data, TrainConfig(max_iters=1, warmup_iters=0, progress=False)).device.type == "cpu"
    assert next(model.parameters()).device.type == "cpu"
    monkeypatch.setenv("GPTEDU_DEVICE", "cpu")  # the environment still overrides the session's device
    assert device.pick_device().type == "cpu"
