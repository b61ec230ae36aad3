"""Scaling: compute counted, power laws fitted, a bigger run predicted from smaller ones (chapter 11).

GPT-3 Fig. 3.1 plots validation loss against training compute for eight sizes and fits
L = 2.57 · C^-0.048 (C in PF-days) to the compute-efficient frontier; GPT-4's report (section 3)
fits L(C) = a·C^b + c to small runs and predicts the final loss of the big one before it is
trained. This module does both on the course's model family (gptedu.family), with numpy only:

    training_flops(N, D, ...)   C = 6ND plus the attention term (Kaplan et al. 2020, Table 1)
    step_flops(model, x, y)     torch.utils.flop_counter on one training step (forward + backward)
    load_runs()                 every shipped family run's (compute, val loss) points
    frontier(C, L)              the compute-efficient frontier: points no cheaper point beats
    fit_power_law(C, L)         L = a·C^-b (+ c), least squares on log L
    bootstrap_fit(C, L, ...)    the exponent and a prediction, resampled: percentile intervals
    predict_run(runs, ...)      GPT-4's prediction: fit on runs under a compute limit, predict the
                                held-out run's final loss without reading it (Prediction.reveal reads it)
    choose_setting(runs, ...)   the fit setting picked by backtesting on the smaller runs alone

Compute is in PF-days in the fits, as GPT-3 reports it (1 PF-day = 10^15 FLOP/s for a day).
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .checks import is_real, require_bool, require_int, require_range

PF_DAY = 1e15 * 24 * 3600  # FLOPs in one petaflop/s-day: 8.64e19

# GPT-3 (Brown et al. 2020), Table D.1, "Total train compute (PF-days)" for its eight models, each
# trained on 300B tokens. The table's caption: the count ignores the attention operation.
GPT3_TABLE_D1_PF_DAYS = {"gpt3-small": 2.60, "gpt3-medium": 7.42, "gpt3-large": 15.8, "gpt3-xl": 27.5,
                         "gpt3-2.7b": 55.2, "gpt3-6.7b": 139.0, "gpt3-13b": 268.0, "gpt3-175b": 3640.0}
GPT3_TOKENS = 300e9
GPT3_FIG_3_1 = (2.57, 0.048)  # GPT-3 Fig. 3.1's fit: L = 2.57 * C^-0.048, C in PF-days
KAPLAN_ALPHA_C = 0.050  # Kaplan et al. 2020, eq. 1.3: L(C_min) ~ C_min^-0.050 (compute-efficient frontier)
KAPLAN_ALPHA_N = 0.076  # Kaplan et al. 2020, eq. 1.1: L(N) ~ N^-0.076 (converged, non-embedding N)


# ====================================================================== compute counted
def training_flops(n_params: float, tokens: float, n_layer: int = 0, n_ctx: int = 0, d_model: int = 0
                   ) -> dict[str, float]:
    """Training FLOPs as Kaplan et al. count them: {"C_6ND", "C_attention", "C_total"}.

    Each non-embedding parameter costs 2 FLOPs per token forward (a multiply and an add) and 4
    backward, so 6ND. Attention's scores and weighted sum cost 2·n_layer·n_ctx·d_model per token
    forward (each token attends to n_ctx/2 earlier ones on average under the causal mask, twice:
    QK^T and AV), 6·n_layer·n_ctx·d_model per token for training. Leave n_layer at 0 for 6ND only.
    """
    for name, value in (("n_params", n_params), ("tokens", tokens)):
        if not (is_real(value) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{name}={value!r} must be a number >= 0 (and finite).")
    for name, value in (("n_layer", n_layer), ("n_ctx", n_ctx), ("d_model", d_model)):
        require_int(name, value, minimum=0, hint=" (0 leaves the attention term out)")
    base = 6.0 * n_params * tokens
    attention = 6.0 * n_layer * n_ctx * d_model * tokens
    return {"C_6ND": base, "C_attention": attention, "C_total": base + attention}


def counted_flops(config, tokens: float) -> dict[str, float]:
    """What torch.utils.flop_counter counts for one training step of a gptedu GPT on `tokens` tokens
    (B·T with T = config.block_size), term by term: every matrix multiply, forward and backward.

    weights: 6 · (the blocks' weight-matrix entries, 12·n_layer·d² for a dense GPT) · tokens;
    attention: 12 · n_layer · T · d · tokens, the full T×T scores and weighted sum (the counter does
    not know that the causal mask makes half of them unneeded: twice Kaplan's term);
    head: 6 · d · vocab · tokens, the output layer (left out of 6ND with the embeddings).
    Biases, LayerNorms, GELU and softmax are not matrix multiplies: the counter leaves them out too.
    """
    L, d, T, V = config.n_layer, config.n_embd, config.block_size, config.vocab_size
    inner = config.n_inner or 4 * d
    weights = 6.0 * L * (4 * d * d + 2 * d * inner) * tokens
    attention = 12.0 * L * T * d * tokens
    head = 6.0 * d * V * tokens
    return {"weights": weights, "attention": attention, "head": head, "total": weights + attention + head}


def step_flops(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    """FLOPs of one training step (forward + backward, no optimizer update) counted by PyTorch's
    torch.utils.flop_counter.FlopCounterMode: {"total": int, "by_op": {op name: int}}.

    Attention runs on PyTorch's math backend here so that its two matrix multiplies are counted
    (the fused CPU kernel is invisible to the counter). The gradients are left in model's .grad.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with sdpa_kernel(SDPBackend.MATH), counter:
        _, loss = model(x, y)
        loss.backward()
    by_op = {str(op).replace("aten.", ""): int(n) for op, n in counter.get_flop_counts()["Global"].items()}
    return {"total": int(counter.get_total_flops()), "by_op": dict(sorted(by_op.items()))}


def pf_days(flops: float) -> float:
    """FLOPs in PF-days (GPT-3's unit)."""
    return flops / PF_DAY


# ====================================================================== the family's runs
@dataclass(frozen=True)
class Run:
    """One training run's curve: compute (PF-days) and loss at each logged point after warmup."""
    name: str
    n_params: int  # non-embedding
    compute: np.ndarray
    loss: np.ndarray
    tokens: np.ndarray
    steps: np.ndarray

    @property
    def final_compute(self) -> float:
        return float(self.compute[-1])


def load_runs(folder: str | Path | None = None, split: str = "val", after_warmup: bool = True) -> list[Run]:
    """The shipped family logs (data/family/<size>.json) as Runs, smallest first.

    split: "val" (the held-out plays) or "train". after_warmup drops the points before the learning-rate
    warmup ends (the first 5% of steps), as Kaplan et al. drop the early transient: there the loss
    says how far the learning rate has risen, not what the compute buys.
    """
    from .family import FAMILY_DIR, family_members
    if split not in ("val", "train"):
        raise ValueError(f"split={split!r} must be 'val' or 'train'.")
    after_warmup = require_bool("after_warmup", after_warmup)
    folder = Path(folder or FAMILY_DIR)
    runs = []
    for name in family_members(folder):
        log = json.loads((folder / f"{name}.json").read_text())
        points = log["points"]
        total = max(p["step"] for p in points)
        first = math.ceil(log["recipe"]["warmup_fraction"] * total) if after_warmup else 1
        kept = [p for p in points if p["step"] >= max(1, first)]
        runs.append(Run(name, int(log["n_params_nonembedding"]),
                        np.array([p["C_total"] for p in kept]) / PF_DAY,
                        np.array([p[f"{split}_loss"] for p in kept]),
                        np.array([p["tokens"] for p in kept]), np.array([p["step"] for p in kept])))
    return runs


def run_named(runs: Sequence[Run], name: str) -> Run:
    for run in runs:
        if run.name == name:
            return run
    raise ValueError(f"No run named {name!r}; the runs are {', '.join(r.name for r in runs)}.")


def curve_points(runs: Iterable[Run], max_compute: float | None = None, final_only: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """All the runs' points (or each run's last point) up to max_compute: (C, L, run names), by compute."""
    final_only = require_bool("final_only", final_only)
    rows = []
    for run in runs:
        idx = [len(run.compute) - 1] if final_only else range(len(run.compute))
        rows += [(run.compute[i], run.loss[i], run.name) for i in idx
                 if max_compute is None or run.compute[i] <= max_compute]
    rows.sort(key=lambda r: r[0])
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), [r[2] for r in rows]


def frontier(C: Sequence[float], L: Sequence[float]) -> np.ndarray:
    """The compute-efficient frontier: a boolean mask of the points that no point of less (or equal)
    compute beats, i.e. the lowest loss reached so far when the points are taken in order of compute."""
    C, L = np.asarray(C, dtype=float), np.asarray(L, dtype=float)
    order = np.lexsort((L, C))
    keep = np.zeros(len(C), dtype=bool)
    best = math.inf
    for i in order:
        if L[i] < best:
            keep[i], best = True, L[i]
    return keep


# ====================================================================== power laws
@dataclass(frozen=True)
class PowerLaw:
    """L(C) = a · C^-b + c (c = 0: a pure power law, a straight line on log-log axes)."""
    a: float
    b: float
    c: float = 0.0

    def __call__(self, C):
        return self.a * np.asarray(C, dtype=float) ** -self.b + self.c

    def describe(self, unit: str = "C") -> str:
        c = f" + {self.c:.2f}" if self.c else ""
        return f"L = {self.a:.2f}·{unit}^-{self.b:.3f}{c}"


def _line_fits(x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least squares z ≈ p + q·x along the last axis (x: (n,), z: (..., n)): (p, q)."""
    xm = x.mean()
    q = ((x - xm) * (z - z.mean(-1, keepdims=True))).sum(-1) / ((x - xm) ** 2).sum()
    return z.mean(-1) - q * xm, q


def fit_power_law(C: Sequence[float], L: Sequence[float], irreducible: bool = True, grid: int = 400) -> PowerLaw:
    """Fit L = a·C^-b (+ c) by least squares on log L (each point's relative error counts the same).

    With the irreducible term, c is searched on a grid from 0 to just under min(L) (for each c the
    rest is a straight line in log-log, solved exactly), then refined around the best grid point;
    c = 0 can win, when the points show no bend. Needs 2 distinct compute values (3 with c).
    """
    irreducible = require_bool("irreducible", irreducible)
    grid = require_int("grid", grid, minimum=2)
    C, L = np.asarray(C, dtype=float), np.asarray(L, dtype=float)
    if C.shape != L.shape or C.ndim != 1:
        raise ValueError(f"C and L must be 1-d and the same length; got shapes {C.shape} and {L.shape}.")
    if not (np.all(C > 0) and np.all(L > 0) and np.all(np.isfinite(C)) and np.all(np.isfinite(L))):
        raise ValueError("compute and loss must be finite and > 0 (drop the step-0 point: it has no compute).")
    need = 3 if irreducible else 2
    if len(np.unique(C)) < need:
        raise ValueError(f"a fit {'with' if irreducible else 'without'} the irreducible term needs {need} points of "
                         f"different compute; got {len(np.unique(C))}.")
    x, y = np.log(C), np.log(L)

    def best_of(cs: np.ndarray) -> tuple[float, float, float, float]:
        z = np.log(L[None, :] - cs[:, None])
        p, q = _line_fits(x, z)
        pred = np.log(np.exp(p[:, None] + q[:, None] * x[None, :]) + cs[:, None])
        sse = ((pred - y) ** 2).sum(-1)
        i = int(np.argmin(sse))
        return float(sse[i]), float(np.exp(p[i])), float(-q[i]), float(cs[i])

    if not irreducible:
        _, a, b, c = best_of(np.zeros(1))
        return PowerLaw(a, b, 0.0)
    top = L.min() * (1 - 1e-6)
    cs = np.linspace(0.0, top, grid)
    _, a, b, c = best_of(cs)
    step = cs[1] - cs[0]
    _, a, b, c = best_of(np.clip(np.linspace(c - step, c + step, 41), 0.0, top))
    return PowerLaw(a, b, c)


def bootstrap_fit(C: Sequence[float], L: Sequence[float], irreducible: bool = True, n: int = 1000, seed: int = 0,
                  at: float | None = None, grid: int = 100) -> dict:
    """Refit on `n` resamples of the points (drawn with replacement; a resample with too few distinct
    compute values is drawn again): {"b": exponents, "c": irreducible terms, "prediction": L(at) or None}.
    Percentiles of these are the intervals (`interval`).

    Needs `need` = 3 distinct compute values with the irreducible term (2 without); fewer raise at once
    (no resample could ever be fitted). The redrawing is bounded too: after 100·n + 1000 draws it stops.
    """
    irreducible = require_bool("irreducible", irreducible)
    n = require_int("n", n, hint=" (resamples)")
    seed = require_int("seed", seed, minimum=None)
    C, L = np.asarray(C, dtype=float), np.asarray(L, dtype=float)
    if C.shape != L.shape or C.ndim != 1:
        raise ValueError(f"C and L must be 1-d and the same length; got shapes {C.shape} and {L.shape}.")
    if not (np.all(np.isfinite(C)) and np.all(C > 0) and np.all(np.isfinite(L)) and np.all(L > 0)):
        raise ValueError("compute and loss must be finite and > 0 (drop the step-0 point: it has no compute; "
                         "a NaN compute cannot be fitted).")
    rng = np.random.default_rng(seed)
    need = 3 if irreducible else 2
    if len(np.unique(C)) < need:
        raise ValueError(f"bootstrap_fit {'with' if irreducible else 'without'} the irreducible term needs at least "
                         f"{need} points of different compute; got {len(np.unique(C))}, so no resample could be "
                         f"fitted.")
    bs, cs, preds = [], [], []
    draws, max_draws = 0, 100 * n + 1000
    while len(bs) < n:
        draws += 1
        if draws > max_draws:
            raise RuntimeError(f"only {len(bs)} of n={n} resamples had {need} distinct compute values after "
                               f"{max_draws} draws (the limit): too few distinct points to bootstrap.")
        idx = rng.integers(0, len(C), len(C))
        if len(np.unique(C[idx])) < need:
            continue
        fit = fit_power_law(C[idx], L[idx], irreducible, grid)
        bs.append(fit.b)
        cs.append(fit.c)
        if at is not None:
            preds.append(float(fit(at)))
    return {"b": np.array(bs), "c": np.array(cs), "prediction": np.array(preds) if at is not None else None}


def interval(samples: Sequence[float], level: float = 0.9) -> tuple[float, float]:
    """The central `level` percentile interval of bootstrap samples."""
    level = require_range("level", level, 0.0, 1.0, low_open=True, hint=", e.g. 0.9")
    if len(samples) == 0:
        raise ValueError("samples is empty: there is no interval without bootstrap samples.")
    lo = (1 - level) / 2 * 100
    return float(np.percentile(samples, lo)), float(np.percentile(samples, 100 - lo))


# ====================================================================== GPT-4's prediction
@dataclass
class Prediction:
    """A held-out run's final loss, predicted from the other runs' points under a compute limit.

    Made without the held-out run's losses: `reveal(runs)` reads them afterwards. interval is (nan, nan)
    when the fit has no spare points (2 points without c, 3 with): every resample would be the same fit.
    """
    held_out: str
    target_compute: float  # PF-days, from the run's planned size and token budget
    max_compute: float  # the fit's compute limit, PF-days
    irreducible: bool
    fit: PowerLaw
    predicted: float
    interval: tuple[float, float]
    level: float
    fit_C: np.ndarray = field(repr=False)
    fit_L: np.ndarray = field(repr=False)
    fit_runs: list[str] = field(repr=False)
    boot_b: np.ndarray = field(repr=False)

    def reveal(self, runs: Sequence[Run]) -> dict:
        """The held-out run's final loss, the error (predicted - actual, nats) and whether it is inside the interval."""
        actual = float(run_named(runs, self.held_out).loss[-1])
        return {"actual": actual, "error": self.predicted - actual,
                "inside": self.interval[0] <= actual <= self.interval[1]}


def planned_compute(name: str) -> float:
    """A family size's training compute in PF-days, from its config and its family's recipe and token
    budget (what one knows before training it: GPT-4 predicted from the plan, not from the run).
    The v1 and v2 sizes have different names (13k ... 1.4m, 6.6k ... 793k), so the name says the family."""
    from .family import FAMILIES, compute, config_for
    for sizes, recipe, _ in FAMILIES.values():
        if name in sizes:
            return compute(config_for(sizes[name], recipe), recipe.steps * recipe.tokens_per_step)["C_total"] / PF_DAY
    known = "; ".join(f"{', '.join(sizes)} ({family})" for family, (sizes, _, _) in FAMILIES.items())
    raise ValueError(f"No family size {name!r}; the sizes are {known}.")


def predict_run(runs: Sequence[Run], held_out: str = "1.4m", fraction: float = 1 / 10, irreducible: bool = True,
                use: Iterable[str] | None = None, on_frontier: bool = True, final_only: bool = False,
                n_boot: int = 1000, level: float = 0.9, seed: int = 0) -> Prediction:
    """Fit on the points of the runs in `use` (default: every run but the held-out one) with compute
    <= fraction x the held-out run's planned compute (on_frontier: only the frontier's points among
    them; final_only: only each run's last point), and predict the held-out run's final loss, with a
    bootstrap interval (n_boot = 0: none, the interval is (nan, nan)). The held-out run's losses are never
    read here.
    """
    require_range("fraction", fraction, 0.0, 1.0, low_open=True, hint=", e.g. 1/10")
    irreducible, on_frontier, final_only = (require_bool(name, value) for name, value in (
        ("irreducible", irreducible), ("on_frontier", on_frontier), ("final_only", final_only)))
    n_boot = require_int("n_boot", n_boot, minimum=0, hint=" (0: no interval)")
    level = require_range("level", level, 0.0, 1.0, low_open=True, hint=", e.g. 0.9")
    target = planned_compute(held_out)
    names = [r.name for r in runs if r.name != held_out] if use is None else list(use)
    if held_out in names:
        raise ValueError(f"the held-out run {held_out!r} cannot be in the fit.")
    chosen = [run_named(runs, name) for name in names]
    C, L, who = curve_points(chosen, target * fraction, final_only)
    if on_frontier and len(C):
        keep = frontier(C, L)
        C, L, who = C[keep], L[keep], [w for w, k in zip(who, keep) if k]
    fit = fit_power_law(C, L, irreducible)
    if n_boot > 0 and len(np.unique(C)) > (3 if irreducible else 2):
        boot = bootstrap_fit(C, L, irreducible, n_boot, seed, at=target)
        spread, boot_b = interval(boot["prediction"], level), boot["b"]
    else:  # no resamples asked for, or every resample would be the same points: no interval to speak of
        spread, boot_b = (math.nan, math.nan), np.array([])
    return Prediction(held_out, target, target * fraction, irreducible, fit, float(fit(target)),
                      spread, level, C, L, who, boot_b)


# The four fit settings chapter 11 prints: (fraction of the held-out run's compute, with the irreducible term c).
SETTINGS = ((1 / 30, True), (1 / 30, False), (1 / 10, True), (1 / 10, False))


def choose_setting(runs: Sequence[Run], held_out: str = "1.4m", settings: Sequence[tuple[float, bool]] = SETTINGS,
                   min_smaller: int = 2) -> dict:
    """Pick the fit setting (compute fraction, with or without c) from the runs smaller than the held-out
    one alone, by backtesting: each setting predicts the final loss of every smaller run that has at least
    `min_smaller` runs below it, from those runs only, with the same fraction of *that* run's planned compute
    and the same form (frontier points, as predict_run). The setting with the smallest mean absolute error
    wins; on a tie, the one listed first. The held-out run (and any run at least its size) is never read.

    Returns {"targets": names, "fits": {setting: {target: names of the runs giving each fitted point}},
    "errors": {setting: {target: predicted - actual}}, "mae": {setting: float}, "chosen": setting}.
    """
    if min_smaller < 1:
        raise ValueError(f"min_smaller={min_smaller!r} must be >= 1: a backtest needs a run to fit on.")
    limit = planned_compute(held_out)
    small = sorted((r for r in runs if r.name != held_out and planned_compute(r.name) < limit),
                   key=lambda r: planned_compute(r.name))
    targets = small[min_smaller:]
    if not targets:
        raise ValueError(f"no run below {held_out!r} has {min_smaller} smaller runs to backtest on.")
    fits, errors, mae = {}, {}, {}
    for setting in settings:
        fraction, irreducible = setting
        fits[setting], errors[setting] = {}, {}
        for i, target in enumerate(targets, start=min_smaller):
            below = small[:i]
            p = predict_run(below, target.name, fraction, irreducible, use=[r.name for r in below], n_boot=0)
            fits[setting][target.name] = p.fit_runs
            errors[setting][target.name] = p.predicted - float(target.loss[-1])
        mae[setting] = float(np.mean(np.abs(list(errors[setting].values()))))
    chosen = min(settings, key=lambda s: mae[s])  # min keeps the first of equal values
    return {"targets": [t.name for t in targets], "fits": fits, "errors": errors, "mae": mae, "chosen": chosen}


# ====================================================================== a capability
def capability_points(entries: dict, task: str, k: int, runs: Sequence[Run], description: bool = False
                      ) -> dict:
    """One task's scores per family size from data/results/family_eval.json's entries, with each size's
    final compute: {"names", "compute", "accuracy", "neg_logprob" (mean -log p per answer character),
    "per_instance" (each size's -log p list)}."""
    description = require_bool("description", description)
    names, comp, acc, nlp, per = [], [], [], [], []
    for run in runs:
        key = f"{run.name}/{task}/{k}/{'desc' if description else 'nodesc'}"
        if key not in entries:
            raise ValueError(f"no entry {key!r} in the evaluation results.")
        e = entries[key]
        names.append(run.name)
        comp.append(run.final_compute)
        acc.append(e["accuracy"])
        nlp.append(-e["logprob"])
        per.append(-np.array(e["per_instance"]["logprob"]))
    return {"names": names, "compute": np.array(comp), "accuracy": np.array(acc), "neg_logprob": np.array(nlp),
            "per_instance": per}


def bootstrap_capability(per_instance: Sequence[np.ndarray], compute: Sequence[float], at: float, n: int = 1000,
                         seed: int = 0) -> np.ndarray:
    """Predictions at compute `at` of a pure power law fitted to the mean -log p of each size, with each
    size's instances resampled (the evaluation's sampling noise)."""
    rng = np.random.default_rng(seed)
    C = np.asarray(compute, dtype=float)
    out = np.empty(n)
    for i in range(n):
        means = np.array([v[rng.integers(0, len(v), len(v))].mean() for v in per_instance])
        out[i] = fit_power_law(C, means, irreducible=False)(at)
    return out
