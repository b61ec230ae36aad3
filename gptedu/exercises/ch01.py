"""Chapter 01's build exercises: BPE training (the merge step in a loop), encoding, decoding."""
from __future__ import annotations

from collections import Counter

from .core import Case, Exercise, Mistake, register


def _merge(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


# ---------------------------------------------------------------------- train_bpe
def train_bpe(ids, n_merges):
    merges = {}
    for k in range(n_merges):
        counts = Counter(zip(ids, ids[1:]))
        if not counts:
            break
        pair = min(counts, key=lambda p: (-counts[p], p))  # most frequent; a tie goes to the smaller pair
        merges[pair] = 256 + k
        ids = _merge(ids, pair, 256 + k)
    return merges


def _train_first_seen(ids, n_merges):
    merges = {}
    for k in range(n_merges):
        counts = Counter(zip(ids, ids[1:]))
        if not counts:
            break
        pair = counts.most_common(1)[0][0]  # a tie goes to the pair seen first
        merges[pair] = 256 + k
        ids = _merge(ids, pair, 256 + k)
    return merges


def _train_not_updated(ids, n_merges):
    merges = {}
    for k in range(n_merges):
        counts = Counter(zip(ids, ids[1:]))
        if not counts:
            break
        pair = min(counts, key=lambda p: (-counts[p], p))
        merges[pair] = 256 + k  # ids never merged: the same pair wins every round
    return merges


def _train_ids_from_257(ids, n_merges):
    merges = {}
    for k in range(n_merges):
        counts = Counter(zip(ids, ids[1:]))
        if not counts:
            break
        pair = min(counts, key=lambda p: (-counts[p], p))
        merges[pair] = 257 + k
        ids = _merge(ids, pair, 257 + k)
    return merges


def _utf8(text):
    return list(text.encode("utf-8"))


def _train_cases():
    return [
        Case('"aaabdaaabac", 3 merges (the textbook example)', (_utf8("aaabdaaabac"), 3)),
        Case('"bcabcab", 2 merges: a tie between (98, 99) "bc" and (97, 98) "ab"', (_utf8("bcabcab"), 2)),
        Case('"aaaa", 2 merges: overlapping pairs', (_utf8("aaaa"), 2)),
        Case('"ab", 3 merges: one merge leaves a single token, nothing more to merge', (_utf8("ab"), 3)),
        Case("0 merges", (_utf8("to be"), 0)),
        Case('"to be, or not to be, that is the question", 8 merges',
             (_utf8("to be, or not to be, that is the question"), 8)),
        Case('"café café", 3 merges (é is two bytes)', (_utf8("café café"), 3)),
    ]


register(Exercise(
    id="train_bpe", chapter="01", name="train_bpe", solution_name="train_bpe_solution",
    title="BPE training: the merge step in a loop",
    reference=train_bpe, cases=_train_cases,
    hint="each round: count adjacent pairs of the current ids, take the most frequent (ties: the smaller pair), "
         "record it as 256 + k, and replace it everywhere in the ids before the next round.",
    mistakes=[
        Mistake("ties are broken by the pair seen first, not by the smaller pair", _train_first_seen,
                "Counter.most_common keeps first-seen order on ties; pick with "
                "min(counts, key=lambda p: (-counts[p], p)) as the chapter does."),
        Mistake("the ids are not merged after a round, so the same pair wins every time", _train_not_updated,
                "after recording a merge, replace the pair in the ids: ids = merge(ids, pair, new_id)."),
        Mistake("the new ids start at 257, not 256", _train_ids_from_257,
                "bytes use ids 0..255, so the first merge gets 256, the k-th (from 0) 256 + k."),
    ],
))


# ---------------------------------------------------------------------- bpe_encode
def bpe_encode(text, merges):
    ids = list(text.encode("utf-8"))
    for pair, new_id in sorted(merges.items(), key=lambda item: item[1]):  # in the order they were learned
        ids = _merge(ids, pair, new_id)
    return ids


def _encode_code_points(text, merges):
    ids = [ord(c) for c in text]
    for pair, new_id in sorted(merges.items(), key=lambda item: item[1]):
        ids = _merge(ids, pair, new_id)
    return ids


def _encode_reversed(text, merges):
    ids = list(text.encode("utf-8"))
    for pair, new_id in sorted(merges.items(), key=lambda item: -item[1]):
        ids = _merge(ids, pair, new_id)
    return ids


def _encode_first_only(text, merges):
    ids = list(text.encode("utf-8"))
    for pair, new_id in sorted(merges.items(), key=lambda item: item[1]):
        for i in range(len(ids) - 1):
            if (ids[i], ids[i + 1]) == pair:
                ids = ids[:i] + [new_id] + ids[i + 2:]
                break
    return ids


_SAMPLE = "to be, or not to be, that is the question: whether 'tis nobler in the mind to suffer"


def _encode_cases():
    merges = train_bpe(_utf8(_SAMPLE), 12)
    accents = train_bpe(_utf8("café café naïve café"), 4)
    return [
        Case('"to be or not to be" with 12 merges learned from a line of Hamlet', ("to be or not to be", merges)),
        Case('"the question" (merges that build on earlier merges)', ("the question", merges)),
        Case('"" (empty text)', ("", merges)),
        Case('"t" (one character)', ("t", merges)),
        Case('"café" with merges learned on accented text (é is two bytes)', ("café", accents)),
        Case('"xyz": no merge applies', ("xyz", merges)),
    ]


register(Exercise(
    id="bpe_encode", chapter="01", name="bpe_encode", solution_name="bpe_encode_solution",
    title="BPE encoding",
    reference=bpe_encode, cases=_encode_cases,
    hint="start from list(text.encode('utf-8')), then apply every merge, everywhere, in the order it was "
         "learned (smallest new id first).",
    mistakes=[
        Mistake("it starts from code points (ord), not UTF-8 bytes", _encode_code_points,
                "ord('é') is 233, one number; BPE works on bytes: list(text.encode('utf-8')) gives [195, 169]."),
        Mistake("the merges are applied out of the order they were learned", _encode_reversed,
                "a later merge can use a token made by an earlier one; apply them sorted by their new id."),
        Mistake("each merge replaces only its first occurrence", _encode_first_only,
                "replace every occurrence, left to right, as the chapter's merge() does."),
    ],
))


# ---------------------------------------------------------------------- bpe_decode
def bpe_decode(ids, merges):
    vocab = {i: bytes([i]) for i in range(256)}
    for (a, b), new_id in sorted(merges.items(), key=lambda item: item[1]):
        vocab[new_id] = vocab[a] + vocab[b]
    return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")


def _decode_each(ids, merges):
    vocab = {i: bytes([i]) for i in range(256)}
    for (a, b), new_id in sorted(merges.items(), key=lambda item: item[1]):
        vocab[new_id] = vocab[a] + vocab[b]
    return "".join(vocab[i].decode("utf-8", errors="replace") for i in ids)


def _decode_swapped(ids, merges):
    vocab = {i: bytes([i]) for i in range(256)}
    for (a, b), new_id in sorted(merges.items(), key=lambda item: item[1]):
        vocab[new_id] = vocab[b] + vocab[a]
    return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")


def _decode_strict(ids, merges):
    vocab = {i: bytes([i]) for i in range(256)}
    for (a, b), new_id in sorted(merges.items(), key=lambda item: item[1]):
        vocab[new_id] = vocab[a] + vocab[b]
    return b"".join(vocab[i] for i in ids).decode("utf-8")


def _decode_cases():
    merges = train_bpe(_utf8(_SAMPLE), 12)
    accents = train_bpe(_utf8("café café naïve café"), 4)
    return [
        Case("the ids of 'to be or not to be'", (bpe_encode("to be or not to be", merges), merges)),
        Case("the ids of 'the question'", (bpe_encode("the question", merges), merges)),
        Case("no ids at all", ([], merges)),
        Case("the ids of 'café' (a merged token holds the first byte of é)", (bpe_encode("café", accents), accents)),
        Case("the 4 bytes of 😀, one id each", (_utf8("😀"), merges)),
        Case("only the first 3 of 😀's 4 bytes: not valid UTF-8", (_utf8("😀")[:3], merges)),
    ]


register(Exercise(
    id="bpe_decode", chapter="01", name="bpe_decode", solution_name="bpe_decode_solution",
    title="BPE decoding",
    reference=bpe_decode, cases=_decode_cases,
    hint="build vocab = {i: bytes([i])} for the 256 bytes, then vocab[new] = vocab[a] + vocab[b] in the order "
         "learned; join the bytes of all ids first, decode once with errors='replace'.",
    mistakes=[
        Mistake("each token is decoded on its own, so a character split across tokens breaks", _decode_each,
                "a token can hold part of a character's bytes (é is two, 😀 four): join all the bytes, then decode once."),
        Mistake("a merged token's two pieces are joined in the wrong order", _decode_swapped,
                "pair (a, b) means a then b: vocab[new] = vocab[a] + vocab[b]."),
        Mistake("decoding raises on bytes that are not valid UTF-8", _decode_strict,
                "ids can end in the middle of a character; decode with errors='replace', as tiktoken does."),
    ],
))
