"""Chapter 08's build exercises: the next-speaker rule the models miss, min-p, top-k and top-p filtering, and
p(output | input) for a list of choices (GPT-2's zero-shot scoring, as `gptedu.fewshot.choice_logprobs`)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import GPTConfig
from ..evaluation import Instance
from ..generate import top_k_filter, top_p_filter
from ..model import GPT
from ..tokenizers import CharTokenizer
from .core import Case, Exercise, Mistake, compare_exact, compare_tensors, register, short_repr


# ---------------------------------------------------------------------- the next speaker by alternation
def _names(inst):
    return [line for line in inst.prompt.split("\n") if line in inst.choices]


def alternation(inst):
    names = _names(inst)
    return names[-2] if len(names) >= 2 else None


def _alternation_last(inst):
    names = _names(inst)
    return names[-1] if names else None


def _alternation_no_guard(inst):
    names = _names(inst)
    return names[-2] if names else None


def _alternation_other(inst):
    names = _names(inst)
    others = [n for n in names if names and n != names[-1]]
    return others[-1] if others else None


def _scene(*turns):
    return "".join(f"{name}\n{speech}\n\n" for name, speech in turns)


_CAST = ("BRUTUS.", "CASSIUS.", "CASCA.", "PORTIA.")


def _speaker_instances():
    hello, more = "Good morrow, sir.", "What news abroad?"
    return [
        Instance("A street.\n\n" + _scene(("BRUTUS.", hello), ("CASSIUS.", more), ("BRUTUS.", "None, my lord.")),
                 "CASSIUS.", _CAST, 1),
        Instance(_scene(("CASCA.", hello), ("PORTIA.", more)), "CASCA.", _CAST, 2),
        Instance(_scene(("CASCA.", hello), ("PORTIA.", more), ("PORTIA.", "Speak, Brutus.")), "PORTIA.", _CAST, 3),
        Instance("Enter Brutus.\n\n" + _scene(("BRUTUS.", hello)), "CASSIUS.", _CAST, 1),
        Instance("A street; no one speaks yet.\n\n", "BRUTUS.", _CAST, 0),
    ]


def _run_alternation(fn, case):
    return [fn(inst) for inst in case.args[0]]


def _alternation_cases():
    from ..evaluation import instances
    built = _speaker_instances()
    return [
        Case("three turns, BRUTUS / CASSIUS / BRUTUS: the one two turns back is CASSIUS", (built[:1],)),
        Case("two turns; and the same speaker twice in a row (CASCA, PORTIA, PORTIA: PORTIA again)", (built[1:3],)),
        Case("one speaker in the context, and none: the rule cannot answer (None)", (built[3:],)),
        Case("the chapter's first 30 next-speaker instances (section 2)", (instances("next_speaker", 0, 30),)),
    ]


register(Exercise(
    id="alternation", chapter="08", name="alternation", solution_name="alternation_solution",
    title="the next speaker by alternation",
    reference=alternation, cases=_alternation_cases, run=_run_alternation,
    compare=lambda e, g: compare_exact(e, g, what="the speakers named"),
    hint="names = the prompt's lines that are among inst.choices, in order; return names[-2] if there are at "
         "least two, else None.",
    mistakes=[
        Mistake("it names the last speaker in the context, the one speaking now", _alternation_last,
                "the last name heads the speech that ends the context; dialogue alternates, so the next speaker "
                "is the one before: names[-2]."),
        Mistake("with a single name in the context it fails instead of returning None", _alternation_no_guard,
                "names[-2] needs two names: check len(names) >= 2 and return None otherwise."),
        Mistake("it skips back to the last name that differs from the current speaker", _alternation_other,
                "the rule is the name two turns back, names[-2], even when that is the current speaker again."),
    ],
))


# ---------------------------------------------------------------------- comparing filtered logits
def _compare_filtered(expected, got):
    """Logits with the dropped tokens at -inf (a learner's -1e10, GPT-2's own choice, counts as -inf): first which
    tokens each row keeps, then the kept logits' values."""
    if isinstance(got, torch.Tensor) and got.is_floating_point():
        got = got.masked_fill(got <= -1e9, float("-inf"))
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(expected.shape) or not got.is_floating_point():
        return compare_tensors(expected, got, what="the filtered logits")
    want, have = torch.isfinite(expected), ~torch.isneginf(got)
    rows_want, rows_have = want.reshape(-1, want.size(-1)), have.reshape(-1, have.size(-1))
    for row, (w, h) in enumerate(zip(rows_want, rows_have)):
        if not torch.equal(w, h):
            ids = lambda mask: short_repr(mask.nonzero().flatten().tolist(), 40)  # noqa: E731
            return (f"the tokens kept: in row {row}, expected {int(w.sum())} of {w.numel()} tokens {ids(w)}, got "
                    f"{int(h.sum())} {ids(h)} (a dropped token's logit is -inf)")
    return compare_tensors(expected.masked_fill(~want, 0.0), got.masked_fill(~want, 0.0), atol=1e-6, rtol=1e-5,
                           what="the kept tokens' logits (they should not change)")


