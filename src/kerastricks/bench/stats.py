"""Intervals and verdicts for a bench's paired comparisons, and the ``--repeat auto`` stopping rule.

A ratio (variant / baseline) is measured once per pair of runs: same seed,
same repetition, run one after the other. Ratios are multiplicative, so the
interval is taken on their logarithms: the mean log ratio with a Student-t
interval (``level``, default 95 %) over the pairs, exponentiated. Its centre
is the geometric mean of the per-pair ratios. With fewer than two pairs there
is no interval.

A ratio's verdict compares its interval with the band ``1 ± noise``, where
``noise`` is what an A/A bench (two identical variants) shows on the machine
(default 0.05, see ``docs/bench.md``):

- ``higher`` / ``lower``: the whole interval lies above ``1 + noise`` / below
  ``1 - noise``: a difference larger than the harness's own noise;
- ``within noise``: the whole interval lies inside the band: any difference is
  smaller than the harness can show;
- ``inconclusive``: the interval crosses an edge of the band (or there is no
  interval): more pairs are needed to say either.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

LEVEL = 0.95
DEFAULT_NOISE = 0.05
#: Figures whose verdicts decide when ``--repeat auto`` has enough pairs.
SPEED_KEYS = ("examples_per_s", "cpu_per_example")
VERDICTS = ("higher", "lower", "within noise", "inconclusive")


def _t_quantile(p: float, df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(p, df))


def ratio_interval(ratios: Iterable[float], level: float = LEVEL) -> dict[str, Any] | None:
    """Geometric mean of paired ratios and its Student-t interval (on log ratios).

    Returns ``{"center", "low", "high", "n", "level"}``, or ``None`` with fewer
    than two finite, positive ratios.
    """
    logs = [math.log(r) for r in ratios if isinstance(r, (int, float)) and math.isfinite(r) and r > 0]
    n = len(logs)
    if n < 2:
        return None
    mean, sd = statistics.fmean(logs), statistics.stdev(logs)
    half = _t_quantile(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return {"center": math.exp(mean), "low": math.exp(mean - half), "high": math.exp(mean + half), "n": n,
            "level": level}


def difference_interval(deltas: Iterable[float], level: float = LEVEL) -> dict[str, Any] | None:
    """Mean of paired differences (test metrics) and its Student-t interval; ``None`` under two pairs."""
    values = [float(d) for d in deltas if isinstance(d, (int, float)) and math.isfinite(d)]
    n = len(values)
    if n < 2:
        return None
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    half = _t_quantile(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return {"center": mean, "low": mean - half, "high": mean + half, "n": n, "level": level}


def verdict(interval: dict[str, Any] | None, noise: float = DEFAULT_NOISE) -> str:
    """``higher``, ``lower``, ``within noise`` or ``inconclusive`` (see the module docstring)."""
    if interval is None:
        return "inconclusive"
    low, high = interval["low"], interval["high"]
    if low > 1 + noise:
        return "higher"
    if high < 1 - noise:
        return "lower"
    if low >= 1 - noise and high <= 1 + noise:
        return "within noise"
    return "inconclusive"


def settled(variants: Sequence[dict[str, Any]], keys: Sequence[str] = SPEED_KEYS) -> bool:
    """True when every non-baseline variant's verdict on ``keys`` (those it has) is decided.

    ``variants`` are :func:`kerastricks.bench.summary.summarize` entries.
    """
    for entry in variants:
        if entry["baseline"]:
            continue
        verdicts = [entry["verdict"][k] for k in keys if k in entry["verdict"]]
        if not verdicts or "inconclusive" in verdicts:
            return False
    return True


def stop_reason(variants: Sequence[dict[str, Any]], *, elapsed: float, round_seconds: float, budget: float,
                rounds: int, max_rounds: int) -> str | None:
    """Why ``--repeat auto`` stops after ``rounds`` complete rounds, or ``None`` to run another.

    In this order: every speed verdict is decided (``"settled"``); another
    round, as long as the rounds so far took on average (``round_seconds``),
    would end past ``budget`` seconds (``"budget"``); ``max_rounds`` reached.
    """
    if settled(variants):
        return "settled"
    if elapsed + round_seconds > budget:
        return "budget"
    if rounds >= max_rounds:
        return "max rounds"
    return None


__all__ = ["DEFAULT_NOISE", "LEVEL", "SPEED_KEYS", "VERDICTS", "difference_interval", "ratio_interval", "settled",
           "stop_reason", "verdict"]
