"""Tokenizers: characters, our byte-level BPE, and GPT-2's encoding, all offline.

The parity tests are the heart: our pure-Python BPE, given GPT-2's shipped ranks,
must give exactly tiktoken's ids on real text and on awkward strings.
"""
import json
import socket
import time
from collections import Counter

import pytest
import regex
import tiktoken
import tiktoken_ext.openai_public

from gptedu import data
from gptedu.tokenizers import (ENDOFTEXT, GPT2_SPLIT_PATTERN, BPETokenizer, CharTokenizer,
                               UnknownCharacterError, gpt2_encoding, merge)

TRICKY = [
    "", " ", "  ", "a", "Hello world", "hello  world", "trailing   ", "   leading",
    "\ttab\tseparated\t", "\t\t  \t", "\n", "\n\n\n", " \n ", "a \n\n b", "x\n  \n  y",
    "line\r\nbreak\r\n", "end with newline\n", "spaces then newline   \n",
    "it's", "don't", "I'M", "I'm", "he'S", "they're we've I'll you'd he'd 'tis", "''''", "'s", " 's",
    "1234567890", "3.14159 -42 1,000,000 2024-01-01", "x1y22z333", "٣٤ Ⅻ ½ ²",
    "...!!!???", "---===+++", "<html><body>&amp;</body></html>", "C:\\path\\to\\file.txt",
    "naïve café résumé", "Zürich Ærøskøbing ſ", "e\u0301 a\u0308 n\u0303 (combining marks)", "\u0301\u0301\u0301",
    "👩‍👩‍👧‍👦 family (ZWJ)", "🏳️‍🌈 flag", "👍🏽 thumbs", "😀😀😀", "中文字符测试", "日本語のテキスト、です。",
    "한국어 텍스트", "مرحبا بالعالم", "שָׁלוֹם", "Ελληνικά ΣΑΣ", "Привет, мир!", "ไทย",
    "\u00a0nbsp\u00a0", "\u200bzero\u200bwidth", "\u3000ideographic space", "\x00\x01\x7f control",
    "a" * 1000, " " * 50, "\n" * 20, "ab" * 300, "x" + "!" * 100, "Mr. O'Neil's dog's bone",
]


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def offline():
    """No socket may connect, not even to localhost, and tiktoken's download cache is off.

    So whatever tiktoken builds inside is read from data/gpt2.tiktoken and nowhere else.
    """
    def refuse(*args, **kwargs):
        raise OSError("network disabled in test_tokenizers")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket.socket, "connect_ex", refuse)
        mp.setattr(socket, "create_connection", refuse)
        mp.setattr(socket, "getaddrinfo", refuse)
        mp.setenv("TIKTOKEN_CACHE_DIR", "")  # "" disables tiktoken's cache: read the file itself
        yield


@pytest.fixture(scope="module")
def enc(offline) -> tiktoken.Encoding:
    gpt2_encoding.cache_clear()  # build it here, with the network disabled
    return gpt2_encoding()


@pytest.fixture(scope="module")
def ours(offline) -> BPETokenizer:
    return BPETokenizer.from_gpt2()


@pytest.fixture(scope="module")
def shakespeare() -> str:
    return data.load_shakespeare()


@pytest.fixture(scope="module")
def trained(shakespeare) -> BPETokenizer:
    return BPETokenizer.train(shakespeare[:100_000], vocab_size=512)


# ---------------------------------------------------------------- characters
def test_char_round_trip(shakespeare):
    text = shakespeare[:200_000]
    tok = CharTokenizer.from_text(text)
    assert tok.vocab_size == len(set(text))
    assert tok.chars == "".join(sorted(set(text)))
    ids = tok.encode(text)
    assert len(ids) == len(text) and min(ids) == 0 and max(ids) == tok.vocab_size - 1
    assert tok.decode(ids) == text
    assert CharTokenizer.from_text("hello world").encode("hello") == [3, 2, 4, 4, 5]
    assert CharTokenizer("ba").encode("ab") == [1, 0]  # a vocab string is used as given


def test_char_unknown_characters_are_named():
    tok = CharTokenizer.from_text("abc ")
    with pytest.raises(UnknownCharacterError) as err:
        tok.encode("ab Xc Y\tX")
    assert isinstance(err.value, ValueError)
    message = str(err.value)
    assert "'X' (first at position 3)" in message
    assert "'Y' (first at position 6)" in message
    assert "'\\t' (first at position 7)" in message
    assert message.count("first at position") == 3  # X once, though it appears twice
    assert "from_text" in message and "Remove" in message


def test_char_rejects_bad_input():
    with pytest.raises(ValueError, match="repeats 'a'"):
        CharTokenizer("aba")
    with pytest.raises(ValueError, match="outside this vocabulary"):
        CharTokenizer("ab").decode([0, 2])


