"""What the tokenizers say when a learner passes the wrong thing (issue 10, item 4).

Every tokenizer (characters, our BPE, GPT-2's tiktoken encoding) goes through the same cases:
each asserts the error type and that the message names the argument or the value at fault.
The valid inputs these checks stand next to (tensors and arrays of ids) must decode as lists do.
"""
import json

import numpy as np
import pytest
import torch

from gptedu.tokenizers import ENDOFTEXT, BPETokenizer, CharTokenizer, UnknownCharacterError, gpt2_encoding

TEXT = "hello world, hello there"
KINDS = ["chars", "bpe", "gpt2"]


@pytest.fixture(scope="module")
def tokenizers():
    return {"chars": CharTokenizer.from_text(TEXT),
            "bpe": BPETokenizer.train(TEXT, vocab_size=262, special_tokens=[ENDOFTEXT]),
            "gpt2": gpt2_encoding()}


@pytest.fixture(params=KINDS)
def tok(request, tokenizers):
    return tokenizers[request.param]


# ---------------------------------------------------------------- decode takes what learners pass
@pytest.mark.parametrize("wrap", [list, tuple, torch.tensor, np.array, lambda ids: np.array(ids, dtype=np.int32),
                                  lambda ids: list(torch.tensor(ids))],  # a list of 0-d tensors
                         ids=["list", "tuple", "tensor", "numpy", "numpy-int32", "list-of-0d-tensors"])
def test_decode_takes_lists_tensors_and_arrays_alike(tok, wrap):
    ids = tok.encode("hello there")
    assert tok.decode(wrap(ids)) == tok.decode(ids) == "hello there"


@pytest.mark.parametrize("ids, error, message", [
    (torch.tensor([[1, 2, 3]]), ValueError, r"shape \(1, 3\).*row by row.*decode\(ids\[0\]\)"),
    (np.array([[1, 2], [3, 4]]), ValueError, r"shape \(2, 2\).*row by row"),
    ([[1, 2, 3]], ValueError, r"shape \(1, 3\).*row by row"),
    (torch.tensor([1.0, 2.0]), TypeError, r"position 0 holds 1\.0 \(float\).*ids\.long\(\)"),
    ([1, 2.5], TypeError, r"position 1 holds 2\.5"),
    ("hello", TypeError, r"not a str 'hello'.*encode\(\)"),
    (7, TypeError, r"got int 7.*decode\(\[7\]\)"),
    (None, TypeError, r"ids must be a sequence of token ids; got NoneType None"),
    (torch.tensor(3), TypeError, r"single id tensor\(3\).*decode\(\[int\(ids\)\]\)"),
    ([99999], ValueError, r"Id 99999 is outside this vocabulary"),
    ([0, -1, -2], ValueError, r"Ids -2, -1 are outside this vocabulary"),
], ids=["2d-tensor", "2d-numpy", "list-of-lists", "float-tensor", "float-id", "str", "int", "None", "0d-tensor",
        "too-large", "negative"])
def test_decode_refuses_what_is_not_one_sequence_of_ids(tok, ids, error, message):
    with pytest.raises(error, match=message):
        tok.decode(ids)


def test_out_of_vocabulary_ids_are_listed_briefly(tok):
    with pytest.raises(ValueError, match=r"Ids 100000, 100001, .*, 100009 and 90 more are outside") as err:
        tok.decode(list(range(100_000, 100_100)))
    assert len(str(err.value)) < 300


# ---------------------------------------------------------------- encode wants a str
@pytest.mark.parametrize("text, message", [
    (b"hello", r"text must be a str; got bytes b'hello': decode the bytes first: text\.decode\('utf-8'\)"),
    (None, r"text must be a str; got NoneType None"),
    (42, r"text must be a str; got int 42"),
    (["hello", "there"], r"got list .*one string at a time"),
], ids=["bytes", "None", "int", "list"])
def test_encode_names_the_type_it_wants(tok, text, message):
    with pytest.raises(TypeError, match=message):
        tok.encode(text)


@pytest.mark.parametrize("kind", ["bpe", "gpt2"])
def test_allowed_special_as_a_lone_string_says_to_use_a_set(tokenizers, kind):
    with pytest.raises(TypeError, match=r"allowed_special='<\|endoftext\|>' is a string.*\{'<\|endoftext\|>'\}"):
        tokenizers[kind].encode(f"a{ENDOFTEXT}b", allowed_special=ENDOFTEXT)
    tok = tokenizers[kind]
    assert tok.encode(f"a{ENDOFTEXT}", allowed_special={ENDOFTEXT})[-1] == tok.encode(ENDOFTEXT, allowed_special="all")[0]


def test_bpe_ignores_an_allowed_string_that_is_not_special_like_tiktoken(tokenizers):
    bpe, enc = tokenizers["bpe"], gpt2_encoding()
    assert bpe.encode("a<|foo|>", allowed_special={"<|foo|>"}) == bpe.encode("a<|foo|>")
    assert enc.encode("a<|foo|>", allowed_special={"<|foo|>"}) == enc.encode("a<|foo|>")


