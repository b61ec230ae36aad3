"""gptedu.finetune: GPT-1's input transformations, the classifier head, L3 = L2 + lambda * L1, transfer."""
import os
import random

import pytest
import torch
import torch.nn.functional as F

from gptedu.config import GPTConfig
from gptedu.finetune import (GPTClassifier, SpecialTokenizer, add_tokens, classification_input, entailment_input,
                             evaluate, finetune, linear_warmup_decay, multiple_choice_inputs, similarity_inputs,
                             transfer)
from gptedu.model import GPT
from gptedu.tasks import LabelledText, MultipleChoice, TextPair
from gptedu.tokenizers import CharTokenizer

torch.set_num_threads(int(os.environ.get("GPTEDU_THREADS", "1")))  # as the course runs; 2 threads crawl under load

LETTERS = "abcdefghijklmnopqrstuvwxyz"
TOK = CharTokenizer(LETTERS)  # a=0 .. z=25, so <s>=26, $=27, <e>=28
S, D, E = 26, 27, 28


def tiny_gpt(seed=0, n_layer=1, block_size=16, vocab_size=26, **kw):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=2, n_embd=32, **kw))


# ------------------------------------------------------------------ special tokens and transformations
def test_special_tokens_come_after_the_vocabulary_and_decode_by_name():
    tok = SpecialTokenizer(TOK)
    assert (tok.start, tok.delim, tok.extract, tok.vocab_size) == (S, D, E, 29)
    assert tok.encode("cab") == [2, 0, 1]
    assert tok.decode([S, 2, 0, D, 1, E]) == "<s>ca$b<e>"
    with pytest.raises(ValueError, match="already has the special tokens"):
        SpecialTokenizer(tok)


def test_transformations_give_exactly_figure_1s_sequences():
    tok = SpecialTokenizer(TOK)
    assert classification_input(tok, "cab", 16) == [S, 2, 0, 1, E]
    assert entailment_input(tok, "ab", "c", 16) == [S, 0, 1, D, 2, E]
    assert similarity_inputs(tok, "ab", "c", 16) == [[S, 0, 1, D, 2, E], [S, 2, D, 0, 1, E]]
    assert multiple_choice_inputs(tok, "ab", ["c", "dd", "e"], 16) == [
        [S, 0, 1, D, 2, E], [S, 0, 1, D, 3, 3, E], [S, 0, 1, D, 4, E]]


def test_long_inputs_lose_the_left_of_the_first_part_and_keep_every_special_token():
    tok = SpecialTokenizer(TOK)
    assert classification_input(tok, "abcdefghij", 6) == [S, 6, 7, 8, 9, E]  # "ghij"
    assert entailment_input(tok, "abcdefghij", "xy", 7) == [S, 8, 9, D, 23, 24, E]  # premise "ij"
    assert multiple_choice_inputs(tok, "abcdefghij", ["x", "yz"], 7) == [
        [S, 7, 8, 9, D, 23, E], [S, 8, 9, D, 24, 25, E]]  # each answer whole, the context cropped to fit
    with pytest.raises(ValueError, match="no room for the first part"):
        entailment_input(tok, "ab", "wxyz", 7)


# ------------------------------------------------------------------ vocabulary extension
def test_adding_tokens_keeps_the_old_models_outputs_and_leaves_it_unchanged():
    gpt = tiny_gpt().eval()
    before = {k: v.clone() for k, v in gpt.state_dict().items()}
    bigger = add_tokens(gpt, 3, seed=1).eval()
    assert bigger.config.vocab_size == 29 and bigger.wte.weight.shape == (29, 32)
    assert bigger.lm_head.weight is bigger.wte.weight  # tied: the new rows serve input and output
    x = torch.tensor([[0, 5, 7, 25, 3]])
    assert torch.allclose(bigger(x)[0][..., :26], gpt(x)[0], atol=1e-6, rtol=0)
    assert all(torch.equal(before[k], v) for k, v in gpt.state_dict().items())
    assert 0.005 < bigger.wte.weight[26:].std().item() < 0.05  # the new rows are random N(0, 0.02)