def test_char_save_load_and_repr(tmp_path, shakespeare):
    tok = CharTokenizer.from_text(shakespeare[:50_000] + "é€")
    tok.save(tmp_path / "chars.json")
    again = CharTokenizer.load(tmp_path / "chars.json")
    assert again.chars == tok.chars
    assert again.encode("Thou art é€") == tok.encode("Thou art é€")
    assert repr(tok).startswith(f"CharTokenizer(vocab_size={tok.vocab_size}, chars=\"\\n !&'")
    assert repr(tok).endswith("...\")")
    assert repr(CharTokenizer("ab")) == "CharTokenizer(vocab_size=2, chars='ab')"


# ---------------------------------------------------------------- our BPE, trained
def naive_train(text: str, vocab_size: int) -> dict:
    """The textbook algorithm, recounting every pair after every merge: slow but obviously right."""
    words = [list(chunk.encode("utf-8")) for chunk in regex.findall(GPT2_SPLIT_PATTERN, text)]
    merges = {}
    for new_id in range(256, vocab_size):
        counts = Counter(pair for w in words for pair in zip(w, w[1:]))
        pair = min(counts, key=lambda p: (-counts[p], p))
        merges[pair] = new_id
        words = [merge(w, pair, new_id) for w in words]
    return merges


def test_merge_helper():
    assert merge([1, 2, 3, 1, 2], (1, 2), 9) == [9, 3, 9]
    assert merge([7, 7, 7], (7, 7), 8) == [8, 7]


def test_bpe_training_matches_the_naive_algorithm(shakespeare):
    text = shakespeare[300_000:308_000]
    assert BPETokenizer.train(text, vocab_size=320).merges == naive_train(text, 320)


def test_bpe_training_is_fast_and_deterministic(shakespeare):
    text = shakespeare[1_000_000:1_100_000]
    start = time.perf_counter()
    first = BPETokenizer.train(text, vocab_size=512)
    assert time.perf_counter() - start < 10.0  # ~0.2 s on a laptop core: fine for a notebook cell
    second = BPETokenizer.train(text, vocab_size=512)
    assert list(first.merges.items()) == list(second.merges.items())


def test_bpe_vocabulary(trained, shakespeare):
    assert trained.vocab_size == 512 and len(trained.merges) == 256
    assert sorted(trained.vocab) == list(range(512))
    assert list(trained.merges.values()) == list(range(256, 512))  # ids in merge order
    # The first merge is the most frequent pair of bytes within chunks.
    counts = Counter(pair for chunk in regex.findall(GPT2_SPLIT_PATTERN, shakespeare[:100_000])
                     for b in [chunk.encode()] for pair in zip(b, b[1:]))
    assert next(iter(trained.merges)) == counts.most_common(1)[0][0]
    assert all(len(token) >= 2 for i, token in trained.vocab.items() if i >= 256)
    assert "merges=256" in repr(trained) and "vocab_size=512" in repr(trained)


@pytest.mark.parametrize("text", TRICKY)
def test_bpe_round_trips_anything(trained, text):
    assert trained.decode(trained.encode(text)) == text


def test_bpe_compresses(trained, shakespeare):
    unseen = shakespeare[2_000_000:2_050_000]
    ids = trained.encode(unseen)
    assert len(ids) < 0.6 * len(unseen.encode("utf-8"))
    assert trained.decode(ids) == unseen


def test_bpe_save_load(trained, tmp_path):
    trained.save(tmp_path / "bpe.json")
    assert json.loads((tmp_path / "bpe.json").read_text())["type"] == "BPETokenizer"
    again = BPETokenizer.load(tmp_path / "bpe.json")
    assert list(again.merges.items()) == list(trained.merges.items())
    assert again.vocab == trained.vocab and again.pattern == trained.pattern
    sample = "To be, or not to be: that is the question. 👑"
    assert again.encode(sample) == trained.encode(sample)


def test_bpe_special_tokens(shakespeare):
    docs = [shakespeare[i:i + 5_000] for i in range(0, 50_000, 5_000)]
    tok = BPETokenizer.train(ENDOFTEXT.join(docs), vocab_size=300, special_tokens=[ENDOFTEXT])
    assert tok.vocab_size == 300 and tok.special_tokens == {ENDOFTEXT: 299}
    # The separator was cut out before training: no merge learned from its characters.
    assert not any(b"|" in token for i, token in tok.vocab.items() if 256 <= i < 299)

    text = f"First document.{ENDOFTEXT}Second one."
    ids = tok.encode(text, allowed_special={ENDOFTEXT})
    assert ids.count(299) == 1 and tok.decode(ids) == text
    assert tok.encode(text, allowed_special="all") == ids
    with pytest.raises(ValueError, match="special token"):
        tok.encode(text)  # by default, user text may not smuggle in a special token
    as_text = tok.encode(text, disallowed_special=())
    assert 299 not in as_text and tok.decode(as_text) == text


def test_bpe_rejects_impossible_vocab_sizes():
    with pytest.raises(ValueError, match="too small"):
        BPETokenizer.train("hello", vocab_size=200)
    with pytest.raises(ValueError, match="ran out of pairs"):
        BPETokenizer.train("ab ab", vocab_size=300)


