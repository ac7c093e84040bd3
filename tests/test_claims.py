"""Claims bind the prose to the data: enforced in the full book, reported in quick mode."""

import pytest

import d2lzh_pytorch as d2l


def test_a_true_claim_holds_and_says_so(monkeypatch):
    monkeypatch.setenv("BN_BOOK_QUICK", "0")
    c = d2l.claim(3 > 2, "BN 模型在每个种子上都更好", evidence="+3.1 pp, CI [1.2, 5.0]")
    assert c.holds and c.checked
    assert "holds" in c._repr_markdown_() and "BN 模型在每个种子上都更好" in c._repr_markdown_()
    assert "+3.1 pp" in str(c)


def test_a_false_claim_fails_the_full_book(monkeypatch):
    monkeypatch.setenv("BN_BOOK_QUICK", "0")
    with pytest.raises(d2l.ClaimFailed, match="BN 更快.*evidence: 1.02x"):
        d2l.claim(False, "BN 更快", evidence="1.02x")


def test_quick_mode_only_reports(monkeypatch):
    monkeypatch.setenv("BN_BOOK_QUICK", "1")
    c = d2l.claim(False, "BN 更快", evidence="1.02x")
    assert not c.holds and not c.checked
    assert "not checked" in str(c) and "does not hold" in str(c)


def test_claims_need_a_statement_and_a_truth_value(monkeypatch):
    monkeypatch.setenv("BN_BOOK_QUICK", "0")
    with pytest.raises(ValueError, match="statement"):
        d2l.claim(True, "  ")
    import torch

    with pytest.raises(TypeError, match="True or False"):
        d2l.claim(torch.tensor([True, False]), "two values")


def test_markdown_escapes_html(monkeypatch):
    monkeypatch.setenv("BN_BOOK_QUICK", "0")
    assert "&lt;b&gt;" in d2l.claim(True, "<b>x</b>")._repr_markdown_()