def _logits(*shape, seed=0, scale=2.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


# ---------------------------------------------------------------------- min-p
def min_p_filter(logits, min_p):
    probs = logits.softmax(dim=-1)
    keep = probs >= min_p * probs.max(dim=-1, keepdim=True).values
    return logits.masked_fill(~keep, float("-inf"))


def _min_p_on_logits(logits, min_p):
    keep = logits >= min_p * logits.max(dim=-1, keepdim=True).values
    return logits.masked_fill(~keep, float("-inf"))


def _min_p_absolute(logits, min_p):
    return logits.masked_fill(logits.softmax(dim=-1) < min_p, float("-inf"))


def _min_p_strict(logits, min_p):
    probs = logits.softmax(dim=-1)
    return logits.masked_fill(~(probs > min_p * probs.max(dim=-1, keepdim=True).values), float("-inf"))


def _min_p_cases():
    return [
        Case("2 rows of 12 logits, min_p = 0.1", (_logits(2, 12, seed=1), 0.1)),
        Case("one row, min_p = 1: only the top token stays (greedy)", (_logits(1, 12, seed=2), 1.0)),
        Case("min_p = 0: every token stays", (_logits(2, 12, seed=3), 0.0)),
        Case("a (2, 3, 9) batch of positions, min_p = 0.3: filter the last dimension", (_logits(2, 3, 9, seed=4), 0.3)),
        Case("a single vector of 20 logits (no batch), min_p = 0.05", (_logits(20, seed=5), 0.05)),
    ]


register(Exercise(
    id="min_p_filter", chapter="08", name="min_p_filter", solution_name="min_p_filter_solution",
    title="min-p filtering",
    reference=min_p_filter, cases=_min_p_cases, compare=_compare_filtered,
    hint="probs = logits.softmax(dim=-1); keep probs >= min_p * probs.max(dim=-1, keepdim=True).values; "
         "logits.masked_fill(~keep, float('-inf')).",
    mistakes=[
        Mistake("it compares logits, not probabilities, with min_p times the top one", _min_p_on_logits,
                "min_p is a share of the top token's probability: softmax first (a logit can be negative, "
                "and 0.1 * a logit means nothing)."),
        Mistake("min_p is used as an absolute probability, not relative to the top token's", _min_p_absolute,
                "the threshold moves with the model's confidence: min_p * the largest probability of that row."),
        Mistake("'at least' written as '>': with min_p = 1 even the top token is dropped", _min_p_strict,
                "keep probs >= min_p * top: the top token must always survive."),
    ],
))


# ---------------------------------------------------------------------- top-k
# The reference is the package's own filter (gptedu.generate.top_k_filter), which the chapter then uses.
def _top_k_drops_kth(logits, k):
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits <= kth, float("-inf"))


def _top_k_zero(logits, k):
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, 0.0)


def _top_k_values_only(logits, k):
    return logits.topk(k, dim=-1).values


def _top_k_cases():
    return [
        Case("2 rows of 10 logits, k = 3", (_logits(2, 10, seed=11), 3)),
        Case("one row, k = 1: only the top token stays (greedy)", (_logits(1, 10, seed=12), 1)),
        Case("k = the vocabulary size (10): every token stays", (_logits(2, 10, seed=13), 10)),
        Case("a (2, 3, 7) batch of positions, k = 2: filter the last dimension", (_logits(2, 3, 7, seed=14), 2)),
        Case("a single vector of 30 logits (no batch), k = 5", (_logits(30, seed=15), 5)),
    ]


