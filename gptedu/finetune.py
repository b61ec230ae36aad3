"""GPT-1 fine-tuning (sections 3.2-3.3, Figure 1 right): one pretrained model, four task shapes.

GPT-1 fine-tunes with almost no new machinery. Each task's input is rewritten as token
sequences the pretrained Transformer can read, and one new linear layer W_y reads the final
hidden state at the sequence's last token. The rewrite uses three tokens pretraining never saw,
added as new, randomly initialised rows of the token embedding (as GPT-1 did):

    start <s>     delimiter $     extract <e>

    classification   [<s>; text; <e>]                            h        -> W_y -> class logits
    entailment       [<s>; premise; $; hypothesis; <e>]          h        -> W_y -> class logits
    similarity       [<s>; a; $; b; <e>] and [<s>; b; $; a; <e>] h1 + h2  -> W_y -> class logits
    multiple choice  [<s>; context; $; answer_k; <e>], each k    h_k      -> W_y -> one score per answer,
                                                                             softmax across the answers

h is the final hidden state (GPT.hidden_states) at the extract token. Training minimises
L3 = L2 + lambda * L1 (eq. 5): the task's cross-entropy L2 plus, as an auxiliary objective,
the language-model loss L1 on the same sequences (lambda = 0.5 in the paper).

    gpt, tok = load_shipped()
    clf = GPTClassifier(transfer(gpt, n_layers=6), tok, task="classification")
    result = finetune(clf, train_examples, test_examples, steps=300)
    result.accuracy

Too long? A sequence that does not fit the model's block_size loses tokens from the LEFT
of its first text part (the text, premise, or context); the start, delimiter and extract
tokens and the second part (hypothesis, answer) are always kept whole.

One module, though long: one idea, GPT-1's fine-tuning; the special tokens, the input transformations,
the classifier and the loop follow the paper's sections 3.2-3.3 in order.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from .config import require_bool, require_int, require_number
from .model import GPT
from .train import TrainingDiverged

TASKS = ("classification", "entailment", "similarity", "multiple_choice")
SPECIALS = ("<s>", "$", "<e>")  # start, delimiter, extract: how decode() shows them
# GPT-1 used 6.25e-5 at 116.5M parameters; small models want more. With 3e-4 the shipped 6x192 char model
# reached 61% on sentiment in 200 steps (random init: 48%; gptedu.experiments.finetune_probe). Not tuned further.
DEFAULT_LR = 3e-4


@contextlib.contextmanager
def _seeded(seed: int):
    """Run a block with torch's global RNG seeded, then give the caller back its own RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


# ====================================================================== special tokens
class SpecialTokenizer:
    """A tokenizer plus GPT-1's start, delimiter and extract tokens, numbered after its vocabulary.

    With the shipped 84-character tokenizer: <s> = 84, $ = 85, <e> = 86. They cannot be typed:
    encode() never produces them (a "$" in text is an ordinary character, or unknown), only the
    input transformations below put them in.
    """

    def __init__(self, base):
        if isinstance(base, SpecialTokenizer):
            raise ValueError("this tokenizer already has the special tokens; pass its .base instead.")
        self.base = base
        self.start, self.delim, self.extract = (base.vocab_size + i for i in range(len(SPECIALS)))

    @property
    def vocab_size(self) -> int:
        return self.base.vocab_size + len(SPECIALS)

    def encode(self, text: str) -> list[int]:
        return self.base.encode(text)

    def decode(self, ids) -> str:
        """Text, with the special tokens shown as <s>, $ and <e>."""
        out, run = [], []
        for i in ids:
            i = int(i)
            if i >= self.base.vocab_size:
                out.append(self.base.decode(run))
                run = []
                out.append(SPECIALS[i - self.base.vocab_size])
            else:
                run.append(i)
        out.append(self.base.decode(run))
        return "".join(out)

    def __repr__(self) -> str:
        return f"SpecialTokenizer({self.base!r} + <s>={self.start}, $={self.delim}, <e>={self.extract})"