# ---------------------------------------------------------------- unknown characters: a short message
def test_unknown_characters_are_listed_up_to_ten_then_counted(tokenizers):
    chars = tokenizers["chars"]
    text = "".join(chr(0x4E00 + i) for i in range(5000)) * 10  # 50,000 characters, 5,000 of them distinct
    with pytest.raises(UnknownCharacterError, match=r"^5000 character\(s\) not in .*'一' \(first at position 0\)"
                                                    r".*and 4990 more\. Remove them") as err:
        chars.encode(text)
    assert len(str(err.value)) < 600 and str(err.value).count("first at position") == 10


def test_a_few_unknown_characters_keep_the_message_chapter_01_prints():
    chars = CharTokenizer.from_text("Nave cf, 2")
    with pytest.raises(UnknownCharacterError) as err:
        chars.encode("Naïve café, 2 €")
    assert str(err.value) == (
        "3 character(s) not in this tokenizer's vocabulary of 9: 'ï' (first at position 2), 'é' (first at "
        "position 9), '€' (first at position 14). Remove them from the text, or build the tokenizer with "
        "CharTokenizer.from_text(...) on text that contains them.")


# ---------------------------------------------------------------- building and training
@pytest.mark.parametrize("special_tokens, error, message", [
    ("<|eot|>", TypeError, r"special_tokens='<\|eot\|>' is one string, which would make 7 one-character "
                           r"special tokens.*special_tokens=\['<\|eot\|>'\]"),
    (["<|eot|>", "<|pad|>", "<|eot|>"], ValueError, r"special_tokens repeats '<\|eot\|>'"),
    (["<|eot|>", ""], TypeError, r"special_tokens holds ''"),
    ([None], TypeError, r"special_tokens holds None"),
    (5, TypeError, r"special_tokens=5 must be a list of strings"),
], ids=["lone-string", "duplicate", "empty-string", "None", "int"])
def test_bpe_train_special_tokens_must_be_a_list_of_distinct_strings(special_tokens, error, message):
    with pytest.raises(error, match=message):
        BPETokenizer.train(TEXT, vocab_size=270, special_tokens=special_tokens)


@pytest.mark.parametrize("call, error, message", [
    (lambda: BPETokenizer.train(b"bytes", vocab_size=260), TypeError, r"text must be a str; got bytes"),
    (lambda: BPETokenizer.train(TEXT, vocab_size="300"), TypeError, r"vocab_size='300' must be a whole number"),
    (lambda: CharTokenizer(["a", "b"]), TypeError, r"chars must be a str.*got list.*from_text"),
    (lambda: CharTokenizer.from_text(None), TypeError, r"text must be a str; got NoneType"),
], ids=["train-bytes", "train-vocab-size-str", "char-list", "from-text-None"])
def test_building_a_tokenizer_from_the_wrong_type(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------- saved tokenizer files
@pytest.mark.parametrize("cls", [CharTokenizer, BPETokenizer])
@pytest.mark.parametrize("content, message", [
    ("", r"is not a saved tokenizer \(not valid JSON"),
    ('{"type": "CharTok', r"is not a saved tokenizer \(not valid JSON"),
    ("[1, 2, 3]", r"holds a JSON list"),
    ('{"type": "Something"}', r"holds a 'Something', not a"),
], ids=["empty", "truncated", "list", "other-type"])
def test_a_malformed_saved_file_says_what_is_wrong(tmp_path, cls, content, message):
    path = tmp_path / "tok.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        cls.load(path)


def test_a_damaged_bpe_file_names_what_it_lacks_or_breaks(tmp_path, tokenizers):
    tokenizers["bpe"].save(tmp_path / "bpe.json")
    state = json.loads((tmp_path / "bpe.json").read_text())
    (tmp_path / "lacks.json").write_text(json.dumps({k: v for k, v in state.items() if k != "merges"}))
    with pytest.raises(ValueError, match=r"lacks\.json is a damaged BPETokenizer file: it lacks merges"):
        BPETokenizer.load(tmp_path / "lacks.json")
    (tmp_path / "broken.json").write_text(json.dumps({**state, "merges": [[1, 2]]}))
    with pytest.raises(ValueError, match=r"broken\.json is a damaged BPETokenizer file \(ValueError"):
        BPETokenizer.load(tmp_path / "broken.json")
    (tmp_path / "chars.json").write_text(json.dumps({"type": "CharTokenizer", "chars": 5}))
    with pytest.raises(ValueError, match=r"damaged CharTokenizer file: its chars are not a string"):
        CharTokenizer.load(tmp_path / "chars.json")


@pytest.mark.parametrize("cls", [CharTokenizer, BPETokenizer])
def test_a_missing_saved_file_says_to_save_one(tmp_path, cls):
    with pytest.raises(FileNotFoundError, match=r"No saved tokenizer at .*nope\.json.*tokenizer\.save"):
        cls.load(tmp_path / "nope.json")