# ------------------------------------------------------------------ the classifier
def test_similarity_adds_both_orderings_so_swapping_the_pair_changes_nothing():
    clf = GPTClassifier(tiny_gpt(), TOK, "similarity").eval()
    ab = clf.encode([TextPair("abc", "zz", 1)])
    ba = clf.encode([TextPair("zz", "abc", 1)])
    logits_ab, _ = clf(ab.idx, ab.lengths)
    logits_ba, _ = clf(ba.idx, ba.lengths)
    assert torch.equal(logits_ab, logits_ba)
    # ... and it is W_y applied to the sum of the two extract states
    h = clf.gpt.hidden_states(ab.idx[0])  # both orderings have the same length
    assert torch.allclose(logits_ab[0], clf.head(h[0, -1] + h[1, -1]), atol=1e-6)


def test_classification_reads_the_extract_token_and_ignores_padding():
    clf = GPTClassifier(tiny_gpt(), TOK, "classification", n_classes=3).eval()
    batch = clf.encode([LabelledText("a", 0), LabelledText("abcdefg", 2)])  # the first is padded
    logits, _ = clf(batch.idx, batch.lengths)
    alone = clf.encode([LabelledText("a", 0)])
    assert logits.shape == (2, 3)
    assert torch.allclose(logits[0], clf(alone.idx, alone.lengths)[0][0], atol=1e-6)
    h = clf.gpt.hidden_states(torch.tensor([[S, 0, E]]))
    assert torch.allclose(logits[0], clf.head(h[0, -1]), atol=1e-6)


def test_multiple_choice_scores_each_answer_alone_and_softmaxes_across_them():
    clf = GPTClassifier(tiny_gpt(), TOK, "multiple_choice").eval()
    batch = clf.encode([MultipleChoice("abc", ("x", "yy", "z"), 1), MultipleChoice("abc", ("z", "x", "yy"), 2)])
    scores, _ = clf(batch.idx, batch.lengths)
    assert scores.shape == (2, 3)  # one score per answer
    assert torch.allclose(scores[1], scores[0][[2, 0, 1]], atol=1e-6)  # a score does not depend on the others
    _, l2, _ = clf.losses(batch, lambda_lm=0.0)
    want = -(scores[0].log_softmax(-1)[1] + scores[1].log_softmax(-1)[2]) / 2
    assert torch.allclose(l2, want, atol=1e-6)


def test_l3_is_l2_plus_lambda_times_the_lm_loss_on_the_same_sequences():
    clf = GPTClassifier(tiny_gpt(), TOK, "entailment").eval()
    examples = [TextPair("abc", "de", 1), TextPair("a", "b", 0)]
    batch = clf.encode(examples)
    l3, l2, l1 = clf.losses(batch, lambda_lm=0.0)
    logits, _ = clf(batch.idx, batch.lengths)
    assert l3.item() == l2.item() == F.cross_entropy(logits, batch.labels).item()
    l3, l2_, l1_ = clf.losses(batch, lambda_lm=0.7)
    assert l3.item() == (l2_ + 0.7 * l1_).item() and l2_.item() == l2.item()
    # L1 by hand: each sequence's next-token loss from the GPT itself, averaged over all real tokens
    total, count = 0.0, 0
    for seq in ([S, 0, 1, 2, D, 3, 4, E], [S, 0, D, 1, E]):
        x = torch.tensor([seq])
        total += clf.gpt(x[:, :-1], x[:, 1:])[1].item() * (len(seq) - 1)
        count += len(seq) - 1
    assert abs(l1.item() - total / count) < 1e-5


