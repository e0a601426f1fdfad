"""Project-written Korean and English sentences from templates, seeded: text with known content for test PDFs,
test corpora and the starter corpus. Every word list here was written for this project."""

from __future__ import annotations

import random

_KO_SUBJECTS = [
    "연구진은", "학생들은", "시민들은", "정부는", "우리 팀은", "도서관은", "지역 주민들은", "개발자들은", "선생님은",
    "회사는", "위원회는", "박물관은", "병원은", "시청은", "농부들은", "기자들은", "어린이들은", "과학자들은",
    "할머니는", "운영진은", "관광객들은", "작가는", "엔지니어들은", "요리사는", "상인들은",
]
_KO_PLACES = [
    "서울에서", "부산 항구 근처에서", "작은 마을에서", "대학 연구실에서", "온라인 게시판에서", "시장 골목에서",
    "바닷가 공원에서", "산속 사찰에서", "새로 지은 강당에서", "지하철역 앞에서", "제주도 해안에서", "공장 안에서",
    "국립 도서관에서", "회의실에서", "강변 산책로에서", "전시장 입구에서",
]
_KO_OBJECTS = [
    "새로운 자료를", "오래된 기록을", "전통 음식을", "데이터 처리 방법을", "환경 보호 정책을", "문서 분석 결과를",
    "교육 과정을", "지역 축제 일정을", "건강 검진 안내를", "교통 개선 계획을", "역사 유물을", "번역 원고를",
    "수학 문제 풀이를", "날씨 예보를", "에너지 절약 방안을", "도시 설계 도면을", "실험 장비를", "농산물 가격을",
    "언어 모델 평가 기준을", "재난 대응 훈련을", "문화재 복원 과정을", "청소년 상담 기록을",
]
_KO_VERBS = [
    "꼼꼼하게 검토했습니다", "자세히 설명했다", "함께 정리하였다", "처음으로 공개했습니다", "다시 확인했다",
    "빠르게 준비했습니다", "조용히 살펴보았다", "널리 알렸습니다", "체계적으로 분류했다", "새롭게 개선했습니다",
    "차례대로 발표했다", "신중하게 논의했습니다", "끝까지 지켜보았다", "정성껏 기록했습니다", "나란히 비교했다",
]
_KO_CONNECT = ["그리고", "하지만", "그래서", "또한", "한편", "게다가", "결국", "특히", "그런데", "따라서"]
_KO_REASONS = [
    "예산이 부족했기 때문에", "사람들의 관심이 높아져서", "날씨가 좋지 않아서", "기술이 빠르게 발전하면서",
    "새로운 규정이 생기면서", "참여자가 크게 늘어나서", "오류가 자주 발생했기 때문에", "요청이 계속 들어와서",
]

_EN_SUBJECTS = ["The committee", "Our team", "The museum", "Several students", "The city council", "A researcher",
                "The library", "Local farmers", "The editors", "An engineer", "The hospital", "Two volunteers"]
_EN_VERBS = ["reviewed", "published", "compared", "summarised", "translated", "measured", "archived", "explained",
             "repaired", "catalogued", "questioned", "documented"]
_EN_OBJECTS = ["the annual report", "an internationalization guide", "the harbour records", "a weather dataset",
               "the transportation survey", "several historical maps", "the extraordinarily detailed inventory",
               "a bilingual glossary", "the energy budget", "the evaluation benchmark", "a community newsletter"]
_EN_TAILS = ["before the deadline", "with great care", "in the new building", "during the winter",
             "for the regional office", "after a long discussion", "despite several interruptions", "on Friday"]


def korean_sentence(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.5:
        return f"{rng.choice(_KO_SUBJECTS)} {rng.choice(_KO_PLACES)} {rng.choice(_KO_OBJECTS)} {rng.choice(_KO_VERBS)}."
    if kind < 0.8:
        return (f"{rng.choice(_KO_CONNECT)} {rng.choice(_KO_REASONS)} {rng.choice(_KO_SUBJECTS)} "
                f"{rng.choice(_KO_OBJECTS)} {rng.choice(_KO_VERBS)}.")
    return f"{rng.choice(_KO_SUBJECTS)} {rng.choice(_KO_OBJECTS)} {rng.choice(_KO_VERBS)}."


def english_sentence(rng: random.Random) -> str:
    return f"{rng.choice(_EN_SUBJECTS)} {rng.choice(_EN_VERBS)} {rng.choice(_EN_OBJECTS)} {rng.choice(_EN_TAILS)}."


def korean_paragraph(rng: random.Random, sentences: int = 5, english_share: float = 0.0) -> str:
    return " ".join(english_sentence(rng) if rng.random() < english_share else korean_sentence(rng)
                    for _ in range(sentences))


def korean_document(rng: random.Random, paragraphs: int = 3, sentences: int = 5, english_share: float = 0.0) -> str:
    return "\n".join(korean_paragraph(rng, sentences, english_share) for _ in range(paragraphs))


def english_document(rng: random.Random, paragraphs: int = 3, sentences: int = 5) -> str:
    return "\n".join(" ".join(english_sentence(rng) for _ in range(sentences)) for _ in range(paragraphs))
