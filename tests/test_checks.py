import pytest

from gptedu.checks import OutOfBand, expect


def test_in_band_prints_value_and_band(capsys):
    expect(1.523, 1.3, 1.7, "val loss", unit="nats/char")
    assert capsys.readouterr().out == "val loss: 1.52 nats/char (expected 1.30–1.70) ✓\n"


def test_out_of_band_raises_with_advice():
    with pytest.raises(OutOfBand, match="outside the expected range.*Restart and Run All"):
        expect(2.0, 1.3, 1.7, "val loss")
