"""The tested versions live in requirements.txt; environment.yml must install the very same."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pins(text: str) -> dict[str, str]:
    found = re.findall(r"^\s*(?:-\s+)?([A-Za-z0-9_.\-]+)==([^\s#]+)", text, flags=re.MULTILINE)
    return {name.lower(): version for name, version in found}


def test_requirements_pin_every_package_exactly():
    lines = [l.strip() for l in (ROOT / "requirements.txt").read_text().splitlines()]
    packages = [l for l in lines if l and not l.startswith("#")]
    assert packages, "requirements.txt lists no packages"
    unpinned = [l for l in packages if "==" not in l]
    assert not unpinned, f"unpinned in requirements.txt: {unpinned}"
    assert pins("\n".join(packages))["torch"] == "2.13.0"


def test_environment_yml_matches_requirements():
    req = pins((ROOT / "requirements.txt").read_text())
    env = pins((ROOT / "environment.yml").read_text())
    assert env == req


def test_installed_versions_are_the_pinned_ones():
    from importlib.metadata import version

    for name, pinned in pins((ROOT / "requirements.txt").read_text()).items():
        assert version(name).split("+")[0] == pinned, name
