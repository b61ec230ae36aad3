"""Issue 29, item 7: one shared way to check arguments (gptedu.checks), messages that read alike.

Every check names the argument, repeats the value given and says what is allowed; the output-location
checks (item 2) refuse a file where a folder should be and a folder that cannot be written.
"""
import os
from pathlib import Path

import numpy as np
import pytest

from gptedu import checks
from gptedu.checks import (check_output_file, check_output_folder, require_bool, require_choice, require_int,
                           require_number, require_probability, require_range, require_str)


@pytest.mark.parametrize("call, pattern", [
    (lambda: require_int("n_layer", 0), r"^n_layer=0 must be a positive integer\.$"),
    (lambda: require_int("n_layer", True), r"^n_layer=True must be a positive integer\.$"),
    (lambda: require_int("n_layer", 2.0), r"^n_layer=2\.0 must be a positive integer\.$"),
    (lambda: require_int("warmup", -1, minimum=0), r"^warmup=-1 must be an integer >= 0\.$"),
    (lambda: require_int("seed", 10**7, 0, maximum=10**6), r"^seed=10000000 must be a whole number from 0 to 1,000,000\.$"),
    (lambda: require_int("k", "3", 0, maximum=8), r"^k='3' must be a whole number from 0 to 8\.$"),
    (lambda: require_number("lr", float("nan"), positive=True), r"^lr=nan must be a finite number > 0\.$"),
    (lambda: require_range("temperature", 0, 0.1, 2.0), r"^temperature=0 must be a number from 0\.1 to 2\.$"),
    (lambda: require_range("dropout_p", 1.0, 0, 1, high_open=True), r"^dropout_p=1\.0 must be a number in \[0, 1\)\.$"),
    (lambda: require_range("x", float("nan"), 0, 1), r"^x=nan must be a number from 0 to 1\.$"),
    (lambda: require_probability("description_prob", 1.5), r"^description_prob=1\.5 must be a number from 0 to 1\.$"),
    (lambda: require_bool("greedy", "no"), r"^greedy='no' must be True or False\.$"),
    (lambda: require_choice("task", "mapin", ("mapping", "cycle")),
     r"^task='mapin' is not one of 'mapping', 'cycle'\. Did you mean 'mapping'\?$"),
    (lambda: require_choice("task", ["mapping"], ("mapping",)), r"^task=\['mapping'\] is not one of 'mapping'\.$"),
    (lambda: require_str("prompt", ""), r"^prompt is empty"),
])
def test_each_check_names_the_argument_the_value_and_what_is_allowed(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_checks_return_plain_values():
    assert type(require_int("n", np.int64(3))) is int
    assert require_bool("b", np.bool_(True)) is True
    assert require_range("t", np.float32(0.5), 0, 1) == 0.5
    assert require_choice("c", "a", ("a", "b")) == "a"
    with pytest.raises(TypeError, match="prompt must be a str; got int 5"):
        require_str("prompt", 5)


def test_the_config_module_uses_the_shared_checks():
    import gptedu.config as config
    assert config.require_int is checks.require_int and config.require_bool is checks.require_bool


# ---------------------------------------------------------------- where results go (item 2's helper)
def test_output_checks_refuse_a_file_where_a_folder_should_be(tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match=r"^--out='.*results/run': '.*results' is a file, not a folder"):
        check_output_folder(blocker / "run", "--out")
    with pytest.raises(ValueError, match=r"^--out='.*results/x\.json': '.*results' is a file"):
        check_output_file(blocker / "x.json", "--out")
    with pytest.raises(ValueError, match=r"^--out='.*' is a folder; give a file name inside it"):
        check_output_file(tmp_path, "--out")
    assert blocker.read_text() == "not a folder"


def test_output_checks_make_the_folder_and_leave_nothing_else(tmp_path):
    out = check_output_file(tmp_path / "a" / "b" / "r.json", "--out")
    assert out == tmp_path / "a" / "b" / "r.json" and list((tmp_path / "a" / "b").iterdir()) == []
    assert check_output_folder(tmp_path / "c", "--out").is_dir()


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write in: a read-only one, or (as root, who writes anywhere) /sys."""
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    if Path("/sys").is_dir() and not os.access("/sys", os.W_OK | os.X_OK) or _write_fails(Path("/sys")):
        return Path("/sys")
    pytest.skip("no folder here that this process cannot write")


def _write_fails(folder: Path) -> bool:
    try:
        (folder / ".gptedu-probe").open("x").close()
    except OSError:
        return True
    (folder / ".gptedu-probe").unlink()
    return False


def test_output_checks_refuse_a_folder_that_cannot_be_written(tmp_path):
    folder = unwritable_folder(tmp_path)
    with pytest.raises(ValueError, match=r"^--out='.*': the folder '.*' cannot be written"):
        check_output_folder(folder / "run", "--out")
    with pytest.raises(ValueError, match=r"^--out='.*r\.json': the folder '.*' cannot be written"):
        check_output_file(folder / "r.json", "--out")
