"""Tokenizers: text -> list of integer ids -> text.

Three ways to cut text into tokens, from the simplest to GPT-2's own:

- `CharTokenizer`: one token per character (what nanoGPT's Shakespeare model uses).
- `BPETokenizer`: byte-level Byte Pair Encoding, trained from scratch (GPT-2, section 2.2).
  Start from the 256 bytes, repeatedly merge the most frequent adjacent pair into a new token.
  Given GPT-2's published ranks (`BPETokenizer.from_gpt2()`), it encodes exactly like tiktoken.
- `gpt2_encoding()`: GPT-2's real tokenizer, tiktoken's fast Rust implementation, built
  offline from the ranks file shipped in data/.

All three check what they are given in the same way (`check_text`, `as_ids`, ...): encode takes a
str, decode a list of ids, a 1-D tensor or a 1-D numpy array, and a mistake gets a short error
that says what to pass instead.

Written to be read, in the spirit of Karpathy's minbpe.

One module, though long: one idea, text <-> ids. The three tokenizers share the checks at the top, and
BPETokenizer.from_gpt2 and gpt2_encoding read the same shipped ranks (gpt2_ranks).
"""
from __future__ import annotations

import base64
import hashlib
import json
import operator
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import regex  # the `regex` module (not `re`): it knows \p{L} (any letter) and possessive `++`
import tiktoken
import tiktoken_ext.openai_public

from .data import data_path

# GPT-2's pre-tokenization pattern, as tiktoken writes it (tiktoken_ext.openai_public.r50k_pat_str).
# Before any merging, text is cut into chunks, and BPE never merges across two chunks:
#   '(?:[sdmt]|ll|ve|re)   English contractions: 's 't 'm 'd 'll 've 're (lowercase only)
#    ?\p{L}++              a run of letters, with at most one leading space  (" world")
#    ?\p{N}++              a run of digits, with at most one leading space   (" 2019")
#    ?[^\s\p{L}\p{N}]++    a run of punctuation/symbols, with at most one leading space
#   \s++$                  whitespace at the very end of the text
#   \s+(?!\S)              whitespace, leaving the last space to join the next word
#   \s                     any other single whitespace character
# So "Hello  world!" -> ["Hello", " ", " world", "!"]: a space sticks to the word after it,
# and "dog" / " dog" / "dog." never share a token with the punctuation around them.
GPT2_SPLIT_PATTERN = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
)

GPT2_RANKS_FILE = "gpt2.tiktoken"
GPT2_RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
ENDOFTEXT = "<|endoftext|>"



# ====================================================================== checks every tokenizer shares
# What a learner passes is checked here once, so that every tokenizer (characters, our BPE, GPT-2's
# tiktoken encoding) says the same thing about the same mistake.
MAX_LISTED = 10  # an error lists at most this many characters or ids, then a count of the rest


def _short(value: Any, width: int = 60) -> str:
    """repr(value), cut to `width` characters: an error message must not hold a whole book."""
    text = repr(value)
    return text if len(text) <= width else text[:width - 5] + " ...'"


