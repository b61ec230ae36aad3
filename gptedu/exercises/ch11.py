"""Chapter 11's build exercises: a run's training compute (Kaplan's C), FLOPs in PF-days, the compute-efficient
frontier, and a power law L = a·C^-b fitted in log space (`gptedu.scaling`)."""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..config import preset
from ..model import count_params
from .core import Case, Exercise, Mistake, compare_floats, describe_type, register, short_repr


# ---------------------------------------------------------------------- Kaplan's training compute
def my_flops(config, tokens):
    n = count_params(config, non_embedding=True)
    return 6 * n * tokens + 6 * config.n_layer * config.block_size * config.n_embd * tokens


def _flops_all_params(config, tokens):
    n = count_params(config)
    return 6 * n * tokens + 6 * config.n_layer * config.block_size * config.n_embd * tokens


def _flops_6nd_only(config, tokens):
    return 6 * count_params(config, non_embedding=True) * tokens


def _flops_forward_only(config, tokens):
    n = count_params(config, non_embedding=True)
    return 2 * n * tokens + 2 * config.n_layer * config.block_size * config.n_embd * tokens


def _family_config(name):
    from ..family import SIZES, config_for
    return config_for(SIZES[name])


def _run_flops(fn, case):
    config_name, tokens = case.args
    config = preset(config_name) if config_name.startswith("gpt3") else _family_config(config_name)
    out = fn(config, tokens)
    return float(out) if isinstance(out, numbers.Real) and not isinstance(out, bool) else out


register(Exercise(
    id="my_flops", chapter="11", name="my_flops", solution_name="my_flops_solution",
    title="a run's training compute",
    reference=my_flops, run=_run_flops,
    compare=lambda e, g: compare_floats(float(e), g, rel=1e-9, what="the FLOPs"),
    cases=lambda: [
        Case("the family's 389k model, 8,000,000 tokens (its whole run)", ("389k", 8_000_000)),
        Case("the 13k model, one token", ("13k", 1)),
        Case("GPT-3 Small (context 2048), 300B tokens", ("gpt3-small", 300e9)),
    ],
    hint="N = count_params(config, non_embedding=True); return 6 * N * tokens + 6 * n_layer * n_ctx * d_model * "
         "tokens, with n_ctx = config.block_size and d_model = config.n_embd.",
    mistakes=[
        Mistake("N counts every parameter, the embeddings too", _flops_all_params,
                "Kaplan's N leaves out the embeddings (a lookup is no multiply): "
                "count_params(config, non_embedding=True)."),
        Mistake("the attention term is left out: 6ND alone", _flops_6nd_only,
                "add 6 * n_layer * n_ctx * d_model per token: the scores QK^T and the sum AV, which no "
                "parameter stands for."),
        Mistake("2ND: the forward pass only", _flops_forward_only,
                "training is forward (2 per weight and token) plus backward (4): 6, for both terms."),
    ],
))


# ---------------------------------------------------------------------- FLOPs in PF-days
def my_pf_days(flops):
    return flops / (1e15 * 24 * 3600)


def _pf_hours(flops):
    return flops / (1e15 * 3600)


def _pf_days_without_seconds(flops):
    return flops / (1e15 * 24)


def _tf_days(flops):
    return flops / (1e12 * 24 * 3600)


def _run_pf(fn, case):
    return [fn(flops) for flops in case.args[0]]