# ------------------------------------------------------------------ transfer
def test_transfer_copies_embeddings_and_the_first_k_blocks_and_reinitialises_the_rest():
    source = tiny_gpt(seed=3, n_layer=3)
    fresh = transfer(source, pretrained=False, seed=5)
    for k in range(4):
        model = transfer(source, k, seed=5)
        assert torch.equal(model.wte.weight, source.wte.weight) and torch.equal(model.wpe.weight, source.wpe.weight)
        for layer in range(3):
            like = source if layer < k else fresh
            for (name, p), q in zip(model.h[layer].named_parameters(), like.h[layer].parameters()):
                assert torch.equal(p, q), (k, layer, name)
            if layer >= k:
                assert not torch.equal(model.h[layer].attn.c_attn.weight, source.h[layer].attn.c_attn.weight)
    assert all(torch.equal(p, q) for p, q in zip(transfer(source, seed=5).parameters(), source.parameters()))
    torch.manual_seed(5)
    random_model = GPT(source.config)
    assert all(torch.equal(p, q) for p, q in zip(fresh.parameters(), random_model.parameters()))


def test_transfer_of_a_pre_ln_model_keeps_the_final_layernorm_only_with_every_block():
    source = tiny_gpt(n_layer=2, norm="pre")
    with torch.no_grad():
        source.ln_f.weight.fill_(2.0)
    assert torch.equal(transfer(source).ln_f.weight, source.ln_f.weight)
    assert torch.equal(transfer(source, 1).ln_f.weight, torch.ones(32))


def test_bad_arguments_say_what_is_wrong():
    source = tiny_gpt(n_layer=2)
    with pytest.raises(ValueError, match="from 0 .* to 2"):
        transfer(source, 3)
    with pytest.raises(ValueError, match="from 0"):
        transfer(source, -1)
    with pytest.raises(ValueError, match="copies nothing"):
        transfer(source, 2, pretrained=False)
    clf = GPTClassifier(source, TOK)
    train = [LabelledText("ab", 0), LabelledText("z", 1)]
    with pytest.raises(ValueError, match="lambda_lm"):
        finetune(clf, train, train, steps=1, lambda_lm=-0.5, progress=False)
    with pytest.raises(ValueError, match="need training and validation examples"):
        finetune(clf, [], train, steps=1, progress=False)
    with pytest.raises(ValueError, match="no examples"):
        evaluate(clf, [])
    with pytest.raises(TypeError, match="LabelledText"):
        clf.encode([TextPair("a", "b", 0)])
    with pytest.raises(ValueError, match="labels must be in 0..1"):
        clf.encode([LabelledText("a", 2)])
    with pytest.raises(ValueError, match="same number of answers"):
        GPTClassifier(source, TOK, "multiple_choice").encode(
            [MultipleChoice("a", ("b", "c"), 0), MultipleChoice("a", ("b", "c", "d"), 0)])
    with pytest.raises(ValueError, match="is not one of"):
        GPTClassifier(source, TOK, "summarisation")
    with pytest.raises(ValueError, match="tokenizer has 27 tokens"):
        GPTClassifier(source, CharTokenizer(LETTERS + "."))


# ------------------------------------------------------------------ the loop
def contains_z(n, seed):
    """Label 1 if the text has a 'z': easy, and impossible without reading the whole text."""
    rng, out = random.Random(seed), []
    for i in range(n):
        chars = [rng.choice(LETTERS[:-1]) for _ in range(8)]
        if i % 2:
            chars[rng.randrange(8)] = "z"
        out.append(LabelledText("".join(chars), i % 2))
    return out


def first_letter_choices(n, seed):
    """Multiple choice: which answer is the context's first letter?"""
    rng, out = random.Random(seed), []
    for _ in range(n):
        context = "".join(rng.choice(LETTERS) for _ in range(6))
        wrong = rng.sample([c for c in LETTERS if c != context[0]], 3)
        answer = rng.randrange(4)
        out.append(MultipleChoice(context, tuple(wrong[:answer] + [context[0]] + wrong[answer:]), answer))
    return out


