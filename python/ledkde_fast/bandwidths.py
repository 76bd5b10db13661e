"""Named bandwidth schedules: the smoothing bandwidth as a function h(t) of the diffusion time.

Every smoothed estimator and the sampler accept ``bandwidth=`` as a number or a callable of t; the
schedules here are such callables, with a readable ``repr`` (reports, the command line). Why each
exists (our reasoning, not the paper's):

* :func:`constant` — h at every time: the bandwidth of the LED-KDE as an estimator of its own
  (what :func:`ledkde_fast.select_bandwidth` chooses by held-out denoising score matching).
* :func:`sqrt_time` — h sqrt(t / t_ref): the noise of the forward diffusion at time t has standard
  deviation sqrt(t), so this keeps the ratio of smoothing to noise fixed. The empirical score
  memorises once t falls below the squared spacing of the data; smoothing in proportion to the
  noise spreads each step's mass over the same fraction of the posterior at every time, and fades
  out as t -> 0 instead of blurring the final samples.
* :func:`below` — h below a time t_stop, 0 (the exact score, no kernel draws) above. At large t the
  posterior already spreads over many training points and the exact score does not memorise;
  smoothing matters only near the memorisation time, and the steps above t_stop cost no draws.

Examples
--------
>>> from ledkde_fast import bandwidths
>>> schedule = bandwidths.sqrt_time(0.5, t_ref=0.25)
>>> schedule
sqrt_time(h=0.5, t_ref=0.25)
>>> schedule(0.25), schedule(1.0)
(0.5, 1.0)
>>> bandwidths.below(0.3, t_stop=0.1)(0.5)
0.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._validation import as_bandwidth, as_positive

__all__ = ["BandwidthSchedule", "below", "constant", "sqrt_time"]


@dataclass(frozen=True)
class BandwidthSchedule:
    """A named bandwidth schedule h(t) (make one with :func:`constant`, :func:`sqrt_time` or :func:`below`).

    ``kind`` names the rule, ``h`` is the bandwidth at the reference time and ``time`` the rule's
    time parameter (t_ref or t_stop; None for a constant).
    """

    kind: str
    h: float
    time: float | None = None

    def __call__(self, t: float) -> float:
        """Return the bandwidth at diffusion time ``t`` (>= 0)."""
        if self.kind == "constant":
            return self.h
        assert self.time is not None
        if self.kind == "sqrt_time":
            return self.h * math.sqrt(t / self.time)
        return self.h if t <= self.time else 0.0

    def __repr__(self) -> str:
        """Return the call that makes this schedule, e.g. ``below(h=0.3, t_stop=0.1)``."""
        if self.kind == "constant":
            return f"constant(h={self.h!r})"
        name = "t_ref" if self.kind == "sqrt_time" else "t_stop"
        return f"{self.kind}(h={self.h!r}, {name}={self.time!r})"


def constant(h: float) -> BandwidthSchedule:
    """The same bandwidth at every time.

    Parameters
    ----------
    h : float
        Bandwidth, >= 0 (0: the exact empirical score).

    Returns
    -------
    BandwidthSchedule
        ``t -> h``.

    Raises
    ------
    ValueError
        ``h`` negative or not finite.

    Examples
    --------
    >>> from ledkde_fast import bandwidths
    >>> bandwidths.constant(0.2)(10.0)
    0.2
    """
    return BandwidthSchedule("constant", as_bandwidth(h))


def sqrt_time(h: float, t_ref: float = 1.0) -> BandwidthSchedule:
    """A bandwidth proportional to the noise level: h sqrt(t / t_ref).

    Parameters
    ----------
    h : float
        Bandwidth at ``t_ref``, >= 0.
    t_ref : float
        Reference time, > 0.

    Returns
    -------
    BandwidthSchedule
        ``t -> h * sqrt(t / t_ref)``.

    Raises
    ------
    ValueError
        ``h`` negative or not finite, ``t_ref`` not positive and finite.

    Examples
    --------
    >>> from ledkde_fast import bandwidths
    >>> bandwidths.sqrt_time(1.0, t_ref=4.0)(1.0)
    0.5
    """
    return BandwidthSchedule("sqrt_time", as_bandwidth(h), as_positive(t_ref, "t_ref"))


def below(h: float, t_stop: float) -> BandwidthSchedule:
    """Smoothing only at times t <= t_stop (the exact score, no kernel draws, above).

    Parameters
    ----------
    h : float
        Bandwidth at times up to ``t_stop``, >= 0.
    t_stop : float
        Time above which the bandwidth is 0, > 0.

    Returns
    -------
    BandwidthSchedule
        ``t -> h if t <= t_stop else 0``.

    Raises
    ------
    ValueError
        ``h`` negative or not finite, ``t_stop`` not positive and finite.

    Examples
    --------
    >>> from ledkde_fast import bandwidths
    >>> schedule = bandwidths.below(0.3, t_stop=0.1)
    >>> schedule(0.05), schedule(0.2)
    (0.3, 0.0)
    """
    return BandwidthSchedule("below", as_bandwidth(h), as_positive(t_stop, "t_stop"))