def _listing(items: list, n: int = MAX_LISTED) -> str:
    """The first n items, and how many more: "'x', 'y' and 3 more"."""
    shown = ", ".join(items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def check_text(text: Any, name: str = "text") -> str:
    """`text` if it is a str; otherwise a TypeError that says what to pass instead."""
    if isinstance(text, str):
        return text
    if isinstance(text, (bytes, bytearray)):
        hint = f"decode the bytes first: {name}.decode('utf-8')"
    elif isinstance(text, (list, tuple)):
        hint = "encode one string at a time: [tokenizer.encode(t) for t in texts]"
    else:
        hint = "pass the text as a string"
    raise TypeError(f"{name} must be a str; got {type(text).__name__} {_short(text)}: {hint}.")


def as_ids(ids: Any) -> list[int]:
    """Token ids as a list of Python ints, from a list or tuple of ints, a 1-D tensor or a 1-D numpy array.

    A 2-D batch (e.g. what generate() returns) is refused with a hint to decode it row by row.
    """
    if isinstance(ids, (str, bytes, bytearray)):
        raise TypeError(f"ids must be token ids (whole numbers), not a {type(ids).__name__} {_short(ids)}. "
                        "To turn text into ids use encode().")
    shape = getattr(ids, "shape", None)
    if shape is not None:  # a tensor or an array: check its shape before looking inside
        if len(shape) == 0:
            raise TypeError(f"ids must be a sequence of token ids; got a single id {_short(ids)} (0-d). "
                            "Wrap it in a list: decode([int(ids)]).")
        if len(shape) > 1:
            raise ValueError(_batch_hint(tuple(shape)))
        ids = ids.tolist()
    elif not isinstance(ids, Iterable):
        hint = f" For one id use decode([{ids!r}])." if isinstance(ids, int) else ""
        raise TypeError(f"ids must be a sequence of token ids; got {type(ids).__name__} {_short(ids)}.{hint}")
    ids = list(ids)
    try:
        return list(map(operator.index, ids))  # ints, numpy ints, 0-d integer tensors -> int
    except TypeError:
        pass
    for position, i in enumerate(ids):  # find the culprit, to name it
        if isinstance(i, (list, tuple)) or len(getattr(i, "shape", ())) > 0:
            raise ValueError(_batch_hint((len(ids), len(i))))
        try:
            operator.index(i)
        except TypeError:
            raise TypeError(f"ids must be whole numbers; position {position} holds {_short(i)} "
                            f"({type(i).__name__}). A tensor of ids needs an integer dtype: ids.long().") from None
    raise AssertionError("unreachable")


def _batch_hint(shape: tuple) -> str:
    return (f"ids has shape {shape}, but decode takes one sequence of ids. Decode row by row: "
            "[tokenizer.decode(row) for row in ids] (or tokenizer.decode(ids[0]) for a batch of one).")


def check_ids_known(ids: list[int], known: Collection[int], vocab_size: int) -> None:
    """Raise a ValueError naming the first few ids that are not in `known` (and how many there are)."""
    bad = sorted({i for i in ids if i not in known})
    if bad:
        which = f"Id {bad[0]} is" if len(bad) == 1 else f"Ids {_listing([str(i) for i in bad])} are"
        raise ValueError(f"{which} outside this vocabulary (0..{vocab_size - 1}): decode ids made by "
                         "this tokenizer or its model.")


def check_special_tokens(special_tokens: Any) -> list[str]:
    """special_tokens for training as a list: strings, non-empty, each once (a lone string is refused:
    it would become one special token per character)."""
    if isinstance(special_tokens, str):
        raise TypeError(f"special_tokens={special_tokens!r} is one string, which would make "
                        f"{len(special_tokens)} one-character special tokens. Pass a list: "
                        f"special_tokens=[{special_tokens!r}].")
    if not isinstance(special_tokens, Iterable):
        raise TypeError(f"special_tokens={_short(special_tokens)} must be a list of strings, "
                        "e.g. ['<|endoftext|>'].")
    specials = list(special_tokens)
    for s in specials:
        if not isinstance(s, str) or not s:
            raise TypeError(f"special_tokens holds {_short(s)}; each special token must be a non-empty string, "
                            "e.g. '<|endoftext|>'.")
    repeated = sorted({s for s in specials if specials.count(s) > 1})
    if repeated:
        raise ValueError(f"special_tokens repeats {', '.join(map(repr, repeated))}: list each special token once.")
    return specials


def check_special_choice(value: Any, name: str) -> None:
    """allowed_special / disallowed_special: "all" or a collection of strings, not some other string."""
    if isinstance(value, str) and value != "all":
        raise TypeError(f"{name}={value!r} is a string; pass a set of special tokens, {name}={{{value!r}}}, "
                        "or 'all'.")


def _read_saved(path: str | Path, kind: str, keys: tuple[str, ...]) -> dict:
    """The JSON state that `kind`.save(path) wrote, with a clear error for a missing or damaged file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No saved tokenizer at {path}. Save one first: tokenizer.save({str(path)!r}).")
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a saved tokenizer (not valid JSON: {err}). "
                         f"Save it again with {kind}.save(path).") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path} is not a saved tokenizer: it holds a JSON {type(state).__name__}, "
                         f"not the object {kind}.save(path) writes.")
    if state.get("type") != kind:
        raise ValueError(f"{path} holds a {state.get('type')!r}, not a {kind}.")
    missing = [k for k in keys if k not in state]
    if missing:
        raise ValueError(f"{path} is a damaged {kind} file: it lacks {', '.join(missing)}. "
                         f"Save it again with {kind}.save(path).")
    return state


# ====================================================================== characters
class UnknownCharacterError(ValueError):
    """The text holds characters that the character tokenizer has no id for."""


class CharTokenizer:
    """One token per distinct character: simple, lossless, but long sequences.

    >>> tok = CharTokenizer.from_text("hello world")
    >>> tok.encode("hello")
    [3, 2, 4, 4, 5]
    >>> tok.decode(tok.encode("hello"))
    'hello'
    """

    def __init__(self, chars: str):
        """Build from the vocabulary itself: the character with id i is chars[i]."""
        if not isinstance(chars, str):
            raise TypeError(f"chars must be a str of the vocabulary's characters; got {type(chars).__name__} "
                            f"{_short(chars)}. To build one from a text use CharTokenizer.from_text(text).")
        if len(set(chars)) != len(chars):
            repeated = sorted({c for c in chars if chars.count(c) > 1})
            raise ValueError(f"The vocabulary repeats {', '.join(map(repr, repeated))}: "
                             "each character must appear once. Use CharTokenizer.from_text(text).")
        self.chars = chars
        self.stoi = {ch: i for i, ch in enumerate(chars)}  # string -> integer
        self.itos = dict(enumerate(chars))                 # integer -> string

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """The vocabulary is every distinct character of `text`, sorted (so it is reproducible)."""
        return cls("".join(sorted(set(check_text(text)))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        check_text(text)
        unknown = {}  # character -> first position, in order of appearance
        for position, ch in enumerate(text):
            if ch not in self.stoi and ch not in unknown:
                unknown[ch] = position
        if unknown:
            listing = _listing([f"{ch!r} (first at position {pos})" for ch, pos in unknown.items()])
            raise UnknownCharacterError(
                f"{len(unknown)} character(s) not in this tokenizer's vocabulary of {self.vocab_size}: "
                f"{listing}. Remove them from the text, or build the tokenizer with "
                "CharTokenizer.from_text(...) on text that contains them.")
        return [self.stoi[ch] for ch in text]

    def decode(self, ids: Iterable[int]) -> str:
        """Ids (a list, a 1-D tensor or a 1-D numpy array) -> text."""
        ids = as_ids(ids)
        check_ids_known(ids, self.itos, self.vocab_size)
        return "".join(self.itos[i] for i in ids)

    def save(self, path: str | Path) -> None:
        """Write the vocabulary to a small JSON file."""
        Path(path).write_text(json.dumps({"type": "CharTokenizer", "chars": self.chars}), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> CharTokenizer:
        state = _read_saved(path, "CharTokenizer", ("chars",))
        if not isinstance(state["chars"], str):
            raise ValueError(f"{path} is a damaged CharTokenizer file: its chars are not a string.")
        return cls(state["chars"])

    def __repr__(self) -> str:
        shown = repr(self.chars[:30])
        if len(self.chars) > 30:
            shown = shown[:-1] + "..." + shown[-1]
        return f"CharTokenizer(vocab_size={self.vocab_size}, chars={shown})"


# ====================================================================== byte pair encoding
def get_pair_counts(ids: list[int], counts: Counter | None = None, weight: int = 1) -> Counter:
    """Count adjacent pairs: [1, 2, 3, 1, 2] -> {(1, 2): 2, (2, 3): 1, (3, 1): 1}."""
    counts = Counter() if counts is None else counts
    for pair in zip(ids, ids[1:]):
        counts[pair] += weight
    return counts


def merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of `pair`, left to right: merge([1, 2, 3, 1, 2], (1, 2), 9) -> [9, 3, 9]."""
    out = []
    i = 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


class BPETokenizer:
    """Byte-level BPE: text -> utf-8 bytes -> ids, merged pair by pair in the order they were learned.

    The state is small:
    - `byte_ids[b]`: the id of byte b (0..255). Our trained tokenizers use id b; GPT-2 shuffled them.
    - `merges`: {(id_a, id_b): new_id}, in the order learned. A pair merged earlier wins.
    - `pattern`: the regex that pre-splits text; merges never cross its chunks.
    - `special_tokens`: {"<|endoftext|>": id}: strings that bypass BPE and get one fixed id.
    `vocab` (id -> bytes) follows from these.
    """

    def __init__(self, merges: dict[tuple[int, int], int], pattern: str = GPT2_SPLIT_PATTERN,
                 special_tokens: dict[str, int] | None = None, byte_ids: list[int] | None = None):
        self.byte_ids = list(range(256)) if byte_ids is None else list(byte_ids)
        self.merges = dict(merges)
        self.pattern = pattern
        self.compiled_pattern = regex.compile(pattern)
        self.special_tokens = dict(special_tokens or {})
        self.vocab = self._build_vocab()
        self._chunk_cache: dict[bytes, list[int]] = {}  # text is full of repeated words: encode each once

    def _build_vocab(self) -> dict[int, bytes]:
        """id -> bytes: the 256 bytes, then each merge is the concatenation of its pair."""
        if sorted(self.byte_ids) != list(range(256)):
            raise ValueError("byte_ids must give each of the 256 bytes its own id.")
        vocab = {token_id: bytes([b]) for b, token_id in enumerate(self.byte_ids)}
        for (a, b), new_id in self.merges.items():  # in merge order, so a and b already exist
            vocab[new_id] = vocab[a] + vocab[b]
        for text, token_id in self.special_tokens.items():
            vocab[token_id] = text.encode("utf-8")
        if len(vocab) != 256 + len(self.merges) + len(self.special_tokens):
            raise ValueError("Two tokens share an id: check the merges and special tokens.")
        return vocab

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    # ------------------------------------------------------------------ training
    @classmethod
    def train(cls, text: str, vocab_size: int, pattern: str = GPT2_SPLIT_PATTERN,
              special_tokens: Collection[str] = (), verbose: bool = False) -> BPETokenizer:
        """Learn vocab_size - 256 - len(special_tokens) merges from `text`.

        The text is split into chunks by `pattern`; each distinct chunk is counted once with its
        frequency ("the" may appear 3,000 times but is processed once). After each merge only the
        chunks that contain the merged pair are updated, so training stays fast.
        Ties between equally frequent pairs go to the smaller pair of ids: training is deterministic.
        """
        check_text(text)
        special_tokens = check_special_tokens(special_tokens)
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
            raise TypeError(f"vocab_size={vocab_size!r} must be a whole number, e.g. 512.")
        num_merges = vocab_size - 256 - len(special_tokens)
        if num_merges < 0:
            raise ValueError(f"vocab_size={vocab_size} is too small: the 256 bytes and "
                             f"{len(special_tokens)} special token(s) need at least {256 + len(special_tokens)}.")

        # Distinct chunks as lists of byte ids, and how often each occurs.
        # Special tokens (e.g. "<|endoftext|>" between documents) are cut out first: they get
        # their own ids, and their characters should not shape the merges.
        compiled = regex.compile(pattern)
        chunk_counts: Counter = Counter()
        for part in _split_around(text, special_tokens):
            if part not in special_tokens:
                chunk_counts.update(compiled.findall(part))
        words = [list(chunk.encode("utf-8")) for chunk in chunk_counts]
        freqs = list(chunk_counts.values())

        # pair -> total count, and pair -> which words contain it.
        counts: Counter = Counter()
        where: defaultdict[tuple[int, int], set[int]] = defaultdict(set)
        for w, (ids, freq) in enumerate(zip(words, freqs)):
            get_pair_counts(ids, counts, freq)
            for pair in zip(ids, ids[1:]):
                where[pair].add(w)

        merges: dict[tuple[int, int], int] = {}
        vocab = {i: bytes([i]) for i in range(256)}
        for k in range(num_merges):
            if not counts:
                raise ValueError(f"The text ran out of pairs to merge after {k} merges: use more text "
                                 f"or a vocab_size of at most {256 + k + len(special_tokens)}.")
            pair = min(counts, key=lambda p: (-counts[p], p))  # most frequent; ties: smallest ids
            new_id = 256 + k
            merges[pair] = new_id
            vocab[new_id] = vocab[pair[0]] + vocab[pair[1]]
            if verbose:
                print(f"merge {k + 1}/{num_merges}: {pair} -> {new_id} {vocab[new_id]!r} "
                      f"({counts[pair]} occurrences)")
            # Update only the words that contain the pair: remove their old pairs, add their new ones.
            for w in where.pop(pair):
                ids, freq = words[w], freqs[w]
                for old in zip(ids, ids[1:]):
                    counts[old] -= freq
                    if counts[old] <= 0:
                        del counts[old]
                ids = words[w] = merge(ids, pair, new_id)
                get_pair_counts(ids, counts, freq)
                for new in zip(ids, ids[1:]):
                    where[new].add(w)

        first_special = 256 + num_merges
        specials = {s: first_special + i for i, s in enumerate(special_tokens)}
        return cls(merges, pattern=pattern, special_tokens=specials)

    # ------------------------------------------------------------------ GPT-2's ranks
    @classmethod
    def from_tiktoken_ranks(cls, ranks: dict[bytes, int] | str | Path,
                            pattern: str = GPT2_SPLIT_PATTERN,
                            special_tokens: dict[str, int] | None = None) -> BPETokenizer:
        """Our tokenizer from tiktoken's "mergeable ranks" (token bytes -> id), e.g. GPT-2's.

        tiktoken stores no merge list, only each token's rank (= its id; a lower rank was
        merged earlier). The merge list is recovered: for a token of rank r, run BPE on its
        bytes using only the tokens ranked below r. That always stops at exactly two parts,
        and those two parts are the pair that was merged to make it.
        """
        if not isinstance(ranks, dict):
            ranks = read_ranks(ranks)
        byte_ids = [ranks[bytes([b])] for b in range(256)]
        merges = {}
        for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
            if len(token) < 2:
                continue
            parts = _bpe_with_ranks(ranks, token, max_rank=rank)
            if len(parts) != 2:
                raise ValueError(f"Token {token!r} (rank {rank}) is not a merge of two lower-ranked tokens.")
            merges[(ranks[parts[0]], ranks[parts[1]])] = rank
        return cls(merges, pattern=pattern, special_tokens=special_tokens, byte_ids=byte_ids)

    @classmethod
    def from_gpt2(cls) -> BPETokenizer:
        """GPT-2's tokenizer, our implementation: the shipped ranks, GPT-2's pattern, <|endoftext|>."""
        merges, byte_ids = _gpt2_merges()
        return cls(merges, pattern=GPT2_SPLIT_PATTERN, special_tokens={ENDOFTEXT: 50256}, byte_ids=byte_ids)

    # ------------------------------------------------------------------ encoding and decoding
    def _encode_chunk(self, chunk: bytes) -> list[int]:
        """BPE on one chunk: keep applying the earliest-learned merge present, until none applies."""
        if chunk in self._chunk_cache:
            return self._chunk_cache[chunk]
        ids = [self.byte_ids[b] for b in chunk]
        while len(ids) >= 2:
            pair = min(zip(ids, ids[1:]), key=lambda p: self.merges.get(p, float("inf")))
            if pair not in self.merges:
                break  # nothing left to merge
            ids = merge(ids, pair, self.merges[pair])
        if len(self._chunk_cache) < 200_000:
            self._chunk_cache[chunk] = ids
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode, treating special-token strings like any other text."""
        check_text(text)
        ids = []
        for chunk in self.compiled_pattern.findall(text):
            ids.extend(self._encode_chunk(chunk.encode("utf-8")))
        return ids

    def encode(self, text: str, allowed_special: Literal["all"] | Collection[str] = (),
               disallowed_special: Literal["all"] | Collection[str] = "all") -> list[int]:
        """Text -> ids. Special tokens follow tiktoken's rules:

        - a special token in `allowed_special` ("all" for all of them) becomes its one id;
        - one in `disallowed_special` (by default every special token not allowed) raises ValueError,
          because text from users should not be able to inject e.g. "<|endoftext|>";
        - pass disallowed_special=() to encode them as ordinary text instead.
        """
        check_text(text)
        check_special_choice(allowed_special, "allowed_special")
        check_special_choice(disallowed_special, "disallowed_special")
        specials = set(self.special_tokens)
        # An allowed string that is not one of our special tokens stays ordinary text, as in tiktoken.
        allowed = specials if allowed_special == "all" else set(allowed_special) & specials
        disallowed = set(self.special_tokens) - allowed if disallowed_special == "all" else set(disallowed_special)
        for special in disallowed:
            if special in text:
                raise ValueError(
                    f"The text contains the special token {special!r}. Pass allowed_special={{{special!r}}} "
                    f"to encode it as one token, or disallowed_special=() to encode it as ordinary text.")
        if not allowed:
            return self.encode_ordinary(text)
        ids = []
        for part in _split_around(text, allowed):
            if part in allowed:
                ids.append(self.special_tokens[part])
            else:
                ids.extend(self.encode_ordinary(part))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Ids (a list, a 1-D tensor or a 1-D numpy array) -> bytes -> text.

        A cut through a multi-byte character shows as U+FFFD (like tiktoken).
        """
        ids = as_ids(ids)
        check_ids_known(ids, self.vocab, self.vocab_size)
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")

    # ------------------------------------------------------------------ saving
    def save(self, path: str | Path) -> None:
        """Write everything needed to rebuild the tokenizer to a JSON file."""
        state = {
            "type": "BPETokenizer",
            "pattern": self.pattern,
            "special_tokens": self.special_tokens,
            "byte_ids": self.byte_ids,
            "merges": [[a, b, new_id] for (a, b), new_id in self.merges.items()],
        }
        Path(path).write_text(json.dumps(state), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        state = _read_saved(path, "BPETokenizer", ("pattern", "special_tokens", "byte_ids", "merges"))
        try:
            merges = {(a, b): new_id for a, b, new_id in state["merges"]}
            return cls(merges, pattern=state["pattern"], special_tokens=state["special_tokens"],
                       byte_ids=state["byte_ids"])
        except (TypeError, ValueError, KeyError, regex.error) as err:
            raise ValueError(f"{path} is a damaged BPETokenizer file ({type(err).__name__}: {err}). "
                             "Save it again with BPETokenizer.save(path).") from None

    def __repr__(self) -> str:
        pattern = "GPT2_SPLIT_PATTERN" if self.pattern == GPT2_SPLIT_PATTERN else repr(self.pattern)
        return (f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
                f"special_tokens={list(self.special_tokens)}, pattern={pattern})")


def _split_around(text: str, specials: Collection[str]) -> list[str]:
    """Split text around special tokens, keeping them: "a<|x|>b" -> ["a", "<|x|>", "b"]."""
    if not specials:
        return [text]
    # Longest first, so that a special token containing another one wins.
    pattern = "(" + "|".join(regex.escape(s) for s in sorted(specials, key=len, reverse=True)) + ")"
    return regex.split(pattern, text)


def _bpe_with_ranks(ranks: dict[bytes, int], token: bytes, max_rank: int) -> list[bytes]:
    """Split `token` into bytes, then merge the lowest-ranked adjacent pair while its rank < max_rank."""
    parts = [bytes([b]) for b in token]
    while True:
        best_rank, best_i = None, None
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and rank < max_rank and (best_rank is None or rank < best_rank):
                best_rank, best_i = rank, i
        if best_i is None:
            return parts
        parts = parts[:best_i] + [parts[best_i] + parts[best_i + 1]] + parts[best_i + 2:]


@lru_cache(maxsize=1)
def _gpt2_merges() -> tuple[dict[tuple[int, int], int], list[int]]:
    """GPT-2's merges and byte ids, recovered once per session (about a second)."""
    tok = BPETokenizer.from_tiktoken_ranks(gpt2_ranks())
    return tok.merges, tok.byte_ids


# ====================================================================== GPT-2 through tiktoken
def gpt2_ranks() -> dict[bytes, int]:
    """GPT-2's mergeable ranks (token bytes -> id), read from the shipped, checksummed file.

    Read here rather than by tiktoken.load.load_tiktoken_bpe, which also copies the file into its cache
    folder ($TIKTOKEN_CACHE_DIR) and fails when that folder cannot be written: the file is local and
    already checked (data_path, and the sha256 below), so no cache is needed.
    """
    return read_ranks(data_path(GPT2_RANKS_FILE), GPT2_RANKS_SHA256)


def read_ranks(path: str | Path, sha256: str | None = None) -> dict[bytes, int]:
    """A tiktoken ranks file (one `base64-token rank` per line) as {token bytes: rank}, checked against
    `sha256` if given; what tiktoken.load.load_tiktoken_bpe returns, without its cache folder."""
    contents = Path(path).read_bytes()
    if sha256 is not None and hashlib.sha256(contents).hexdigest() != sha256:
        raise ValueError(f"{path} is not the ranks file it should be (its sha256 differs from {sha256[:12]}...). "
                         f"Restore it (`git checkout -- {path}` for a shipped one).")
    ranks = {}
    for number, line in enumerate(contents.splitlines(), start=1):
        if not line:
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except ValueError:  # binascii.Error is a ValueError
            raise ValueError(f"{path}, line {number}: {line[:60]!r} is not '<base64 token> <rank>'.") from None
    return ranks


class CheckedEncoding(tiktoken.Encoding):
    """A tiktoken Encoding whose encode and decode check their arguments as our tokenizers do.

    Same ids and text as tiktoken for every input tiktoken accepts; decode also takes a 1-D tensor
    or numpy array. Wrong input gets our clear errors instead of tiktoken's Rust-level ones.
    """

    def encode(self, text: str, **kwargs: Any) -> list[int]:
        check_text(text)
        for name in ("allowed_special", "disallowed_special"):
            if name in kwargs:
                check_special_choice(kwargs[name], name)
        return super().encode(text, **kwargs)

    def encode_ordinary(self, text: str) -> list[int]:
        return super().encode_ordinary(check_text(text))

    def decode_bytes(self, tokens: Iterable[int]) -> bytes:
        ids = as_ids(tokens)
        check_ids_known(ids, range(self.n_vocab), self.n_vocab)
        return super().decode_bytes(ids)

    def decode(self, tokens: Iterable[int], errors: str = "replace") -> str:
        ids = as_ids(tokens)
        check_ids_known(ids, range(self.n_vocab), self.n_vocab)
        return super().decode(ids, errors=errors)


@lru_cache(maxsize=1)
def gpt2_encoding() -> CheckedEncoding:
    """GPT-2's tokenizer in tiktoken, built offline (tiktoken.get_encoding("gpt2") would download).

    This is what tiktoken_ext.openai_public.gpt2() builds, with the ranks read from data/; a
    tiktoken.Encoding whose encode and decode check their input (see CheckedEncoding).
    """
    return CheckedEncoding(
        name="gpt2",
        pat_str=tiktoken_ext.openai_public.r50k_pat_str,  # the same string as GPT2_SPLIT_PATTERN
        mergeable_ranks=gpt2_ranks(),
        special_tokens={ENDOFTEXT: 50256},
        explicit_n_vocab=50257,
    )