def test_merges_recovered_from_ranks_of_a_trained_tokenizer(trained, shakespeare):
    """ranks (bytes -> id) are all tiktoken keeps; the merge list comes back from them alone."""
    ranks = {token: i for i, token in trained.vocab.items()}
    rebuilt = BPETokenizer.from_tiktoken_ranks(ranks)
    assert list(rebuilt.merges.items()) == list(trained.merges.items())
    # And tiktoken, given the same ranks, agrees with our encoder.
    theirs = tiktoken.Encoding(name="ours", pat_str=GPT2_SPLIT_PATTERN, mergeable_ranks=ranks, special_tokens={})
    sample = shakespeare[3_000_000:3_030_000] + "".join(TRICKY)
    assert trained.encode(sample) == theirs.encode(sample)


# ---------------------------------------------------------------- GPT-2 through tiktoken
def test_network_really_is_off(offline):
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    with pytest.raises(OSError):
        socket.getaddrinfo("openaipublic.blob.core.windows.net", 443)


def test_gpt2_encoding(enc):
    assert enc.name == "gpt2" and enc.n_vocab == 50257
    assert enc.encode("Hello world") == [15496, 995]
    assert enc.encode(ENDOFTEXT, allowed_special={ENDOFTEXT}) == [50256]
    assert enc.decode([15496, 995]) == "Hello world"
    assert gpt2_encoding() is enc  # cached: built once per session
    assert GPT2_SPLIT_PATTERN == tiktoken_ext.openai_public.r50k_pat_str


# ---------------------------------------------------------------- parity: our BPE == tiktoken
def test_gpt2_vocabularies_agree(ours, enc):
    assert ours.vocab_size == enc.n_vocab == 50257 and len(ours.merges) == 50000
    assert all(ours.vocab[i] == enc.decode_single_token_bytes(i) for i in range(50257))
    assert "vocab_size=50257" in repr(ours) and "<|endoftext|>" in repr(ours)


def test_parity_hello_world_and_special(ours, enc):
    assert ours.encode("Hello world") == [15496, 995]
    text = f"The end.{ENDOFTEXT}A new start."
    assert ours.encode(text, allowed_special="all") == enc.encode(text, allowed_special="all")
    assert ours.encode(text, disallowed_special=()) == enc.encode(text, disallowed_special=())
    assert 50256 not in ours.encode(text, disallowed_special=())
    with pytest.raises(ValueError):
        ours.encode(text)


@pytest.mark.parametrize("play", ["hamlet", "tempest", "sonnets"])
def test_parity_shakespeare(ours, enc, play):
    text = data.load_play(play)
    middle = len(text) // 2
    sample = text[middle:middle + 40_000]
    assert len(sample) == 40_000
    ids = ours.encode(sample)
    assert ids == enc.encode(sample)
    assert ours.decode(ids) == sample


def test_parity_rotten_tomatoes(ours, enc):
    reviews = [text for text, _ in data.load_rotten_tomatoes()]
    corpus = "\n".join(reviews)
    assert len(corpus.encode("utf-8")) > 1_000_000
    assert ours.encode(corpus) == enc.encode(corpus)
    # Review by review too (own start and end), with the ones that hold non-ASCII characters.
    unicode_reviews = [r for r in reviews if not r.isascii()]
    assert len(unicode_reviews) > 500
    for review in unicode_reviews + reviews[:500]:
        assert ours.encode(review) == enc.encode(review), review


@pytest.mark.parametrize("text", TRICKY)
def test_parity_tricky_strings(ours, enc, text):
    ids = ours.encode(text)
    assert ids == enc.encode(text)
    assert ours.decode(ids) == text == enc.decode(ids)


def test_parity_decoding_a_cut_character(ours, enc):
    ids = enc.encode("😀")
    assert len(ids) > 1  # one emoji, several byte-level tokens
    assert ours.decode(ids[:1]) == enc.decode(ids[:1]) == "\ufffd"


def test_gpt2_save_load_round_trip(ours, enc, tmp_path):
    ours.save(tmp_path / "gpt2.json")
    again = BPETokenizer.load(tmp_path / "gpt2.json")
    assert again.vocab == ours.vocab
    sample = "Saved and loaded: naïve 👩‍👩‍👧 don't  stop\n\n"
    assert again.encode(sample) == enc.encode(sample)


def test_bpe_verbose_training_shows_each_merge(capsys):
    BPETokenizer.train("aaab aaab aab", vocab_size=258, verbose=True)
    lines = capsys.readouterr().out.splitlines()
    # "aaa" holds the pair "aa" twice (overlapping): 2 + 2 + 1 = 5. Then three pairs tie at 2,
    # and the smallest ids win: (32, 256) = " " + "aa".
    assert lines == ["merge 1/2: (97, 97) -> 256 b'aa' (5 occurrences)",
                     "merge 2/2: (32, 256) -> 257 b' aa' (2 occurrences)"]
