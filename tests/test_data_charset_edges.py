"""Korean bytes that are Korean but were not read as such: mixed-script (국한문) CP949, whose Hanja were counted as
foreign letters, and UTF-8 pages cut inside a character or carrying one stray byte."""

import pytest

from axk1.data.charset import decode_html, korean_legacy
from axk1.data.sources import SourceConfig, read_source_file

STATUTE = ["第一條(目的) 이 法은 國民의 權利와 義務를 規定함을 目的으로 한다.",
           "第二條(定義) 이 法에서 使用하는 用語의 定義는 다음과 같다.",
           "國家는 國民의 基本的 人權을 確認하고 이를 保障할 義務를 진다.",
           "大韓民國의 主權은 國民에게 있고, 모든 權力은 國民으로부터 나온다.",
           "第三條(適用範圍) 이 法은 公務員의 勤務條件에 關하여 適用한다."]
PAGE = "<html><head><title>官報 第一號</title></head><body>" + "".join(f"<p>{s}</p>" for s in STATUTE) + "</body></html>"


@pytest.mark.parametrize("content_type", ["text/html", "text/html; charset=iso-8859-1", "text/html; charset=euc-kr"])
def test_hanja_heavy_cp949_page_is_korean(content_type):
    """Hangul is a fifth of this gazette's letters: with no or a Latin-1 label it failed as undecodable or was
    read as CP1252 mojibake."""
    text, codec = decode_html(PAGE.encode("cp949"), content_type)
    assert codec == "cp949" and text == PAGE


def test_hanja_heavy_cp949_text_file_is_read(tmp_path):
    (tmp_path / "law.txt").write_bytes("\n".join(STATUTE).encode("cp949"))
    [doc] = read_source_file(SourceConfig(type="text", path=str(tmp_path), name="law"), tmp_path / "law.txt")
    assert doc.text.split("\n") == STATUTE and doc.metadata["charset"] == "cp949"


def test_chinese_and_latin1_are_still_no_korean():
    """Chinese has no Hangul particles; a CP1252 text decodes into rare syllables: neither is CP949 Korean."""
    chinese = "中華民國憲法第一條 中華民國基於三民主義，爲民有民治民享之民主共和國。" * 3
    assert korean_legacy(chinese.encode("cp949")) is None
    assert korean_legacy("Température 4°C à l'extérieur, ©Ä ".encode("cp1252")) is None
