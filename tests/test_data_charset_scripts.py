"""Undeclared single-byte pages in a non-Latin script, or in a Latin one no table held, read in their own codepage
(axk1/data/script_readings.py): Greek CP1253 pages were read as Cyrillic (CP1251 "ЕрйкпйнщнЯб", KOI8-R), short Thai
CP874 notices as CP949 Hangul and Hanja or CP932 katakana, Vietnamese CP1258 as CP1252 ("Nôòi"), Icelandic CP1252
as CP1250 ("höfuđborg"). Real sentences in each language's usual codepage, as a bare page and as a city site's page
(tests/charset_helpers.py); Cyrillic, Hebrew and Arabic pages, which read right before, still do."""

import unicodedata

import pytest

from axk1.data.charset import decode_html
from axk1.data.script_readings import reads_as, reads_as_vietnamese
from tests.charset_helpers import bare_page, site_page

GREEK_SHOP = ("Επικοινωνία: τηλέφωνο 210 1234567. Όλα τα δικαιώματα διατηρούνται. Νέα προϊόντα στο ηλεκτρονικό μας "
              "κατάστημα! Δωρεάν αποστολή για παραγγελίες άνω των 50 ευρώ.")
GREEK_NOTICE = ("Καλημέρα σας. Το κατάστημα είναι ανοιχτό από Δευτέρα έως Παρασκευή. Επικοινωνία: τηλέφωνο 210 "
                "1234567. Όλα τα δικαιώματα διατηρούνται. ΑΝΑΚΟΙΝΩΣΗ: ΤΟ ΓΡΑΦΕΙΟ ΘΑ ΠΑΡΑΜΕΙΝΕΙ ΚΛΕΙΣΤΟ ΤΗΝ ΔΕΥΤΕΡΑ "
                "ΛΟΓΩ ΑΡΓΙΑΣ.")
SAMPLES = {  # name: (codepage, a few sentences); the first eight were misread before
    "el-shop": ("cp1253", GREEK_SHOP),
    "el-notice": ("cp1253", GREEK_NOTICE),
    "el-iso": ("iso8859-7", GREEK_NOTICE),
    "th-notice": ("cp874", "ด่วน ประกาศ ปิดทำการ ติดต่อสอบถาม โทรศัพท์"),  # read as CP949
    "th-shop": ("cp874", "ประกาศ ราคาสินค้า ติดต่อสอบถาม โทรศัพท์"),  # read as CP949
    "th-meeting": ("cp874", "ประกาศ ณ ห้องประชุม ปิดทำการ"),  # read as CP932 katakana, and KZ-1048 with a site's markup
    "vi": ("cp1258", "Hà Nội là thủ đô của nước Cộng hòa Xã hội chủ nghĩa Việt Nam. Thành phố nằm bên bờ sông Hồng, "
           "có lịch sử hơn một nghìn năm. Ủy ban nhân dân thành phố thông báo từ thứ Hai giờ chạy xe buýt sẽ thay đổi. "
           "Thư viện cũng sẽ mở cửa vào thứ Bảy."),
    "is": ("cp1252", "Reykjavík er höfuðborg Íslands og stærsta sveitarfélag landsins. Borgin stendur við Faxaflóa á "
           "suðvesturhorni landsins. Borgaryfirvöld tilkynna að frá og með mánudegi breytist tímatafla strætisvagna. "
           "Bókasafnið verður einnig opið á laugardögum."),
    # read right before, and still
    "th-closed": ("cp874", "ประกาศ ปิดทำการ เนื่องจากเป็นวันหยุด ขออภัยในความไม่สะดวก"),
    "el-city": ("cp1253", "Η Αθήνα είναι η πρωτεύουσα και η μεγαλύτερη πόλη της Ελλάδας. Ο δήμος ενημερώνει τους "
                "πολίτες ότι από τη Δευτέρα αλλάζουν τα δρομολόγια των λεωφορείων. Η δημοτική βιβλιοθήκη θα είναι "
                "ανοιχτή και το Σάββατο."),
    "th-city": ("cp874", "กรุงเทพมหานครเป็นเมืองหลวงและเมืองที่มีประชากรมากที่สุดของประเทศไทย ตั้งอยู่บนฝั่งแม่น้ำเจ้าพระยา "
                "สำนักงานเขตขอแจ้งให้ประชาชนทราบว่าตั้งแต่วันจันทร์เป็นต้นไปตารางเดินรถโดยสารประจำทางจะเปลี่ยนแปลง"),
    "ru": ("cp1251", "Москва является столицей Российской Федерации и крупнейшим городом страны. Город расположен на "
           "реке Москве. Мэрия сообщает, что с понедельника изменится расписание автобусов. Библиотека будет открыта и "
           "по субботам."),
    "uk": ("cp1251", "Київ є столицею та найбільшим містом України. Місто розташоване на річці Дніпро. Міська рада "
           "повідомляє, що з понеділка змінюється розклад руху автобусів. Бібліотека також працюватиме в суботу."),
    "bg": ("cp1251", "София е столицата и най-големият град на България. Градът се намира в подножието на планината "
           "Витоша. Общината съобщава, че от понеделник се променя разписанието на автобусите. Библиотеката ще работи "
           "и в събота."),
    "he": ("cp1255", "ירושלים היא בירת ישראל והעיר הגדולה ביותר במדינה. העירייה מודיעה לתושבים כי החל מיום שני ישתנו "
           "לוחות הזמנים של האוטובוסים. הספרייה תהיה פתוחה גם ביום שישי."),
    "ar": ("cp1256", "القاهرة هي عاصمة جمهورية مصر العربية وأكبر مدنها. تقع المدينة على ضفاف نهر النيل. تعلن المحافظة أن "
           "مواعيد الحافلات ستتغير اعتبارا من يوم الاثنين. وستفتح المكتبة أبوابها يوم السبت أيضا."),
}


