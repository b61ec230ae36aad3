import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gptedu.plots import bits_axis, bits_to_nats, nats_to_bits, show_char  # noqa: E402


def test_show_char_makes_whitespace_visible():
    assert [show_char(c) for c in " \n\tA;"] == ["␣", "⏎", "⇥", "A", ";"]


def test_nats_and_bits_convert_both_ways():
    assert nats_to_bits(math.log(2)) == 1.0
    assert math.isclose(nats_to_bits(math.log(84)), math.log2(84))
    x = np.array([0.5, 1.5, 4.43])
    np.testing.assert_allclose(bits_to_nats(nats_to_bits(x)), x)


def test_bits_axis_shows_the_same_range_in_bits():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1.0, 3.0])
    sec = bits_axis(ax)
    fig.canvas.draw()
    assert sec.get_ylabel() == "bits per character"
    np.testing.assert_allclose(sec.get_ylim(), np.array(ax.get_ylim()) / math.log(2))
    plt.close(fig)
