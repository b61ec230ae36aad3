"""Chapter 06's build exercises: the entailment and similarity transformations, the extract token's
state, L3 = L2 + λ·L1."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..finetune import SpecialTokenizer
from ..tokenizers import CharTokenizer
from .core import Case, Exercise, Mistake, compare_exact, compare_tensors, register


def _tok():
    return SpecialTokenizer(CharTokenizer(" !',.?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))


# ---------------------------------------------------------------------- entailment
def entailment_input(tok, premise, hypothesis, block_size):
    first, second = tok.encode(premise), tok.encode(hypothesis)
    room = block_size - 3 - len(second)  # <s>, $ and <e> take three places
    return [tok.start] + first[-room:] + [tok.delim] + second + [tok.extract]


def _entail_cut_end(tok, premise, hypothesis, block_size):
    first, second = tok.encode(premise), tok.encode(hypothesis)
    room = block_size - 3 - len(second)
    return [tok.start] + first[:room] + [tok.delim] + second + [tok.extract]


def _entail_no_delimiter(tok, premise, hypothesis, block_size):
    first, second = tok.encode(premise), tok.encode(hypothesis)
    room = block_size - 2 - len(second)
    return [tok.start] + first[-room:] + second + [tok.extract]


def _entail_room_off_by_one(tok, premise, hypothesis, block_size):
    first, second = tok.encode(premise), tok.encode(hypothesis)
    room = block_size - 2 - len(second)
    return [tok.start] + first[-room:] + [tok.delim] + second + [tok.extract]


def _entail_crop_whole(tok, premise, hypothesis, block_size):
    ids = [tok.start] + tok.encode(premise) + [tok.delim] + tok.encode(hypothesis) + [tok.extract]
    return ids[:block_size]


def _entail_cases():
    tok = _tok()
    long_premise = "O Romeo, Romeo! Wherefore art thou Romeo? Deny thy father and refuse thy name."
    return [
        Case("a short pair, block_size 64", (tok, "O Romeo, Romeo!", "Wherefore art thou Romeo?", 64)),
        Case("a premise longer than the context: 80 characters, block_size 32",
             (tok, long_premise, "Thou art thyself.", 32)),
        Case("the pair fills the context exactly (block_size = 3 + both lengths)",
             (tok, "To be", "or not", 3 + len("To be") + len("or not"))),
        Case("a one-character hypothesis, block_size 10", (tok, long_premise, "A", 10)),
    ]


register(Exercise(
    id="entailment_input", chapter="06", name="my_entailment_input", solution_name="my_entailment_input_solution",
    title="the entailment transformation",
    reference=entailment_input, cases=_entail_cases, compare=compare_exact,
    hint="[tok.start] + premise ids + [tok.delim] + hypothesis ids + [tok.extract]; when too long, keep the "
         "hypothesis whole and keep only the LAST block_size - 3 - len(hypothesis) ids of the premise.",
    mistakes=[
        Mistake("the premise is cut at its end, not at its start", _entail_cut_end,
                "keep the end of the premise, next to the hypothesis: first[-room:], not first[:room]."),
        Mistake("the delimiter $ is missing between premise and hypothesis", _entail_no_delimiter,
                "put [tok.delim] between the two parts: the model must see where one ends."),
        Mistake("the room is off by one: the sequence is one longer than block_size", _entail_room_off_by_one,
                "three special tokens (<s>, $, <e>) share the context: room = block_size - 3 - len(hypothesis)."),
        Mistake("the whole sequence is cut at its end, which drops the hypothesis and <e>", _entail_crop_whole,
                "cut only the start of the premise: the <e> token must stay last, after the whole hypothesis."),
    ],
))


# ---------------------------------------------------------------------- similarity
def similarity_inputs(tok, a, b, block_size):
    return [entailment_input(tok, a, b, block_size), entailment_input(tok, b, a, block_size)]


def _similarity_one_order(tok, a, b, block_size):
    return [entailment_input(tok, a, b, block_size)]


def _similarity_same_twice(tok, a, b, block_size):
    return [entailment_input(tok, a, b, block_size), entailment_input(tok, a, b, block_size)]


def _similarity_concatenated(tok, a, b, block_size):
    return entailment_input(tok, a, b, block_size) + entailment_input(tok, b, a, block_size)


register(Exercise(
    id="similarity_inputs", chapter="06", name="my_similarity_inputs", solution_name="my_similarity_inputs_solution",
    title="the similarity transformation",
    reference=similarity_inputs, compare=compare_exact,
    cases=lambda: [Case("two lines, block_size 64", (_tok(), "Good night, good night!", "Parting is such sweet sorrow", 64)),
                   Case("a long first text, block_size 24", (_tok(), "Now is the winter of our discontent", "Made glorious", 24)),
                   Case("the same text twice, block_size 16", (_tok(), "To be", "To be", 16))],
    hint="similarity has no natural order: return the two sequences [<s> a $ b <e>] and [<s> b $ a <e>], as a "
         "list of two lists.",
    mistakes=[
        Mistake("only one ordering is returned", _similarity_one_order,
                "GPT-1 feeds both orderings and adds their final states: return two sequences."),
        Mistake("the same ordering twice", _similarity_same_twice,
                "the second sequence swaps the texts: [<s>; b; $; a; <e>]."),
        Mistake("the two orderings are glued into one sequence", _similarity_concatenated,
                "return a list of the two sequences, not one long list: each goes through the model on its own."),
    ],
))


# ---------------------------------------------------------------------- the extract token's state
def extract_states(h, lengths):
    return h[torch.arange(h.size(0)), lengths - 1]


def _extract_last_position(h, lengths):
    return h[:, -1]


def _extract_off_by_one(h, lengths):
    return h[torch.arange(h.size(0)), lengths]


def _extract_broadcast(h, lengths):
    return h[:, lengths - 1]


def _extract_cases():
    g = torch.Generator().manual_seed(10)
    return [
        Case("3 sequences padded to T = 6, lengths [6, 2, 4]", (torch.randn(3, 6, 4, generator=g), torch.tensor([6, 2, 4]))),
        Case("a batch of one, T = 5, length 3", (torch.randn(1, 5, 4, generator=g), torch.tensor([3]))),
        Case("T = 1: one token each", (torch.randn(2, 1, 3, generator=g), torch.tensor([1, 1]))),
        Case("4 sequences of lengths [2, 5, 1, 3], T = 5", (torch.randn(4, 5, 2, generator=g), torch.tensor([2, 5, 1, 3]))),
    ]


register(Exercise(
    id="extract_states", chapter="06", name="extract_states", solution_name="extract_states_solution",
    title="the state at the extract token",
    reference=extract_states, cases=_extract_cases,
    compare=lambda e, g: compare_tensors(e, g, atol=0, rtol=0),
    hint="sequence i's <e> is its last real token, at position lengths[i] - 1: "
         "h[torch.arange(N), lengths - 1] picks one (C,) row per sequence.",
    mistakes=[
        Mistake("it reads the last position of the padded batch, which is padding for shorter sequences",
                _extract_last_position,
                "h[:, -1] is only right for the longest sequence; use each sequence's own length."),
        Mistake("off by one: position lengths[i] is the first padding position, not <e>", _extract_off_by_one,
                "positions count from 0: a sequence of n tokens ends at n - 1."),
        Mistake("h[:, lengths - 1] picks every length for every sequence: an (N, N, C) tensor", _extract_broadcast,
                "pair each row with its own length: h[torch.arange(N), lengths - 1]."),
    ],
))


# ---------------------------------------------------------------------- L3 = L2 + λ·L1
def l3_loss(task_logits, labels, lm_logits, lm_targets, lam=0.5):
    l2 = F.cross_entropy(task_logits, labels)
    l1 = F.cross_entropy(lm_logits.flatten(0, 1), lm_targets.flatten(), ignore_index=-1)
    return l2 + lam * l1


def _l3_lambda_on_task(task_logits, labels, lm_logits, lm_targets, lam=0.5):
    l2 = F.cross_entropy(task_logits, labels)
    l1 = F.cross_entropy(lm_logits.flatten(0, 1), lm_targets.flatten(), ignore_index=-1)
    return l1 + lam * l2


def _l3_padding_counted(task_logits, labels, lm_logits, lm_targets, lam=0.5):
    l2 = F.cross_entropy(task_logits, labels)
    l1 = F.cross_entropy(lm_logits.flatten(0, 1), lm_targets.flatten().clamp(min=0))
    return l2 + lam * l1


def _l3_no_ignore_index(task_logits, labels, lm_logits, lm_targets, lam=0.5):
    l2 = F.cross_entropy(task_logits, labels)
    l1 = F.cross_entropy(lm_logits.flatten(0, 1), lm_targets.flatten())
    return l2 + lam * l1


def _l3_sum(task_logits, labels, lm_logits, lm_targets, lam=0.5):
    l2 = F.cross_entropy(task_logits, labels)
    l1 = F.cross_entropy(lm_logits.flatten(0, 1), lm_targets.flatten(), ignore_index=-1, reduction="sum")
    return l2 + lam * l1


def _l3_cases():
    g = torch.Generator().manual_seed(11)

    def batch(N, T, V, lengths):
        targets = torch.randint(0, V, (N, T), generator=g)
        targets[torch.arange(T) >= torch.tensor(lengths)[:, None]] = -1  # padding
        return (torch.randn(N, 2, generator=g), torch.randint(0, 2, (N,), generator=g),
                torch.randn(N, T, V, generator=g), targets)

    return [
        Case("4 sequences of T = 5, V = 7, padded (lengths 5, 2, 4, 3), λ = 0.5", batch(4, 5, 7, [5, 2, 4, 3])),
        Case("a batch of one, no padding, λ = 0.5", batch(1, 6, 7, [6])),
        Case("λ = 0: L3 is the task loss alone", batch(2, 4, 5, [4, 1]), {"lam": 0.0}),
        Case("λ = 2, T = 1", batch(3, 1, 5, [1, 1, 1]), {"lam": 2.0}),
    ]


register(Exercise(
    id="l3_loss", chapter="06", name="l3_loss", solution_name="l3_loss_solution",
    title="L3 = L2 + λ·L1",
    reference=l3_loss, cases=_l3_cases,
    compare=lambda e, g: compare_tensors(e, g, atol=1e-5, rtol=1e-5, what="L3"),
    hint="L2 = F.cross_entropy(task_logits, labels); L1 = the mean cross-entropy of lm_logits against lm_targets "
         "over the real tokens only (ignore_index=-1 skips the padding); return L2 + lam * L1.",
    mistakes=[
        Mistake("λ multiplies the task loss instead of the language-model loss", _l3_lambda_on_task,
                "eq. 5: L3 = L2 + λ·L1, the auxiliary (language-model) loss L1 is the one weighted."),
        Mistake("the padding positions are counted as targets", _l3_padding_counted,
                "targets of -1 are padding: skip them with F.cross_entropy(..., ignore_index=-1)."),
        Mistake("the padding targets (-1) are passed to cross_entropy unmasked", _l3_no_ignore_index,
                "pass ignore_index=-1 so that padding is not a target."),
        Mistake("L1 is summed over the tokens, not averaged", _l3_sum,
                "L1 is the mean over the real tokens (F.cross_entropy's default reduction)."),
    ],
))
