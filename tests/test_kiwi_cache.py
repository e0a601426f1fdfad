"""One Kiwi per process (axk1.text.korean.get_kiwi): safe in a forked child, shared by dedup's Kiwi shingles."""

from __future__ import annotations

import copy
import multiprocessing

import pytest

from axk1.text.korean import get_kiwi, word_tokenize

TEXT = "대한민국은 민주공화국이다.\n모든 국민은 법률이 정하는 바에 의하여 납세의 의무를 진다.\n그는 조약을 체결했다."


def _tokenize_in_child(queue) -> None:
    queue.put(word_tokenize(TEXT, "kiwi"))


def test_a_forked_child_tokenizes_with_its_own_kiwi():
    # The parent's Kiwi runs batch calls on worker threads that a fork does not copy: a child forked after the
    # parent had loaded it (datatrove's start_method = "fork") hung for ever on its first word_tokenize.
    parent_words = word_tokenize(TEXT, "kiwi")
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_tokenize_in_child, args=(queue,))
    child.start()
    child.join(120)  # a hang guard, far above the child's own Kiwi load (about 4 s, 15 s on a busy machine)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail("the forked child hung on the parent's Kiwi")
    assert child.exitcode == 0
    assert queue.get(timeout=10) == parent_words


def test_dedup_kiwi_shingles_share_the_process_kiwi():
    # datatrove copies the pipeline for every task (deep copy in-process, a pickle per task in a pool), and its
    # KiwiTokenizer loaded a Kiwi per copy: each task of the signature stage paid the model's load again.
    from datatrove.utils.word_tokenizers import KiwiTokenizer

    from axk1.data.dedup import DedupConfig, ShingledMinhashSignature

    sig = ShingledMinhashSignature("/tmp/unused-sigs", DedupConfig(shingles="kiwi"))
    copies = [copy.deepcopy(sig) for _ in range(2)]
    assert all(c.word_tokenizer.tokenizer is get_kiwi("sbg") for c in [sig, *copies])
    assert get_kiwi("sbg") is not get_kiwi()  # the filters' default model stays its own
    theirs = KiwiTokenizer()  # datatrove's own, with its own "sbg" Kiwi: the same words
    for line in TEXT.split("\n") + ["1" * 30 + " 가나다"]:
        assert sig.word_tokenizer.word_tokenize(line) == theirs.word_tokenize(line)