def test_sanity_fine_tuning_learns_an_easy_classification_to_near_100_percent():
    clf = GPTClassifier(tiny_gpt(), TOK, "classification")
    result = finetune(clf, contains_z(512, 0), contains_z(200, 1), steps=150, batch_size=32, lr=3e-3,
                      progress=False)
    assert result.accuracy >= 0.95
    assert result.history[-1]["task_loss"] < 0.1 < result.history[0]["task_loss"]


def test_sanity_fine_tuning_learns_an_easy_multiple_choice_to_near_100_percent():
    clf = GPTClassifier(tiny_gpt(), TOK, "multiple_choice")
    result = finetune(clf, first_letter_choices(512, 0), first_letter_choices(200, 1), steps=500, batch_size=16,
                      lr=3e-3, progress=False)
    assert result.accuracy >= 0.95


def test_fine_tuning_is_fixed_by_its_seed_and_leaves_the_callers_rng_alone():
    def run(seed):
        clf = GPTClassifier(tiny_gpt(), TOK, "classification")  # dropout 0.1 on the head: randomness to fix
        state = torch.get_rng_state()
        result = finetune(clf, contains_z(64, 0), contains_z(32, 1), steps=12, batch_size=8, lr=1e-3,
                          log_every=4, seed=seed, progress=False)
        assert torch.equal(torch.get_rng_state(), state)
        return result, torch.cat([p.detach().flatten() for p in clf.parameters()])

    (a, wa), (b, wb), (_, wc) = run(0), run(0), run(1)
    assert a.history == b.history and torch.equal(wa, wb)
    assert not torch.equal(wa, wc)
    assert [r["step"] for r in a.history] == [4, 8, 12] and a.history[-1]["val_accuracy"] == a.accuracy


def test_on_step_is_called_after_every_step_and_changes_nothing():
    def run(on_step=None):
        clf = GPTClassifier(tiny_gpt(), TOK, "classification")
        result = finetune(clf, contains_z(64, 0), contains_z(32, 1), steps=10, batch_size=8, lr=1e-3,
                          log_every=1, seed=2, progress=False, on_step=on_step)
        return result, torch.cat([p.detach().flatten() for p in clf.parameters()])

    calls = []

    def hook(done, losses):
        calls.append((done, losses))
        torch.rand(3)  # a hook that draws random numbers must not shift dropout's

    (plain, w_plain), (hooked, w_hooked) = run(), run(hook)
    assert [done for done, _ in calls] == list(range(1, 11))
    assert all(set(losses) == {"loss", "task_loss", "lm_loss"} for _, losses in calls)
    assert [losses["loss"] for _, losses in calls] == [r["loss"] for r in hooked.history]  # log_every=1: per step
    assert calls[0][1]["loss"] == pytest.approx(calls[0][1]["task_loss"] + 0.5 * calls[0][1]["lm_loss"])
    assert plain.history == hooked.history and plain.accuracy == hooked.accuracy
    assert torch.equal(w_plain, w_hooked)


def test_stop_after_runs_a_slice_of_the_full_run_step_for_step():
    def run(**kw):
        clf = GPTClassifier(tiny_gpt(), TOK, "classification")
        return finetune(clf, contains_z(64, 0), contains_z(32, 1), steps=12, batch_size=8, lr=1e-3,
                        log_every=4, eval_every=4, seed=3, progress=False, **kw)

    full, part = run(), run(stop_after=8)
    assert part.history == full.history[:2]  # the same schedule: the first 8 steps of 12, record for record
    assert part.accuracy == full.history[1]["val_accuracy"]
    assert run(stop_after=12).history == full.history
    for bad in (13, 0, 2.5):
        with pytest.raises(ValueError, match="stop_after"):
            run(stop_after=bad)


def test_learning_rate_warms_up_linearly_then_decays_to_zero():
    lrs = [linear_warmup_decay(s, 100, 1.0, 0.1) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert max(lrs) == pytest.approx(1.0) and lrs[-1] == pytest.approx(1 / 90)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))