def add_tokens(gpt: GPT, n_new: int, seed: int = 0) -> GPT:
    """A copy of `gpt` whose vocabulary has n_new more tokens, their embedding rows random N(0, 0.02).

    Every existing weight is copied unchanged, so on inputs without the new tokens the copy's
    logits for the old tokens equal the original's (the new tokens just add logit columns).
    With tied embeddings (GPT-1) lm_head is wte, so the new rows serve both. `gpt` is not changed.
    """
    if isinstance(n_new, bool) or not isinstance(n_new, int) or n_new < 0:
        raise ValueError(f"n_new={n_new!r} must be a non-negative integer.")
    old = gpt.config.vocab_size
    config = dataclasses.replace(gpt.config, vocab_size=old + n_new)
    with _seeded(seed):
        bigger = GPT(config)
    state = bigger.state_dict()
    for name, tensor in gpt.state_dict().items():
        if name in ("wte.weight", "lm_head.weight"):
            state[name][:old] = tensor  # old rows kept; rows old.. keep their fresh random values
        else:
            state[name] = tensor
    bigger.load_state_dict(state)
    return bigger.train(gpt.training)


# ====================================================================== input transformations
def _pack(tok: SpecialTokenizer, first: list[int], second: list[int] | None, block_size: int) -> list[int]:
    """[<s>; first; <e>] or [<s>; first; $; second; <e>], cropping `first` from the left to fit block_size."""
    n_specials = 2 if second is None else 3
    room = block_size - n_specials - (len(second) if second is not None else 0)
    if room < 1:
        raise ValueError(f"the second part has {len(second)} tokens: with <s>, $ and <e> it leaves no room "
                         f"for the first part in block_size={block_size}. Shorten it or use a larger model.")
    body = first[-room:] if first else []
    if second is None:
        return [tok.start, *body, tok.extract]
    return [tok.start, *body, tok.delim, *second, tok.extract]


def classification_input(tok: SpecialTokenizer, text: str, block_size: int) -> list[int]:
    """[<s>; text; <e>]"""
    return _pack(tok, tok.encode(text), None, block_size)


def entailment_input(tok: SpecialTokenizer, premise: str, hypothesis: str, block_size: int) -> list[int]:
    """[<s>; premise; $; hypothesis; <e>]"""
    return _pack(tok, tok.encode(premise), tok.encode(hypothesis), block_size)


def similarity_inputs(tok: SpecialTokenizer, a: str, b: str, block_size: int) -> list[list[int]]:
    """Both orderings, [<s>; a; $; b; <e>] and [<s>; b; $; a; <e>]: similarity has no natural order."""
    return [entailment_input(tok, a, b, block_size), entailment_input(tok, b, a, block_size)]


def multiple_choice_inputs(tok: SpecialTokenizer, context: str, answers: Sequence[str],
                           block_size: int) -> list[list[int]]:
    """One sequence per answer: [<s>; context; $; answer_k; <e>]."""
    if not answers:
        raise ValueError("a multiple-choice example needs at least one answer.")
    return [entailment_input(tok, context, answer, block_size) for answer in answers]


# ====================================================================== examples -> tensors
@dataclass
class Encoded:
    """Examples as tensors: m sequences per example (1, 2 for similarity, or one per answer).

    idx (N, m, T) token ids, right-padded with 0 (padding after <e> changes nothing: attention is
    causal); lengths (N, m), so the extract token of sequence j of example i is at lengths[i, j] - 1;
    labels (N,) the class, or the index of the right answer.
    """
    idx: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.labels.numel()

    def __getitem__(self, rows) -> "Encoded":
        """A batch: the rows, cropped to their longest sequence."""
        lengths = self.lengths[rows]
        return Encoded(self.idx[rows][..., :int(lengths.max())], lengths, self.labels[rows])

    def to(self, device: str | torch.device) -> "Encoded":
        return Encoded(self.idx.to(device), self.lengths.to(device), self.labels.to(device))