register(Exercise(
    id="top_k_filter", chapter="08", name="top_k_filter", solution_name="top_k_filter_solution",
    title="top-k filtering",
    reference=top_k_filter, cases=_top_k_cases, compare=_compare_filtered,
    hint="kth = logits.topk(k, dim=-1).values[..., -1:] (the k-th largest, kept as a dimension of 1); "
         "return logits.masked_fill(logits < kth, float('-inf')).",
    mistakes=[
        Mistake("only k - 1 tokens stay: the k-th largest is dropped too", _top_k_drops_kth,
                "drop the logits strictly below the k-th largest (logits < kth): the k-th itself stays."),
        Mistake("the dropped tokens are set to 0, not to -inf", _top_k_zero,
                "softmax turns a logit of 0 into a real probability; only -inf becomes probability 0."),
        Mistake("it returns the k largest values, not the whole vocabulary with the rest at -inf",
                _top_k_values_only,
                "sampling needs a score for every token id: keep the shape, set the others to -inf "
                "(topk's values have lost which token each one was)."),
    ],
))


# ---------------------------------------------------------------------- top-p
# The reference is the package's own filter (gptedu.generate.top_p_filter).
def _top_p_drops_crossing(logits, p):
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    drop_sorted = sorted_logits.softmax(dim=-1).cumsum(dim=-1) > p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def _top_p_sorted_mask(logits, p):
    sorted_logits, _ = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    return logits.masked_fill(probs.cumsum(dim=-1) - probs >= p, float("-inf"))


def _top_p_unsorted(logits, p):
    probs = logits.softmax(dim=-1)
    return logits.masked_fill(probs.cumsum(dim=-1) - probs >= p, float("-inf"))


def _peaked(seed):
    z = _logits(2, 10, seed=seed, scale=1.0)
    z[:, 3] += 6.0  # token 3 holds most of the probability
    return z


def _top_p_cases():
    return [
        Case("2 rows of 10 logits, p = 0.5", (_logits(2, 10, seed=21), 0.5)),
        Case("p = 0.9: more tokens stay", (_logits(2, 10, seed=22), 0.9)),
        Case("a confident model (token 3 alone holds over 90%), p = 0.8: only the top token stays", (_peaked(23), 0.8)),
        Case("p = 1.0: every token stays", (_logits(1, 10, seed=24), 1.0)),
        Case("a (2, 3, 7) batch of positions, p = 0.6: filter the last dimension", (_logits(2, 3, 7, seed=25), 0.6)),
    ]


register(Exercise(
    id="top_p_filter", chapter="08", name="top_p_filter", solution_name="top_p_filter_solution",
    title="top-p (nucleus) filtering",
    reference=top_p_filter, cases=_top_p_cases, compare=_compare_filtered,
    hint="sort descending; probs = softmax of the sorted logits; a token is dropped when the tokens ranked above "
         "it already hold >= p (cumsum - probs >= p); scatter that mask back to vocabulary order.",
    mistakes=[
        Mistake("the token that takes the sum past p is dropped (cumsum > p): the set can hold less than p, "
                "or nothing at all", _top_p_drops_crossing,
                "keep the smallest set whose sum reaches p: a token stays if the tokens above it hold less than "
                "p, so compare cumsum - probs (the mass before it) with p. The top token always stays."),
        Mistake("the mask is built in sorted order and applied to the unsorted logits", _top_p_sorted_mask,
                "the mask's position i is the i-th likeliest token, not token i: scatter it back with the order "
                "sort returned (torch.zeros_like(mask).scatter(-1, order, mask))."),
        Mistake("the probabilities are summed in vocabulary order, not from the likeliest down", _top_p_unsorted,
                "sort the logits first (descending): the nucleus is the likeliest tokens."),
    ],
))


# ---------------------------------------------------------------------- p(choice | prompt), as a batch of choices
def choice_scores(model, tokenizer, prompt, choices):
    answers = [tokenizer.encode(choice) for choice in choices]
    room = model.config.block_size - max(len(a) for a in answers)
    context = tokenizer.encode(prompt)[-room:]
    scores = []
    for a in answers:
        ids = torch.tensor([context + a])
        with torch.no_grad():
            logits, _ = model(ids[:, :-1])
        logp = F.log_softmax(logits[0, -len(a):], dim=-1)
        scores.append(logp.gather(1, ids[0, -len(a):, None]).sum())
    return torch.stack(scores)


