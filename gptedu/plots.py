"""Small plotting helpers the chapters share.

    >>> show_char("\\n"), show_char(" "), show_char("a")
    ('⏎', '␣', 'a')
    >>> round(nats_to_bits(math.log(2)), 6)
    1.0

Losses in the course are in nats (natural log, what F.cross_entropy returns);
`bits_axis(ax)` adds a second y axis in bits (1 bit = ln 2 nats) to a loss plot.
"""
from __future__ import annotations

import math

LN2 = math.log(2)

# Characters that would be invisible or break a tick label, shown as a visible symbol.
VISIBLE = {" ": "␣", "\n": "⏎", "\t": "⇥", "\r": "␍"}


def show_char(ch: str) -> str:
    """A character as a readable label: space '␣', newline '⏎', tab '⇥'; other characters as themselves."""
    return VISIBLE.get(ch, ch)


def nats_to_bits(nats):
    """A loss (or an array of them) in nats, in bits: divide by ln 2."""
    return nats / LN2


def bits_to_nats(bits):
    return bits * LN2


def bits_axis(ax, label: str = "bits per character"):
    """Add a right-hand y axis in bits to `ax`, whose y values are losses in nats; returns the new axis."""
    ax.spines["right"].set_visible(False)
    sec = ax.secondary_yaxis("right", functions=(nats_to_bits, bits_to_nats))
    sec.set_ylabel(label)
    sec.spines["right"].set_visible(True)
    return sec
