import pytest

import math

import torch

from gptedu.checks import OutOfBand, expect, expect_close


def test_in_band_prints_value_and_band(capsys):
    expect(1.523, 1.3, 1.7, "val loss", unit="nats/char")
    assert capsys.readouterr().out == "val loss: 1.52 nats/char (expected 1.30–1.70) ✓\n"


def test_out_of_band_raises_with_advice():
    with pytest.raises(OutOfBand, match="outside the expected range.*Restart and Run All"):
        expect(2.0, 1.3, 1.7, "val loss")


def test_expect_close_prints_the_bound_not_the_gap(capsys):
    a = torch.tensor([1.0, 2.0, 3.0])
    expect_close(a + 3e-6, a, atol=1e-5, what="ours vs HF")
    assert capsys.readouterr().out == "ours vs HF: max |difference| < 1e-05 ✓\n"


@pytest.mark.parametrize("gap", [1e-5, 2e-4, math.nan])
def test_expect_close_raises_at_or_above_the_bound_and_on_nan(gap):
    a = torch.zeros(4, dtype=torch.float64)
    with pytest.raises(OutOfBand, match="ours vs HF: max \\|difference\\| is"):
        expect_close(a + gap, a, atol=1e-5, what="ours vs HF")


def test_expect_close_refuses_different_shapes():
    with pytest.raises(OutOfBand, match=r"shapes differ, \(2, 3\) vs \(3, 2\)"):
        expect_close(torch.zeros(2, 3), torch.zeros(3, 2), atol=1e-5, what="x")
