"""The synthetic-data copy rule measured (axk1/synth/filters.py::copied_share, docs/data.md "Synthetic data"):
Jaccard and containment (the share of a sample's 7-character shingles found in its passage) for two real passages
(heapq's explanation of heaps, by François Pinard, from the standard library; articles 10-12 of the Korean
constitution, from konlpy's data) against rewrites written by hand (an easy rewrite, a close paraphrase keeping the
passage's phrases), excerpts, an excerpt behind a preamble, and the passage with every eighth word altered.

    .venv/bin/python benchmarks/bench_synth_copy.py
"""

from __future__ import annotations

import heapq
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from axk1.text.ngrams import char_shingles, jaccard  # noqa: E402
from tests.korean_corpus import constitution_chapters  # noqa: E402

about = heapq.__about__
en = " ".join(about[about.index("In the tree above"): about.index("in the tree.") + len("in the tree.")].split())
ko_full = constitution_chapters()["제2장 국민의 권리와 의무"]
ko = " ".join(ko_full[ko_full.index("제10조"): ko_full.index("강제노역을 받지 아니한다.") + 14].split())

en_easy = ("Think of a heap as a sports tournament drawn as a tree. Every spot k in the tree sits above two spots, "
           "2*k+1 and 2*k+2. In a normal tournament, each spot holds the winner of the two matches below it, so you "
           "could follow a champion down the tree and see everyone they beat. Computers usually don't care about "
           "that history. To save memory, when a winner moves up, its old place is filled with some other item from "
           "lower down. The rule is then simple: a spot and the two spots under it hold three different items, and "
           "the top one beats the other two. As long as this rule always holds, the item at index 0 is the overall "
           "champion. To take it out and find the next champion, you move a loser, such as the item in cell 30, into "
           "position 0 and let it sink down the tree, swapping values until the rule is true again. This takes time "
           "that grows with the logarithm of the number of items in the tree.")
en_close = ("In the tree above, each cell k sits on top of 2*k+1 and 2*k+2. In a usual binary tournament seen in "
            "sports, each cell is the winner over the two cells it tops, and one can trace the winner down the tree "
            "to see all the opponents they had. However, in many computer applications of such tournaments, we do "
            "not need to trace a winner's history. To be more memory efficient, when a winner is promoted, we "
            "replace it by something else at a lower level, and the rule becomes that a cell and the two cells it "
            "tops contain three different items, but the top cell wins over the two topped cells. If this heap "
            "invariant is protected at all times, index 0 is clearly the overall winner. The simplest way to remove "
            "it and find the next winner is to move some loser (say cell 30) into position 0, and then percolate "
            "it down the tree, exchanging values, until the invariant holds again. This is logarithmic in the "
            "number of items in the tree.")
ko_easy = ("헌법 제10조는 모든 국민이 사람으로서 존엄하고 가치 있는 존재이며, 행복하게 살기 위해 노력할 권리가 있다고 "
           "말합니다. 나라는 누구도 빼앗을 수 없는 사람의 기본적인 권리를 인정하고 지켜 주어야 합니다. 제11조에 따르면 "
           "모든 국민은 법 앞에서 똑같이 대우받습니다. 남자인지 여자인지, 어떤 종교를 믿는지, 사회에서 어떤 위치에 "
           "있는지 때문에 정치, 경제, 사회, 문화 생활에서 차별받아서는 안 됩니다. 또 특별한 계급을 만들 수 없고, 훈장을 "
           "받더라도 그것은 받은 사람에게만 의미가 있을 뿐 특별한 권리를 주지는 않습니다. 제12조는 몸의 자유를 "
           "다룹니다. 법에 정해진 이유와 절차 없이 누군가를 붙잡아 가두거나, 물건을 빼앗거나, 뒤지거나, 벌을 줄 수 "
           "없습니다.")
ko_close = ("제10조에 따르면 모든 국민은 인간으로서 존엄과 가치를 가지며 행복을 추구할 권리를 가집니다. 국가는 개인이 "
            "가지는 불가침의 기본적 인권을 확인하고 이를 보장할 의무가 있습니다. 제11조에 따르면 모든 국민은 법 앞에 "
            "평등하며, 누구든지 성별·종교 또는 사회적 신분에 의하여 정치적·경제적·사회적·문화적 생활의 모든 영역에서 "
            "차별을 받지 않습니다. 사회적 특수계급의 제도는 인정되지 않으며 어떤 형태로도 만들 수 없습니다. 훈장 등의 "
            "영전은 받은 사람에게만 효력이 있고 어떤 특권도 따르지 않습니다. 제12조에 따르면 모든 국민은 신체의 자유를 "
            "가지며, 법률에 의하지 않고는 체포·구속·압수·수색 또는 심문을 받지 않습니다.")


def measure(name, sample, passage):
    s, p = char_shingles(sample), char_shingles(passage)
    print(f"{name:<44} {len(sample):5d} chars  Jaccard {jaccard(s, p):.2f}  containment {len(s & p) / len(s):.2f}")


for lang, passage, easy, close in (("en", en, en_easy, en_close), ("ko", ko, ko_easy, ko_close)):
    print(f"--- {lang} passage, {len(passage)} chars")
    measure("easy rewrite (by hand)", easy, passage)
    measure("close paraphrase (phrases kept, by hand)", close, passage)
    for share in (1.0, 0.9, 0.75, 0.6, 0.4, 0.25):
        measure(f"excerpt {share:.0%}", passage[: int(len(passage) * share)], passage)
    mid = passage[len(passage) // 4: 3 * len(passage) // 4]
    measure("excerpt 50% from the middle", mid, passage)
    preamble = ("Here is a simpler version for students. " if lang == "en" else "학생들을 위해 쉽게 다시 쓴 글입니다. ")
    measure("preamble sentence + excerpt 60%", preamble + passage[: int(len(passage) * 0.6)], passage)
    words = passage.split()
    edited = " ".join(w + "s" if i % 8 == 3 else w for i, w in enumerate(words))
    measure("whole passage, every 8th word edited", edited, passage)