def cp1258(text: str) -> bytes:
    """Text as a Vietnamese CP1258 page spells it: each toned vowel the codepage lacks as a letter it has (ô, ơ, ă,
    à, á...) and a combining tone mark; Python's encoder takes no precomposed "ộ"."""
    out = []
    for ch in text:
        parts = unicodedata.normalize("NFD", ch)
        # keep with the base letter the one mark the codepage composes with it (ô of ộ), the other combining
        for i in [*range(len(parts) - 1, 0, -1), None]:
            head, tail = (parts, "") if i is None else (unicodedata.normalize("NFC", parts[0] + parts[i]),
                                                        parts[1:i] + parts[i + 1:])
            try:
                out.append(head.encode("cp1258") + tail.encode("cp1258"))
                break
            except UnicodeEncodeError:
                continue
    return b"".join(out)


@pytest.mark.parametrize("layout", [bare_page, site_page], ids=["bare", "site"])
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_an_undeclared_page_reads_in_its_own_codepage(name, layout):
    """The page's text comes back, in a codec that reads its bytes so (ISO-8859-7 Greek is CP1253's bytes for these
    letters; a Vietnamese page keeps CP1258's letter-and-tone-mark spelling)."""
    codec, body = SAMPLES[name]
    page = layout(body)
    data = cp1258(page) if codec == "cp1258" else page.encode(codec)
    text, got = decode_html(data, "")
    assert unicodedata.normalize("NFC", text) == page, (got, text[text.find("<p>"):][:60])
    assert data.decode(got) == text


def test_greek_read_as_cyrillic_is_no_cyrillic():
    """Greek's accented lowercase vowels are Cyrillic capitals in CP1251, inside lowercase words."""
    data = GREEK_SHOP.encode("cp1253")
    assert "ЕрйкпйнщнЯб" in data.decode("cp1251")
    assert not reads_as(data.decode("cp1251"), "cyrillic") and not reads_as(data.decode("koi8-r"), "cyrillic")
    assert reads_as(data.decode("cp1253"), "greek")
    assert reads_as(SAMPLES["ru"][1], "cyrillic") and not reads_as(SAMPLES["ru"][1], "greek")


def test_thai_spelling_is_checked():
    """A tone mark or vowel sign after no consonant, or a leading vowel before none, is no Thai as written."""
    assert reads_as("ประกาศ ปิดทำการ", "thai")
    assert not reads_as("ประกาศ ่ปิดทำการ", "thai") and not reads_as("ประกาศเ ปิดทำการ", "thai")
    # a CP1252 French page's accented letters read as CP874 are Thai vowels and tone marks after Latin letters
    french = "Le musée sera fermé à partir de lundi. Les élèves sont priés de se présenter à l'accueil."
    assert not reads_as(french.encode("cp1252").decode("cp874"), "thai")


def test_vietnamese_needs_tone_marks_after_vowels_and_its_own_letters():
    vi = cp1258(SAMPLES["vi"][1]).decode("cp1258")
    assert reads_as_vietnamese(vi)
    assert not reads_as_vietnamese(SAMPLES["vi"][1])  # precomposed, as no CP1258 page spells it: no tone marks
    # Portuguese CP1252 read as CP1258: ã õ are ă ơ, but it has no tone marks
    pt = "As informações estão disponíveis na página da câmara municipal, que não abre aos sábados."
    assert not reads_as_vietnamese(pt.encode("cp1252").decode("cp1258"))


def test_korean_read_as_cp874_is_no_thai():
    """Half of the short Korean pages below decode strictly as CP874 too (Korean bytes are A1-FE, which CP874 maps
    to Thai letters nearly all), and their vowel signs follow consonants: none reads as Thai, for the Pali and
    obsolete letters its lead bytes make (ฐ ฑ ฆ ฦ). A mixed-script one, whose CP949 reading is no Hangul alone,
    stays Korean."""
    from tests.korean_corpus import bills, constitution_chapters

    lines = [line.strip() for text in [*bills().values(), *constitution_chapters().values()]
             for line in text.split("\n") if len(line.strip()) > 3][:3000]
    as_thai = []
    for line in lines:
        try:
            as_thai.append(line.encode("cp949").decode("cp874"))
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
    assert len(as_thai) > 500 and not [t for t in as_thai if reads_as(t, "thai")]
    page = bare_page("職을 명하여야 한다.")
    data = page.encode("cp949")
    assert data.decode("cp874") and decode_html(data, "") == (page, "cp949")
