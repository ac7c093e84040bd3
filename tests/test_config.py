"""Quick mode and build switches read from the environment."""

import pytest

import d2lzh_pytorch as d2l


@pytest.mark.parametrize("value, quick", [("1", True), ("true", True), ("0", False), ("", False)])
def test_quick_mode_values(monkeypatch, value, quick):
    monkeypatch.setenv("BN_BOOK_QUICK", value)
    assert d2l.quick_mode() is quick
    assert d2l.pick(full=10, quick=1) == (1 if quick else 10)


def test_unset_means_full(monkeypatch):
    monkeypatch.delenv("BN_BOOK_QUICK", raising=False)
    assert d2l.pick(full="full", quick="quick") == "full"


def test_unclear_value_is_an_error(monkeypatch):
    monkeypatch.setenv("BN_BOOK_BUILD", "maybe")
    with pytest.raises(ValueError, match="BN_BOOK_BUILD='maybe' is not understood"):
        d2l.building_book()
