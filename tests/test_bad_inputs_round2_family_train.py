"""Issue 29, item 2, found by the audit: gptedu.family.train_size (the function the family scripts train with)
checks both its folders before the first step.

It made out_dir and state_dir with mkdir and wrote the weights to out_dir only at the end, so an out_dir that
could not be written (with the training state elsewhere) trained the whole run and then lost it; a file in
the way gave a raw FileExistsError naming neither argument. Now each is test-written first and a bad one is a
ValueError naming the argument, before any data is read or step taken (the scripts check theirs too:
tests/test_bad_inputs_round2_scripts.py).
"""
import dataclasses

import pytest

from gptedu import family
from gptedu.family import RECIPE, SIZES, train_size
from tests.test_bad_inputs_round2_checks import unwritable_folder

RECIPE_4 = dataclasses.replace(RECIPE, tokens=4 * 2 * 256, batch_size=2, log_points=3, eval_iters=1)


@pytest.fixture
def no_data(monkeypatch):
    """Reading the corpus fails the test: the folders must be checked first."""
    def refuse(*args, **kwargs):
        raise AssertionError("the corpus was read before the output folders were checked")
    monkeypatch.setattr(family, "training_tokens", refuse)
    monkeypatch.setattr(family, "validation_tokens", refuse)


def test_a_file_in_the_way_is_named(tmp_path, no_data):
    blocker = tmp_path / "runs"
    blocker.write_text("keep me")
    with pytest.raises(ValueError, match=r"^out_dir='.*runs/family': '.*runs' is a file, not a folder.*Nothing was run"):
        train_size(SIZES["13k"], RECIPE_4, blocker / "family", progress=False)
    with pytest.raises(ValueError, match=r"^state_dir='.*runs/state': '.*runs' is a file, not a folder"):
        train_size(SIZES["13k"], RECIPE_4, tmp_path / "out", progress=False, state_dir=blocker / "state")
    assert blocker.read_text() == "keep me"


def test_an_out_dir_that_cannot_be_written_is_refused_before_training(tmp_path, no_data):
    folder = unwritable_folder(tmp_path)  # it exists, so mkdir(exist_ok=True) alone let the run start
    with pytest.raises(ValueError, match=r"^out_dir='.*': the folder '.*' cannot be written.*Nothing was run"):
        train_size(SIZES["13k"], RECIPE_4, folder, progress=False, state_dir=tmp_path / "state")
    assert not list((tmp_path / "state").glob("*.pt"))  # no step was taken