def _sequences_and_label(task: str, tok: SpecialTokenizer, example, block_size: int) -> tuple[list, int]:
    try:
        if task == "classification":
            return [classification_input(tok, example.text, block_size)], example.label
        if task == "entailment":
            return [entailment_input(tok, example.first, example.second, block_size)], example.label
        if task == "similarity":
            return similarity_inputs(tok, example.first, example.second, block_size), example.label
        return multiple_choice_inputs(tok, example.context, example.choices, block_size), example.answer
    except AttributeError:
        wants = {"classification": "LabelledText(text, label)", "entailment": "TextPair(first, second, label)",
                 "similarity": "TextPair(first, second, label)",
                 "multiple_choice": "MultipleChoice(context, choices, answer)"}[task]
        raise TypeError(f"a {task} task takes examples like gptedu.tasks.{wants}; "
                        f"got {type(example).__name__}.") from None


# ====================================================================== the model
class GPTClassifier(nn.Module):
    """A pretrained GPT, extended with <s>, $, <e>, plus GPT-1's linear head W_y on the extract token.

    forward(idx, lengths) returns the task logits and the language-model loss L1 on the same
    sequences, from one pass through the Transformer. The task logits are (N, n_classes), or
    (N, n_answers) for multiple choice, where W_y gives each answer's sequence one score
    (n_classes is then unused: the number of answers is set by the examples).
    `gpt` is copied (add_tokens), never changed; `tokenizer` is its plain tokenizer.
    """

    def __init__(self, gpt: GPT, tokenizer, task: str = "classification", n_classes: int = 2, *,
                 head_dropout: float = 0.1, seed: int = 0):
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"task={task!r} is not one of {', '.join(map(repr, TASKS))}.")
        if tokenizer.vocab_size != gpt.config.vocab_size:
            raise ValueError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model {gpt.config.vocab_size}: "
                             f"pass the model's own tokenizer (load_shipped() returns both).")
        if task != "multiple_choice" and (isinstance(n_classes, bool) or not isinstance(n_classes, int)
                                          or n_classes < 2):
            raise ValueError(f"n_classes={n_classes!r} must be an integer >= 2.")
        self.task, self.n_classes = task, n_classes
        self.tokenizer = SpecialTokenizer(tokenizer)
        self.gpt = add_tokens(gpt, len(SPECIALS), seed=seed)
        self.drop = nn.Dropout(head_dropout)  # GPT-1: "dropout to the classifier with a rate of 0.1"
        self.head = nn.Linear(gpt.config.n_embd, 1 if task == "multiple_choice" else n_classes)  # W_y
        with _seeded(seed):
            nn.init.normal_(self.head.weight, std=0.02)
            nn.init.zeros_(self.head.bias)

    @property
    def block_size(self) -> int:
        return self.gpt.config.block_size

    def encode(self, examples: Sequence) -> Encoded:
        """Apply the task's input transformation to each example, and pad into tensors."""
        if len(examples) == 0:
            raise ValueError("no examples: give at least one.")
        seqs, labels = zip(*(_sequences_and_label(self.task, self.tokenizer, ex, self.block_size)
                             for ex in examples))
        m = len(seqs[0])
        if any(len(s) != m for s in seqs):
            raise ValueError("every multiple-choice example must have the same number of answers; got "
                             f"{sorted({len(s) for s in seqs})}.")
        n_out = m if self.task == "multiple_choice" else self.n_classes
        bad = [label for label in labels if not 0 <= label < n_out]
        if bad:
            raise ValueError(f"labels must be in 0..{n_out - 1}; got {bad[0]!r}.")
        T = max(len(s) for group in seqs for s in group)
        idx = torch.zeros(len(seqs), m, T, dtype=torch.long)
        lengths = torch.zeros(len(seqs), m, dtype=torch.long)
        for i, group in enumerate(seqs):
            for j, s in enumerate(group):
                idx[i, j, :len(s)] = torch.tensor(s)
                lengths[i, j] = len(s)
        return Encoded(idx, lengths, torch.tensor(labels, dtype=torch.long))

    def forward(self, idx: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """idx (N, m, T), lengths (N, m) -> task logits (N, n_out), L1 (a scalar, nats per token)."""
        N, m, T = idx.shape
        flat, flat_lengths = idx.reshape(N * m, T), lengths.reshape(N * m)
        h = self.gpt.hidden_states(flat)  # (N*m, T, C): one pass serves both losses
        h_extract = h[torch.arange(N * m), flat_lengths - 1].view(N, m, -1)  # (N, m, C)
        if self.task == "similarity":
            logits = self.head(self.drop(h_extract.sum(dim=1)))  # the two orderings' states, added
        elif self.task == "multiple_choice":
            logits = self.head(self.drop(h_extract)).squeeze(-1)  # (N, m): one score per answer
        else:
            logits = self.head(self.drop(h_extract[:, 0]))
        # L1 on the same sequences: position t predicts token t+1; padding is not predicted.
        # Like OpenAI's code, every token after <s> is a target, $ and <e> included.
        targets = flat[:, 1:].masked_fill(torch.arange(1, T) >= flat_lengths[:, None], -1)
        lm_logits = self.gpt.lm_head(h[:, :-1])
        lm_loss = F.cross_entropy(lm_logits.reshape(-1, lm_logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, lm_loss

    def losses(self, batch: Encoded, lambda_lm: float = 0.5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """L3 = L2 + lambda_lm * L1, and L2 (the task's cross-entropy) and L1; softmax across
        the answers for multiple choice, across the classes otherwise."""
        _check_lambda(lambda_lm)
        logits, l1 = self(batch.idx, batch.lengths)
        l2 = F.cross_entropy(logits, batch.labels)
        return l2 + lambda_lm * l1, l2, l1

    @torch.no_grad()
    def predict(self, examples: Sequence | Encoded, batch_size: int = 64) -> torch.Tensor:
        """The predicted class (or answer index) of each example, in eval mode."""
        data = examples if isinstance(examples, Encoded) else self.encode(examples)
        was_training = self.training
        self.eval()
        try:
            device = self.head.weight.device
            return torch.cat([self(*_inputs(data[i:i + batch_size].to(device)))[0].argmax(-1).cpu()
                              for i in range(0, len(data), batch_size)])
        finally:
            self.train(was_training)


def _inputs(batch: Encoded) -> tuple[torch.Tensor, torch.Tensor]:
    return batch.idx, batch.lengths


def _check_lambda(lambda_lm: float) -> None:
    if not (isinstance(lambda_lm, (int, float)) and math.isfinite(lambda_lm) and lambda_lm >= 0):
        raise ValueError(f"lambda_lm={lambda_lm!r} must be a number >= 0 (0: no auxiliary LM loss).")


def evaluate(model: GPTClassifier, examples: Sequence | Encoded, batch_size: int = 64) -> float:
    """Accuracy: the fraction of examples whose predicted class (or answer) is the label."""
    data = examples if isinstance(examples, Encoded) else model.encode(examples)
    return (model.predict(data, batch_size) == data.labels).float().mean().item()


# ====================================================================== transfer
def transfer(source: GPT, n_layers: int | None = None, *, pretrained: bool = True, seed: int = 0) -> GPT:
    """A new GPT of source's shape, starting from source's embeddings and first n_layers blocks.

    GPT-1 Figure 2 (left) counts "layers transferred" from 0 to 12:
      n_layers=k     copy the token and position embeddings and blocks 0..k-1; blocks k.. are
                     freshly initialised. k=0 transfers the embeddings only.
      n_layers=None  all blocks (and, for a pre-LN model, the final LayerNorm and an untied lm_head,
                     which only make sense on top of the last block).
      pretrained=False  copy nothing: the same architecture, all random ("no pre-training", Table 5).
    Fresh weights come from GPT's own initialisation with torch seeded by `seed`; the caller's
    random state and `source` are not changed.
    """
    pretrained = require_bool("pretrained", pretrained)  # pretrained="no" would otherwise copy everything
    L = source.config.n_layer
    if pretrained is False:
        if n_layers not in (None, 0):
            raise ValueError(f"pretrained=False copies nothing, so n_layers={n_layers} has no meaning; leave it out.")
    elif n_layers is None:
        n_layers = L
    elif isinstance(n_layers, bool) or not isinstance(n_layers, int) or not 0 <= n_layers <= L:
        raise ValueError(f"n_layers={n_layers!r} must be an integer from 0 (embeddings only) to "
                         f"{L} (every block of this {L}-layer model), or None for all.")
    with _seeded(seed):
        model = GPT(source.config)
    if pretrained:
        with torch.no_grad():
            model.wte.weight.copy_(source.wte.weight)  # a tied lm_head is this same tensor
            model.wpe.weight.copy_(source.wpe.weight)
            for k in range(n_layers):
                model.h[k].load_state_dict(source.h[k].state_dict())
            if n_layers == L:
                model.ln_f.load_state_dict(source.ln_f.state_dict())
                if not source.config.tie_embeddings:
                    model.lm_head.load_state_dict(source.lm_head.state_dict())
    return model


# ====================================================================== the fine-tuning loop
@dataclass
class FinetuneResult:
    """history: one record per log point: step, lr, loss (L3), task_loss (L2), lm_loss (L1),
    train_accuracy (means over the steps since the previous record), and val_accuracy where measured.
    accuracy: on the validation examples after the last step."""
    history: list[dict] = field(default_factory=list)
    accuracy: float = float("nan")


def linear_warmup_decay(step: int, steps: int, lr: float, warmup: float) -> float:
    """GPT-1's schedule: rise linearly to lr over the first `warmup` fraction of the steps, then fall
    linearly to 0 at the last step. (GPT-1 warmed up over 0.2% of training; short runs need more.)"""
    warmup_steps = max(1, round(warmup * steps))
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    return lr * max(0.0, (steps - step) / max(1, steps - warmup_steps))


def finetune(model: GPTClassifier, train_examples: Sequence, val_examples: Sequence, *,
             steps: int = 300, batch_size: int = 16, lr: float = DEFAULT_LR, lambda_lm: float = 0.5,
             warmup: float = 0.1, weight_decay: float = 0.01, grad_clip: float = 1.0,
             eval_every: int | None = None, log_every: int | None = None, seed: int = 0,
             progress: bool = True, on_step: Callable[[int, dict], None] | None = None,
             stop_after: int | None = None) -> FinetuneResult:
    """Fine-tune `model` in place on train_examples with L3 = L2 + lambda_lm * L1; return the
    history and the final accuracy on val_examples.

    AdamW (betas 0.9, 0.999; weight decay on matrices only) with linear warmup and decay, batches
    drawn in a shuffled order epoch after epoch, gradient norm clipped at grad_clip. A run is fixed
    by `seed` (batch order and dropout) and the torch thread count; the caller's RNG is untouched.
    eval_every: also measure validation accuracy every this many steps (slower); log_every:
    steps between history records (default: 20 records per run). on_step(steps_done, losses), if
    given, is called after every optimizer step with that step's {"loss", "task_loss", "lm_loss"}
    (e.g. to move a progress bar); it cannot change the run (it gets its own copy of torch's RNG).
    stop_after: run only the first stop_after of the `steps` steps, on the same schedule: a slice of
    the full run, step for step, with its last record and the accuracy taken where it stops.
    """
    _check_lambda(lambda_lm)
    steps, batch_size = require_int("steps", steps), require_int("batch_size", batch_size)
    require_number("lr", lr, positive=True, hint=f", e.g. {DEFAULT_LR}")
    if not (require_number("warmup", warmup) <= 1):
        raise ValueError(f"warmup={warmup!r} is a fraction of the steps, in [0, 1].")
    require_number("weight_decay", weight_decay, hint=" (0 turns decay off; GPT-1 used 0.01)")
    if grad_clip is not None:
        require_number("grad_clip", grad_clip, hint=" (0 or None turns clipping off)")
    if log_every is not None:
        log_every = require_int("log_every", log_every, hint=" (or None: 20 records per run)")
    if eval_every is not None:
        eval_every = require_int("eval_every", eval_every, hint=" (or None: accuracy at the end only)")
    seed = require_int("seed", seed, minimum=None)
    run_steps = steps if stop_after is None else require_int("stop_after", stop_after, maximum=steps,
                                                             hint=" (a slice of the run's steps)")
    if len(train_examples) == 0 or len(val_examples) == 0:
        raise ValueError(f"need training and validation examples; got {len(train_examples)} and {len(val_examples)}.")
    train, val = model.encode(train_examples), model.encode(val_examples)
    if log_every is None:
        log_every = max(1, steps // 20)

    device = model.head.weight.device
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                                   {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                                  lr=lr, betas=(0.9, 0.999))
    order = torch.Generator().manual_seed(seed)
    queue: list[int] = []
    result, sums = FinetuneResult(), {}
    model.train()
    bar = tqdm(range(run_steps), desc="fine-tuning", unit="step", disable=not progress, dynamic_ncols=True)
    with _seeded(seed), bar:  # dropout draws from torch's global RNG, seeded here
        for step in bar:
            if len(queue) < batch_size:  # a new epoch: a fresh shuffle of every example
                queue += torch.randperm(len(train), generator=order).tolist()
            rows, queue = queue[:batch_size], queue[batch_size:]
            batch = train[torch.tensor(rows)].to(device)
            for group in optimizer.param_groups:
                group["lr"] = linear_warmup_decay(step, steps, lr, warmup)
            logits, l1 = model(batch.idx, batch.lengths)
            l2 = F.cross_entropy(logits, batch.labels)
            loss = l2 + lambda_lm * l1
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip:  # 0 or None: no clipping
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            optimizer.step()

            values = {"loss": loss.item(), "task_loss": l2.item(), "lm_loss": l1.item(),
                      "train_accuracy": (logits.argmax(-1) == batch.labels).float().mean().item()}
            if not math.isfinite(values["loss"]):
                raise TrainingDiverged(
                    f"Fine-tuning diverged: step {step + 1} of {steps} gave a loss of {values['loss']} (task loss "
                    f"{values['task_loss']}, LM loss {values['lm_loss']}) at learning rate "
                    f"{optimizer.param_groups[0]['lr']:.3g}. The classifier's weights are no longer usable: "
                    f"build a new one and use a lower lr (now {lr:g}) or a longer warmup (now {warmup:g})"
                    + ("." if grad_clip else ", and clip gradients: grad_clip=1.0."))
            for key, value in values.items():
                sums[key] = sums.get(key, 0.0) + value
            sums["n"] = sums.get("n", 0) + 1
            done = step + 1
            if done % log_every == 0 or done == run_steps:
                n = sums.pop("n")
                record = {"step": done, "lr": optimizer.param_groups[0]["lr"], **{k: v / n for k, v in sums.items()}}
                if eval_every and (done % eval_every == 0 or done == run_steps):
                    record["val_accuracy"] = evaluate(model, val)
                result.history.append(record)
                sums = {}
                bar.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['train_accuracy']:.2f}", refresh=False)
            if on_step is not None:
                with torch.random.fork_rng(devices=[]):  # a hook that draws random numbers leaves dropout's alone
                    on_step(done, {key: values[key] for key in ("loss", "task_loss", "lm_loss")})
    last = result.history[-1]
    if "val_accuracy" not in last:
        last["val_accuracy"] = evaluate(model, val)
    result.accuracy = last["val_accuracy"]
    return result
