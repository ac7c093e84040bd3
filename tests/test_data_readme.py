"""data/README.md states the same checksums the loader verifies."""

from pathlib import Path

from d2lzh_pytorch.data import RESOURCES

README = Path(__file__).resolve().parent.parent / "data" / "README.md"


def test_readme_lists_every_checksum():
    text = README.read_text(encoding="utf-8")
    for name, files in RESOURCES.items():
        for stem, sha256 in files.items():
            assert f"| `{name}/raw/{stem}.gz` | `{sha256}` |" in text
