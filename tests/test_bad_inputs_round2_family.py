"""Issue 29, item 5: gptedu.family says what is wrong with a folder or its manifest, and names a bad device.

A damaged manifest.json names the file and what is wrong; a wrong folder is called wrong (not "not shipped
... train it"), and family_members never answers [] for a folder that is not a family folder.
"""
import json

import pytest

from gptedu.checkpoints import CheckpointError
from gptedu.family import family_members, load_family, manifest
from gptedu.scaling import load_runs

GOOD = {"13k": {"file": "13k.pt", "sha256": "0" * 64}}


@pytest.mark.parametrize("text, pattern", [
    ("", r"manifest\.json is damaged: it is not valid JSON"),
    ('{"13k": {"file": "13k.pt", "sha256"', r"manifest\.json is damaged: it is not valid JSON"),
    (b"\xff\xfe{}", r"manifest\.json is damaged: it is not valid JSON"),
    ("[]", r"manifest\.json is damaged: it holds a list, not a dict"),
    ('{"13k": "13k.pt"}', r"manifest\.json is damaged: the entry '13k' has no 'file'"),
    ('{"13k": {"sha256": "' + "0" * 64 + '"}}', r"manifest\.json is damaged: the entry '13k' has no 'file'"),
    ('{"13k": {"file": "../../etc/passwd", "sha256": "' + "0" * 64 + '"}}', r"the entry '13k' has no 'file'"),
    ('{"13k": {"file": "13k.pt"}}', r"manifest\.json is damaged: the entry '13k' has no 'sha256' \(64 hex"),
    ('{"13k": {"file": "13k.pt", "sha256": "abc"}}', r"the entry '13k' has no 'sha256'"),
])
def test_a_damaged_manifest_names_the_file_and_what_is_wrong(tmp_path, text, pattern):
    path = tmp_path / "manifest.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    for call in (lambda: manifest(tmp_path), lambda: family_members(tmp_path), lambda: load_family("13k", folder=tmp_path)):
        with pytest.raises(CheckpointError, match=pattern):
            call()


@pytest.mark.parametrize("kind", ["missing", "empty", "file"])
def test_a_wrong_folder_is_called_wrong_and_never_gives_an_empty_list(tmp_path, kind):
    folder = tmp_path / "fam"
    if kind == "empty":
        folder.mkdir()
    elif kind == "file":
        folder.write_text("x")
    what = {"missing": "does not exist", "empty": "holds no manifest.json", "file": "is a file, not a folder"}[kind]
    pattern = rf"folder='.*fam' {what}: it is not a family folder\. The shipped family is in"
    for call in (lambda: family_members(folder), lambda: manifest(folder), lambda: load_runs(folder),
                 lambda: load_family("13k", folder=folder)):
        with pytest.raises(CheckpointError, match=pattern) as caught:
            call()
        assert "train_family --sizes" not in str(caught.value)  # not "train it": the folder is wrong


def test_the_not_shipped_message_stays_for_a_real_family_folder(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps(GOOD))
    assert family_members(tmp_path) == ["13k"]
    with pytest.raises(CheckpointError, match=r"Family member '38k' is not shipped in .* \(shipped: 13k\)"):
        load_family("38k", folder=tmp_path)


@pytest.mark.parametrize("device", ["gpu", "cuda:one", 3])
def test_an_unknown_device_is_named_before_anything_is_read(device):
    with pytest.raises(ValueError, match=r"device=.*(cuda, mps, cpu)"):
        load_family("13k", device=device)


def test_folder_of_the_wrong_type():
    with pytest.raises(TypeError, match="folder must be a folder path .* got int"):
        manifest(3)
