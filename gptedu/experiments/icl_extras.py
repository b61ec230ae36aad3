"""Chapter 10's measurements beyond the shipped evaluation: where in-context learning comes from, and how fragile it is.

    python -m gptedu.experiments.icl_extras                   # everything: 16 minutes on one core of a busy 2-core machine
    python -m gptedu.experiments.icl_extras --parts induction # one part: induction, finetune, order

Writes data/results/icl_extras.json (84 kB; its "settings" hold each part's command and seconds: induction
72 s, finetune 218 s, order 647 s, measured with one thread while other jobs shared the 2 cores):

- "induction": for every family size, on N sequences of 100 random letters repeated twice (a
  newline, then r, then r again: 201 tokens), the loss at every position (mean over sequences), and
  for every head the mean attention from a token of the second copy to the token that followed its
  previous occurrence (the induction target, Olsson et al. 2022) and to the token just before it
  (the previous-token pattern); plus the in-context learning score (Olsson: the loss late in a
  context minus the loss early) on held-out play text and on the training stream's episodes:
  mean loss over positions 200-249 minus over 20-29, windows of 256 tokens.
- "finetune": random insertion, few-shot vs fine-tuning on the same K examples. For sizes 38k and
  113k, K in 1, 4, 16 and 3 seeds: K held-out word pairs; (a) K-shot accuracy of the pretrained
  model on 200 held-out queries with exactly those K lines as demonstrations; (b) the model
  fine-tuned on those K lines (loss on the answer only, AdamW, gptedu.finetune's linear warmup
  and decay, 40 or 160 full-batch steps, lr 1e-3), then asked the same queries zero-shot (and,
  for the record, few-shot with the same K lines).
- "order": the mapping task at K = 8 for the 389k and 1.4m models, 100 shipped instances (seed 0):
  exact-match accuracy under 8 orderings of each instance's demonstrations, and how many instances
  flip between right and wrong across them; choice accuracy among the labels the demonstrations show
  (instances whose query word appears among them), raw and with Zhao et al. 2021's contextual
  calibration (content-free queries "N/A" and "", their probabilities averaged); and all of it for
  the first ordering with the format changed (" -> " replaced by " = " and by ": ").
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ..checks import check_output_file
from .. import evaluation
from ..family import SIZES, family_members, load_family, validation_tokens
from ..finetune import linear_warmup_decay
from ..subtask_corpus import (ARROW, SubtaskCorpus, evaluation_words, family_tokenizer, mapping_pairs,
                               new_labels, render_answer, render_prompt, word_pairs)

ROOT = Path(__file__).resolve().parents[2]

RESULTS = ROOT / "data" / "results" / "icl_extras.json"
LETTERS = "abcdefghijklmnopqrstuvwxyz"
LINES, WORD_LEN = 7, 5  # a repeated sequence of lines: 7 lines "word -> lab\n" of 13 characters each
REPEAT_LEN = LINES * (WORD_LEN + len(ARROW) + 3 + 1)  # 91 tokens per copy; newline + 2 copies = 183 < 256
EARLY, LATE = (20, 30), (200, 250)  # the ICL score's windows (token positions)


def repeated_random(n: int, kind: str = "lines", seed: int = 0) -> torch.Tensor:
    """(n, 1 + 2 REPEAT_LEN) token ids: a newline, a random stretch r of REPEAT_LEN tokens, then r again.

    kind "letters": r is random lower-case letters (Olsson et al.'s probe: repeated random tokens);
    kind "lines": r is LINES lines "word -> lab", random held-out 5-letter words with fresh random
    labels: random content in the format of the training stream's episodes.
    """
    tok = family_tokenizer()
    rng = random.Random(f"repeat/{kind}/{seed}")
    five = [w for w in evaluation_words() if len(w) == WORD_LEN]
    rows = []
    for _ in range(n):
        if kind == "letters":
            r = "".join(rng.choice(LETTERS) for _ in range(REPEAT_LEN))
        elif kind == "lines":
            r = "".join(f"{w}{ARROW}{lab}\n" for w, lab in zip(rng.sample(five, LINES), new_labels(LINES, rng)))
        else:
            raise ValueError(f"kind={kind!r} must be 'letters' or 'lines'.")
        rows.append(tok.encode("\n" + r + r))
    return torch.tensor(rows, dtype=torch.long)


@torch.no_grad()
def per_position_loss(model, idx: torch.Tensor, batch_size: int = 32) -> list[float]:
    """The loss (nats) of predicting token t+1 from tokens 0..t, for every t, averaged over the rows of idx."""
    model.eval()
    total = torch.zeros(idx.size(1) - 1, dtype=torch.float64)
    for lo in range(0, idx.size(0), batch_size):
        x = idx[lo:lo + batch_size]
        logits, _ = model(x[:, :-1])
        loss = F.cross_entropy(logits.transpose(1, 2), x[:, 1:], reduction="none")  # (B, T-1)
        total += loss.double().sum(0)
    return (total / idx.size(0)).tolist()


@torch.no_grad()
def head_scores(model, idx: torch.Tensor, length: int = REPEAT_LEN) -> dict[str, list[list[float]]]:
    """Per layer and head, over the second copy of repeated sequences (positions length+1 .. 2 length - 1):
    "induction": mean attention to the token after the previous occurrence (position t - length + 1);
    "previous": mean attention to the token just before (t - 1)."""
    model.eval()
    t = torch.arange(length + 1, 2 * length)
    induction = previous = 0.0
    for lo in range(0, idx.size(0), 16):  # 16 sequences at a time: the maps are (L, B, H, T, T)
        maps = model.attention_maps(idx[lo:lo + 16])
        induction = induction + maps[:, :, :, t, t - length + 1].sum(dim=1).mean(dim=-1)  # (L, H)
        previous = previous + maps[:, :, :, t, t - 1].sum(dim=1).mean(dim=-1)
    return {"induction": (induction / idx.size(0)).tolist(), "previous": (previous / idx.size(0)).tolist()}


def windows(tokens: torch.Tensor, n: int, block: int, seed: int) -> torch.Tensor:
    """n random windows of block + 1 tokens (seeded)."""
    g = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(tokens) - block - 1, (n,), generator=g)
    return torch.stack([tokens[s:s + block + 1] for s in starts.tolist()])


def icl_score(losses: list[float]) -> float:
    """Olsson et al.'s in-context learning score on a per-position loss curve: late minus early (negative: learns)."""
    late = losses[LATE[0]:LATE[1]]
    early = losses[EARLY[0]:EARLY[1]]
    return sum(late) / len(late) - sum(early) / len(early)


def stream_tokens(n_chars: int = 300_000, seed: int = 12345) -> torch.Tensor:
    """A fresh stretch of the training stream (another corpus seed than training's): episodes and play text."""
    return torch.tensor(family_tokenizer().encode(SubtaskCorpus(seed=seed).stream(n_chars)), dtype=torch.long)


def run_induction(sizes, n_seq: int = 64, n_windows: int = 128) -> dict:
    reps = {kind: repeated_random(n_seq, kind) for kind in ("letters", "lines")}
    val, stream = validation_tokens(), stream_tokens()
    out = {"n_sequences": n_seq, "length": REPEAT_LEN, "lines": LINES, "n_windows": n_windows, "early": EARLY,
           "late": LATE, "sizes": {}}
    r2 = lambda values: [round(v, 4) for v in values]  # noqa: E731
    for name in sizes:
        t0 = time.perf_counter()
        model, _ = load_family(name)
        block = model.config.block_size
        s = out["sizes"][name] = {}
        for kind, idx in reps.items():
            rep = per_position_loss(model, idx)
            scores = head_scores(model, idx)
            s[kind] = {"loss": r2(rep), "first_copy_loss": sum(rep[:REPEAT_LEN]) / REPEAT_LEN,
                       "second_copy_loss": sum(rep[REPEAT_LEN:]) / (len(rep) - REPEAT_LEN),
                       "induction": [r2(row) for row in scores["induction"]],
                       "previous": [r2(row) for row in scores["previous"]]}
        plays = per_position_loss(model, windows(val, n_windows, block, seed=1))
        episodes = per_position_loss(model, windows(stream, n_windows, block, seed=2))
        s.update(icl_score_plays=icl_score(plays), icl_score_stream=icl_score(episodes),
                 plays_loss=r2(plays), stream_loss=r2(episodes), seconds=round(time.perf_counter() - t0, 1))
        best = {k: max(v for row in s[k]["induction"] for v in row) for k in reps}
        print(f"{name}: " + "; ".join(f"{k}: loss {s[k]['first_copy_loss']:.2f} -> {s[k]['second_copy_loss']:.2f}, "
                                      f"best induction head {best[k]:.2f}" for k in reps)
              + f"; ICL score plays {s['icl_score_plays']:.3f} stream {s['icl_score_stream']:.3f}", flush=True)
    return out


# ====================================================================== few-shot vs fine-tuning
FT_TASK, FT_STEPS, FT_LR, FT_QUERIES = "insertion", 40, 1e-3, 200


def fixed_examples(k: int, seed: int, task: str = FT_TASK) -> list[tuple[str, str]]:
    """K held-out (input, output) pairs of a word task, seeded."""
    return word_pairs(task, evaluation_words(), k, random.Random(f"finetune/{task}/{k}/{seed}"))


def queries(examples: list[tuple[str, str]], n: int = FT_QUERIES, task: str = FT_TASK) -> list[tuple[str, str]]:
    """n held-out queries whose words are not among the examples' (seeded, the same for every K and seed)."""
    used = {w for _, w in examples}
    pool = [p for p in word_pairs(task, evaluation_words(), n + 40, random.Random(f"finetune/{task}/queries"))
            if p[1] not in used]
    return pool[:n]


def prompt_instances(examples, qs, task: str = FT_TASK) -> list:
    return [evaluation.Instance(render_prompt(task, examples, q, False), render_answer(t)) for q, t in qs]


def finetune_on(model, tokenizer, examples: list[tuple[str, str]], steps: int = FT_STEPS, lr: float = FT_LR,
                seed: int = 0, task: str = FT_TASK):
    """A copy of model fine-tuned on the example lines (each its own zero-shot sequence "input -> output\\n"),
    loss on the answer and newline only: AdamW (0.9, 0.95), no weight decay, linear warmup (10%) and decay."""
    tuned = copy.deepcopy(model).train()
    rows, targets = [], []
    for src, tgt in examples:
        prompt = tokenizer.encode(render_prompt(task, [], src, False))
        answer = tokenizer.encode(render_answer(tgt) + "\n")
        seq = prompt + answer
        rows.append(seq[:-1])
        targets.append([-1] * (len(prompt) - 1) + answer)
    T = max(len(r) for r in rows)
    x = torch.zeros(len(rows), T, dtype=torch.long)
    y = torch.full((len(rows), T), -1, dtype=torch.long)
    for i, (r, t) in enumerate(zip(rows, targets)):
        x[i, :len(r)], y[i, :len(t)] = torch.tensor(r), torch.tensor(t)
    opt = torch.optim.AdamW(tuned.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    losses = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = linear_warmup_decay(step, steps, lr, 0.1)
            _, loss = tuned(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return tuned.eval(), losses


def few_shot_vs_finetune(model, tokenizer, k: int, seed: int, n: int = FT_QUERIES, steps: int = FT_STEPS) -> dict:
    """Few-shot with K fixed examples vs the model fine-tuned on them, on the same n held-out queries."""
    examples = fixed_examples(k, seed)
    qs = queries(examples, n)
    t0 = time.perf_counter()
    few, _ = evaluation.exact_match_scores(model, tokenizer, prompt_instances(examples, qs))
    zero, _ = evaluation.exact_match_scores(model, tokenizer, prompt_instances([], qs))
    t1 = time.perf_counter()
    tuned, losses = finetune_on(model, tokenizer, examples, steps=steps, seed=seed)
    t2 = time.perf_counter()
    ft, _ = evaluation.exact_match_scores(tuned, tokenizer, prompt_instances([], qs))
    ft_few, _ = evaluation.exact_match_scores(tuned, tokenizer, prompt_instances(examples, qs))
    return {"k": k, "seed": seed, "steps": steps, "n": len(qs), "few_shot": sum(few) / len(qs),
            "zero_shot": sum(zero) / len(qs), "finetuned": sum(ft) / len(qs),
            "finetuned_few_shot": sum(ft_few) / len(qs), "finetune_loss_first": losses[0],
            "finetune_loss_last": losses[-1], "few_shot_seconds": round(t1 - t0, 2),
            "finetune_seconds": round(t2 - t1, 2)}


def run_finetune(sizes=("38k", "113k"), ks=(1, 4, 16), seeds=(0, 1, 2), step_counts=(FT_STEPS, 4 * FT_STEPS)) -> dict:
    out = {"task": FT_TASK, "steps": list(step_counts), "lr": FT_LR, "queries": FT_QUERIES, "rows": []}
    for name in sizes:
        model, tok = load_family(name)
        for k in ks:
            for steps in step_counts:
                for seed in seeds:
                    r = {"size": name, **few_shot_vs_finetune(model, tok, k, seed, steps=steps)}
                    out["rows"].append(r)
                    print(f"{name} K={k} {steps} steps seed {seed}: zero-shot {r['zero_shot']:.2f}, few-shot "
                          f"{r['few_shot']:.2f}, fine-tuned {r['finetuned']:.2f} (then few-shot "
                          f"{r['finetuned_few_shot']:.2f}; {r['finetune_seconds']:.1f} s)", flush=True)
    return out


# ====================================================================== order, format, calibration
ORDER_K, ORDER_N, ORDERINGS = 8, 100, 8
FORMATS = {"arrow": ARROW, "equals": " = ", "colon": ": "}
CONTENT_FREE = ("N/A", "")


def mapping_sets(k: int = ORDER_K, n: int = ORDER_N, seed: int = 0) -> list[tuple[list, tuple[str, str]]]:
    """The mapping instances of gptedu.evaluation (the same RNG draws), as (demonstrations, (query, label))."""
    rng = random.Random(f"mapping/{k}/{seed}")
    out = []
    for _ in range(n):
        pairs = mapping_pairs(evaluation_words(), evaluation.MAPPING_WORDS, k + 1, rng)
        out.append((pairs[:-1], pairs[-1]))
    return out


def render(examples, query: str, arrow: str = ARROW) -> str:
    """render_prompt's layout with another separator (arrow=ARROW gives render_prompt's text exactly)."""
    return "".join(f"{s}{arrow}{t}\n" for s, t in examples) + query + arrow.rstrip()


def ordering(n: int, j: int, seed: int = 0) -> list[int]:
    """The j-th ordering of n demonstrations (j = 0: as drawn)."""
    order = list(range(n))
    if j:
        random.Random(f"order/{seed}/{j}").shuffle(order)
    return order


def exact_accuracy(model, tok, sets, j: int, arrow: str = ARROW) -> list[bool]:
    items = []
    for examples, (q, t) in sets:
        ex = [examples[i] for i in ordering(len(examples), j)]
        answer = " " + t if arrow.endswith(" ") else t
        items.append(evaluation.Instance(render(ex, q, arrow), answer))
    return evaluation.exact_match_scores(model, tok, items)[0]


@torch.no_grad()
def label_probs(model, tok, prompt: str, labels: list[str]) -> torch.Tensor:
    """P(" label\\n" | prompt) for each label (probabilities of the whole continuation, normalised over labels)."""
    from ..fewshot import choice_logprobs
    lp = choice_logprobs(model, tok, prompt, [render_answer(lab) + "\n" for lab in labels], normalize=False)
    return torch.softmax(lp, dim=0)


def choice_accuracy(model, tok, sets, j: int, arrow: str = ARROW) -> tuple[list[bool], list[bool]]:
    """Raw and calibrated choice among the demonstrations' labels, for instances whose query was shown."""
    raw, cal = [], []
    for examples, (q, t) in sets:
        shown = dict(examples)
        if q not in shown:
            continue
        labels = sorted(set(shown.values()))
        ex = [examples[i] for i in ordering(len(examples), j)]
        p = label_probs(model, tok, render(ex, q, arrow), labels)
        p_cf = torch.stack([label_probs(model, tok, render(ex, cf, arrow), labels) for cf in CONTENT_FREE]).mean(0)
        calibrated = p / p_cf  # Zhao et al.: W = diag(p_cf)^-1, b = 0
        raw.append(labels[int(p.argmax())] == t)
        cal.append(labels[int(calibrated.argmax())] == t)
    return raw, cal


def run_order(sizes=("389k", "1.4m")) -> dict:
    sets = mapping_sets()
    out = {"task": "mapping", "k": ORDER_K, "n": ORDER_N, "orderings": ORDERINGS, "formats": FORMATS,
           "content_free": CONTENT_FREE, "sizes": {}}
    for name in sizes:
        t0 = time.perf_counter()
        model, tok = load_family(name)
        r = {"exact": [], "formats": {}, "choice_raw": [], "choice_calibrated": []}
        per_instance = []
        for j in range(ORDERINGS):
            c = exact_accuracy(model, tok, sets, j)
            per_instance.append(c)
            r["exact"].append(sum(c) / len(c))
            raw, cal = choice_accuracy(model, tok, sets, j)
            r["choice_raw"].append(sum(raw) / len(raw))
            r["choice_calibrated"].append(sum(cal) / len(cal))
            r["choice_n"] = len(raw)
        r["flipping_instances"] = sum(len(set(col)) > 1 for col in zip(*per_instance)) / len(sets)
        for fmt, arrow in FORMATS.items():
            c = exact_accuracy(model, tok, sets, 0, arrow)
            raw, cal = choice_accuracy(model, tok, sets, 0, arrow)
            r["formats"][fmt] = {"exact": sum(c) / len(c), "choice_raw": sum(raw) / len(raw),
                                 "choice_calibrated": sum(cal) / len(cal)}
        r["seconds"] = round(time.perf_counter() - t0, 1)
        out["sizes"][name] = r
        print(f"{name}: exact over orderings {min(r['exact']):.2f}-{max(r['exact']):.2f}; formats {r['formats']}; "
              f"choice raw {min(r['choice_raw']):.2f}-{max(r['choice_raw']):.2f}, calibrated "
              f"{min(r['choice_calibrated']):.2f}-{max(r['choice_calibrated']):.2f} ({r['seconds']} s)", flush=True)
    return out


# ====================================================================== main
PARTS = {"induction": lambda: run_induction(family_members()), "finetune": run_finetune, "order": run_order}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(prog="python -m gptedu.experiments.icl_extras", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", nargs="+", default=list(PARTS), choices=list(PARTS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(RESULTS))
    args = p.parse_args(argv)
    check_output_file(args.out, "--out")  # before the first part runs, not after it
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    settings = results.setdefault("settings", {})
    for part in args.parts:
        t0 = time.perf_counter()
        results[part] = PARTS[part]()
        settings[part] = {"command": "python -m gptedu.experiments.icl_extras --parts " + part,
                          "seconds": round(time.perf_counter() - t0, 1), "threads": args.threads,
                          "torch": torch.__version__, "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
        out.write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
