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


@pytest.mark.parametrize("condition", [0.42, float("nan"), "False", "", 1, None, [True], object()])
def test_a_truthy_value_is_not_a_test(monkeypatch, condition):
    monkeypatch.setenv("BN_BOOK_QUICK", "0")
    with pytest.raises(TypeError, match="True or False"):
        d2l.claim(condition, "BN 更好")


def test_a_result_object_is_not_a_test(monkeypatch):
    monkeypatch.setenv("BN_BOOK_QUICK", "1")  # checked in quick mode too: quick builds catch it
    d = d2l.paired_diff([0.9, 0.8, 0.85], [0.7, 0.75, 0.7])
    with pytest.raises(TypeError, match="True or False"):
        d2l.claim(d, "BN 更好")


def test_bools_of_every_kind_are_accepted(monkeypatch):
    import numpy as np
    import torch

    monkeypatch.setenv("BN_BOOK_QUICK", "0")
    for condition in (True, np.bool_(True), np.array([True]), torch.tensor(True), torch.tensor([True])):
        assert d2l.claim(condition, "x").holds
    for condition in (np.float64(1.0) > 0, torch.tensor([1.0, 2.0]).lt(3).all()):
        assert d2l.claim(condition, "x").holds


def test_a_claims_log_records_every_claim_and_raises_none(monkeypatch, tmp_path):
    import json

    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv("BN_BOOK_QUICK", "0")
    monkeypatch.setenv("BN_BOOK_CLAIMS", str(log))
    first = d2l.claim(False, "BN 更快", evidence="1.02x")
    second = d2l.claim(True, "BN 更稳")
    assert not first.holds and second.holds
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert records == [
        {"statement": "BN 更快", "holds": False, "evidence": "1.02x", "checked": True},
        {"statement": "BN 更稳", "holds": True, "evidence": "", "checked": True},
    ]
    with pytest.raises(TypeError):  # a bad condition still raises, log or not
        d2l.claim(0.5, "x")