register(Exercise(
    id="my_pf_days", chapter="11", name="my_pf_days", solution_name="my_pf_days_solution",
    title="FLOPs in petaflop/s-days",
    reference=my_pf_days, run=_run_pf,
    compare=lambda e, g: compare_floats(e, g, rel=1e-9, what="the PF-days"),
    cases=lambda: [
        Case("one PF-day's worth of FLOPs, 8.64e19", ([8.64e19],)),
        Case("GPT-3 175B's 6ND, 3.14e23 FLOPs, and GPT-3 Small's, 2.25e20", ([3.14e23, 2.25e20],)),
        Case("the family's smallest and largest runs (about 1e12 and 8e13 FLOPs), and 0", ([1.03e12, 7.8e13, 0.0],)),
    ],
    hint="a petaflop/s-day is 10^15 FLOPs every second for a day of 24 * 3600 seconds: divide by 8.64e19.",
    mistakes=[
        Mistake("it divides by a petaflop/s-hour (1e15 * 3600), not a day", _pf_hours,
                "a day has 24 * 3600 = 86,400 seconds."),
        Mistake("a day counted as 24 seconds: the 3,600 seconds of an hour are missing", _pf_days_without_seconds,
                "petaflop/s is per second: 1e15 * 24 * 3600."),
        Mistake("teraflop/s-days (1e12), not petaflop/s-days (1e15)", _tf_days,
                "peta is 10^15; tera is 10^12."),
    ],
))


# ---------------------------------------------------------------------- the compute-efficient frontier
def my_frontier(C, L):
    C, L = np.asarray(C, dtype=float), np.asarray(L, dtype=float)
    keep = np.zeros(len(C), dtype=bool)
    best = math.inf
    for i in np.lexsort((L, C)):  # by compute; at equal compute, the lower loss first
        if L[i] < best:
            keep[i], best = True, L[i]
    return keep


def _frontier_given_order(C, L):
    keep, best = np.zeros(len(C), dtype=bool), math.inf
    for i in range(len(C)):
        if L[i] < best:
            keep[i], best = True, L[i]
    return keep


def _frontier_ties_kept(C, L):
    C, L = np.asarray(C, dtype=float), np.asarray(L, dtype=float)
    keep, best = np.zeros(len(C), dtype=bool), math.inf
    for i in np.argsort(C, kind="stable"):
        if L[i] <= best:
            keep[i], best = True, L[i]
    return keep


def _frontier_compute_only(C, L):
    C, L = np.asarray(C, dtype=float), np.asarray(L, dtype=float)
    keep, best = np.zeros(len(C), dtype=bool), math.inf
    for i in np.argsort(C, kind="stable"):
        if L[i] < best:
            keep[i], best = True, L[i]
    return keep


def _family_points():
    from ..scaling import curve_points, load_runs
    C, L, _ = curve_points(load_runs())
    return C.tolist(), L.tolist()


def _frontier_cases():
    return [
        Case("6 points in order of compute, losses 5, 4, 4.5, 4, 3, 3.2", ([1, 2, 3, 4, 5, 6], [5, 4, 4.5, 4, 3, 3.2])),
        Case("the same points, shuffled", ([4, 1, 6, 3, 5, 2], [4, 5, 3.2, 4.5, 3, 4])),
        Case("two runs measured at the same compute 2, the worse one listed first",
             ([1, 2, 2, 3], [3.0, 2.8, 2.5, 2.6])),
        Case("one point", ([1e-8], [2.9])),
        Case("the family's 60 logged points (section 2), run after run", _family_points()),
    ]


def _compare_mask(expected, got):
    want = [bool(v) for v in np.asarray(expected)]
    try:
        arr = np.asarray(got)
    except Exception:  # noqa: BLE001
        arr = None
    if arr is None or arr.dtype != bool or arr.shape != (len(want),):
        return (f"the frontier: expected a boolean mask of {len(want)} entries (True on the frontier), got "
                f"{describe_type(got)}")
    have = arr.tolist()
    if have != want:
        wrong = [i for i, (w, h) in enumerate(zip(want, have)) if w != h]
        which = lambda m: [i for i, v in enumerate(m) if v]  # noqa: E731
        return (f"the frontier: {len(wrong)} of {len(want)} points differ (first: point {wrong[0]}); expected the "
                f"points {short_repr(which(want), 50)} on it, got {short_repr(which(have), 50)}")
    return None


