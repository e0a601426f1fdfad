"""AIME-shaped problems for tests, in English and Korean: written for this suite (not contest problems), with
checked integer answers, in the JSONL shape `axk1 eval` reads (`id`, `problem`, `answer` as a string)."""

import json
from pathlib import Path

EN = [
    {"id": "t-1", "problem": "Let $N$ be the number of ordered pairs of positive integers $(a,b)$ with $a+b=50$ such "
                             "that neither $a$ nor $b$ is divisible by $2$ or by $5$. Find $N$.", "answer": "20"},
    {"id": "t-2", "problem": "A bag holds red and blue marbles in the ratio $3:5$. After $12$ more red marbles are "
                             "put in, the ratio becomes $3:4$. How many marbles are in the bag now?", "answer": "140"},
    {"id": "t-3", "problem": "Find the sum of all positive divisors of $360$ that are perfect squares.",
     "answer": "50"},
    {"id": "t-4", "problem": "The side lengths of a right triangle form an arithmetic sequence and its area is $96$. "
                             "Find the perimeter of the triangle.", "answer": "048"},  # AIME writes three digits
    {"id": "t-5", "problem": "Find the remainder when $7^{2025}$ is divided by $1000$.", "answer": "807"},
]
KO = [
    {"id": "t-1", "problem": "$a+b=50$이고 $a$와 $b$ 모두 $2$로도 $5$로도 나누어떨어지지 않는 양의 정수 순서쌍 "
                             "$(a,b)$의 개수를 $N$이라 하자. $N$을 구하시오.", "answer": "20"},
    {"id": "t-2", "problem": "주머니에 빨간 구슬과 파란 구슬이 $3:5$의 비율로 들어 있다. 빨간 구슬 $12$개를 더 넣었더니 "
                             "비율이 $3:4$가 되었다. 지금 주머니에 든 구슬은 모두 몇 개인가?", "answer": "140"},
    {"id": "t-3", "problem": "$360$의 양의 약수 중 완전제곱수인 것들의 합을 구하시오.", "answer": "50"},
    {"id": "t-4", "problem": "직각삼각형의 세 변의 길이가 등차수열을 이루고 넓이가 $96$이다. 이 삼각형의 둘레를 "
                             "구하시오.", "answer": "048"},
    {"id": "t-5", "problem": "$7^{2025}$를 $1000$으로 나눈 나머지를 구하시오.", "answer": "807"},
]
ROWS = {"en": EN, "ko": KO}


def write_aime(folder: Path) -> dict[str, Path]:
    """aime25_en.jsonl and aime25_ko.jsonl under `folder`; returns {"en": path, "ko": path}."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for lang, rows in ROWS.items():
        paths[lang] = folder / f"aime25_{lang}.jsonl"
        paths[lang].write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return paths