def _scores_mean(model, tokenizer, prompt, choices):
    return torch.stack([s / len(tokenizer.encode(c)) for s, c in zip(choice_scores(model, tokenizer, prompt, choices),
                                                                       choices)])


def _scores_own_crop(model, tokenizer, prompt, choices):
    scores = []
    for choice in choices:
        a = tokenizer.encode(choice)
        ids = torch.tensor([(tokenizer.encode(prompt) + a)[-(model.config.block_size + 1):]])
        with torch.no_grad():
            logits, _ = model(ids[:, :-1])
        scores.append(F.log_softmax(logits[0, -len(a):], dim=-1).gather(1, ids[0, -len(a):, None]).sum())
    return torch.stack(scores)


def _scores_late(model, tokenizer, prompt, choices):
    answers = [tokenizer.encode(choice) for choice in choices]
    room = model.config.block_size - max(len(a) for a in answers)
    context = tokenizer.encode(prompt)[-room:]
    scores = []
    for a in answers:
        ids = torch.tensor([context + a])
        with torch.no_grad():
            logits, _ = model(ids)
        scores.append(F.log_softmax(logits[0, -len(a):], dim=-1).gather(1, ids[0, -len(a):, None]).sum())
    return torch.stack(scores)


_CHARS = "abcdefghijklmnopqrstuvwxyz .,\n->"


def _scoring_model():
    tokenizer = CharTokenizer(_CHARS)
    torch.manual_seed(8)
    config = GPTConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size, n_layer=2, n_head=2, n_embd=16,
                                   block_size=16, dropout=0.0)
    model = GPT(config).eval()
    with torch.no_grad():  # larger random weights than 0.02, so the choices' scores differ clearly
        g = torch.Generator().manual_seed(9)
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return model, tokenizer


def _run_scores(fn, case):
    model, tokenizer = _scoring_model()
    out = fn(model, tokenizer, *case.args)
    if isinstance(out, (list, tuple)) and all(isinstance(v, (int, float, torch.Tensor)) for v in out):
        try:
            out = torch.tensor([float(v) for v in out])
        except (TypeError, ValueError, RuntimeError):
            pass
    return out


def _compare_scores(expected, got):
    if not isinstance(got, torch.Tensor):
        return f"the scores: expected a tensor (or list) of {len(expected)} numbers, got {short_repr(got)}"
    return compare_tensors(expected, got.detach().flatten() if got.numel() == len(expected) else got,
                           atol=1e-4, rtol=1e-4, what="the scores")


register(Exercise(
    id="choice_scores", chapter="08", name="choice_scores", solution_name="choice_scores_solution",
    title="log p(choice | prompt) for each choice",
    reference=choice_scores, run=_run_scores, compare=_compare_scores,
    cases=lambda: [
        Case("a short prompt, 3 choices of 1, 3 and 5 characters", ("the cat ", ["a", "sat", "ran."])),
        Case("one choice of one character", ("word -> ", ["x"])),
        Case("a 40-character prompt, context 16: crop it from the left, leaving room for the longest choice",
             ("a long line of text, far too long to fit", [" ok", " then.", " a"])),
        Case("choices of 4 and 6 characters after a prompt that exactly fills the room",
             ("ten chars.", [" yes", " never"])),
    ],
    hint="room = block_size - the longest choice's length; context = the prompt's last `room` tokens; for each "
         "choice, run the model on (context + choice)[:-1] and sum log_softmax at the last len(choice) positions, "
         "gathered at the choice's tokens.",
    mistakes=[
        Mistake("the mean log-prob per token, not the sum", _scores_mean,
                "log p(choice | prompt) is the sum over the choice's tokens (section 1's formula); the mean is "
                "what gptedu.evaluation uses for exact match, not here."),
        Mistake("each choice crops the prompt to its own room, so the choices no longer read the same context",
                _scores_own_crop,
                "crop the prompt once, leaving room for the longest choice, so every choice follows the same "
                "text (as choice_logprobs does)."),
        Mistake("the log-probs are read one position late: the logits of the choice's own tokens", _scores_late,
                "position t predicts token t + 1: run the model on ids[:, :-1] and read its last len(choice) "
                "positions."),
    ],
))