register(Exercise(
    id="my_frontier", chapter="11", name="my_frontier", solution_name="my_frontier_solution",
    title="the compute-efficient frontier",
    reference=my_frontier, cases=_frontier_cases, compare=_compare_mask,
    hint="visit the points in order of compute (at equal compute, lower loss first: np.lexsort((L, C))); keep a "
         "point when its loss is below the lowest seen so far.",
    mistakes=[
        Mistake("the points are walked in the order given, not in order of compute", _frontier_given_order,
                "'with that much compute or less': sort by compute first (the family's points come run after "
                "run)."),
        Mistake("a point that only equals the best loss so far is kept", _frontier_ties_kept,
                "a point is on the frontier when it beats every point of less compute: L < best, not <=."),
        Mistake("at equal compute the points stay in the order given, so the worse one can be kept",
                _frontier_compute_only,
                "two points of the same compute: only the lower loss is on the frontier; sort by compute, then "
                "by loss (np.lexsort((L, C)))."),
    ],
))


# ---------------------------------------------------------------------- L = a·C^-b, fitted in log space
def my_power_law_fit(C, L):
    slope, intercept = np.polyfit(np.log(C), np.log(L), 1)
    return math.exp(intercept), -slope


def _fit_intercept(C, L):
    slope, intercept = np.polyfit(np.log(C), np.log(L), 1)
    return intercept, -slope


def _fit_slope_sign(C, L):
    slope, intercept = np.polyfit(np.log(C), np.log(L), 1)
    return math.exp(intercept), slope


def _fit_swapped(C, L):
    slope, intercept = np.polyfit(np.log(L), np.log(C), 1)  # log C = intercept + slope·log L, turned around
    return math.exp(-intercept / slope), -1 / slope


def _fit_linear_L(C, L):
    slope, intercept = np.polyfit(np.log(C), np.asarray(L, dtype=float), 1)
    return math.exp(intercept), -slope


def _run_fit(fn, case):
    out = fn(*case.args)
    try:
        a, b = out
        return [float(a), float(b)]
    except (TypeError, ValueError):
        return out


def _law_points(a, b, n, noise, seed):
    rng = np.random.default_rng(seed)
    C = np.geomspace(1e-8, 1e-6, n)
    return C.tolist(), (a * C ** -b * np.exp(rng.normal(0, noise, n))).tolist()


def _family_frontier():
    C, L = _family_points()
    keep = my_frontier(C, L)
    return np.asarray(C)[keep].tolist(), np.asarray(L)[keep].tolist()


register(Exercise(
    id="my_power_law_fit", chapter="11", name="my_power_law_fit", solution_name="my_power_law_fit_solution",
    title="a power law fitted in log space",
    reference=my_power_law_fit, run=_run_fit,
    compare=lambda e, g: compare_floats(e, g, rel=1e-6, what="(a, b)"),
    cases=lambda: [
        Case("8 points exactly on GPT-3's law, L = 2.57·C^-0.048", _law_points(2.57, 0.048, 8, 0.0, 0)),
        Case("12 points near L = 0.9·C^-0.05, with 1% noise", _law_points(0.9, 0.05, 12, 0.01, 1)),
        Case("two points: the line through them", ([1e-8, 1e-7], [2.6, 2.3])),
        Case("the family's frontier (section 2's 20 points)", _family_frontier()),
    ],
    hint="log L = log a - b·log C is a straight line: slope, intercept = np.polyfit(np.log(C), np.log(L), 1); "
         "then a = exp(intercept) and b = -slope.",
    mistakes=[
        Mistake("a is the intercept itself, not exp(intercept)", _fit_intercept,
                "the line's intercept is log a: a = math.exp(intercept)."),
        Mistake("b has the slope's sign: b is minus the slope", _fit_slope_sign,
                "L = a·C^-b falls with C, so the slope of log L on log C is -b: b = -slope (a positive number)."),
        Mistake("log C is regressed on log L (np.polyfit's x and y swapped)", _fit_swapped,
                "np.polyfit(x, y, 1) fits y from x: x = log C, y = log L. Least squares on the other axis is "
                "another line unless the points lie exactly on one."),
        Mistake("L itself, not log L, is fitted against log C", _fit_linear_L,
                "a power law is a straight line only in log-log: take np.log of L too."),
    ],
))
