"""Undeclared pages in a single-byte Latin codepage, read in the codepage whose reading's accented letters are one
language's (axk1/data/latin_alphabets.py::choose_reading): Czech, Hungarian and Slovenian CP1250 pages were read as
CP1252 ("pøíliš", "fõváros"), a Turkish CP1254 page with site markup as CP1250 ("ţehir"), Finnish and Estonian
bare pages as HP Roman-8 and CP775 mojibake. Real sentences per language, in the Windows codepage its sites
use, as a bare page and as a city site's page with navigation, script and footer."""

import pytest

from axk1.data.charset import decode_html
from axk1.data.latin_alphabets import accented_letters, choose_reading
from tests.charset_helpers import bare_page, site_page

SAMPLES = {  # language: (the Windows codepage its sites use, a few sentences)
    "cs": ("cp1250", "Praha je hlavní a největší město České republiky. Historické centrum bylo v roce 1992 zapsáno na "
           "seznam světového dědictví UNESCO. Každý rok sem přijíždějí miliony turistů, kteří obdivují Karlův most a "
           "Pražský hrad. Městská knihovna má otevřeno od pondělí do pátku."),
    "hu": ("cp1250", "Budapest Magyarország fővárosa és legnépesebb települése. A várost a Duna két részre osztja: a "
           "nyugati parton Buda, a keleti parton Pest fekszik. Az önkormányzat tájékoztatja a lakosokat, hogy "
           "hétfőtől új menetrend lép életbe. A könyvtár szombaton is nyitva tart."),
    "pl": ("cp1250", "Warszawa jest stolicą Polski i największym miastem w kraju. Miasto leży nad Wisłą, w "
           "środkowo-wschodniej części Polski. Urząd miasta informuje, że od poniedziałku zmienia się rozkład jazdy "
           "autobusów. Biblioteka będzie czynna także w soboty."),
    "sk": ("cp1250", "Bratislava je hlavné a zároveň najväčšie mesto Slovenskej republiky. Leží na juhozápade "
           "Slovenska, na oboch brehoch Dunaja. Mestský úrad oznamuje, že od pondelka sa mení cestovný poriadok. "
           "Ľudia si môžu knihy požičať aj v sobotu."),
    "sl": ("cp1250", "Ljubljana je glavno mesto Slovenije in njeno največje mesto. Leži ob reki Ljubljanici, med "
           "Alpami in Krasom. Mestna občina obvešča, da se s ponedeljkom spremeni vozni red mestnih avtobusov. "
           "Knjižnica bo odprta tudi ob sobotah."),
    "hr": ("cp1250", "Zagreb je glavni i najveći grad Republike Hrvatske. Smješten je na obroncima Medvednice, uz "
           "rijeku Savu. Gradski ured obavještava građane da se od ponedjeljka mijenja vozni red tramvaja. Više "
           "informacija možete pročitati na stranici Grada."),
    "ro": ("cp1250", "Bucureşti este capitala şi cel mai mare oraş al României. Oraşul se află în sud-estul ţării, "
           "pe malurile râului Dâmboviţa. Primăria informează cetăţenii că de luni se schimbă programul "
           "transportului public. Biblioteca va fi deschisă şi sâmbăta."),
    "tr": ("cp1254", "İstanbul, Türkiye'nin en kalabalık şehri ve ekonomik merkezidir. Şehir, Boğaziçi'nin iki "
           "yakasında kurulmuştur. Belediye, pazartesi gününden itibaren otobüs saatlerinin değişeceğini duyurdu. "
           "Kütüphane cumartesi günleri de açık olacak."),
    "tr-2": ("cp1254", "Ankara Büyükşehir Belediyesi, şehir içi ulaşımda yeni bir dönem başlattı. Otobüs hatları "
             "yeniden düzenlendi ve sefer sayıları artırıldı. Öğrenciler sınav sonuçlarını öğrenmek için okul "
             "müdürlüğüne başvurmalıdır."),
    "de": ("cp1252", "Berlin ist die Hauptstadt und zugleich die bevölkerungsreichste Stadt Deutschlands. Die "
           "Stadtverwaltung teilt mit, dass ab Montag ein neuer Fahrplan für die Busse gilt. Die Bibliothek ist "
           "künftig auch samstags geöffnet. Auskünfte erhalten Sie im Bürgerbüro an der Straße des 17. Juni."),
    "fr": ("cp1252", "Paris est la capitale de la France et la ville la plus peuplée du pays. La mairie informe les "
           "habitants qu’à partir de lundi, les horaires des bus changeront. La bibliothèque sera également ouverte "
           "le samedi. Pour plus de détails, adressez-vous à l’accueil de l’hôtel de ville."),
    "es": ("cp1252", "Madrid es la capital de España y la ciudad más poblada del país. El ayuntamiento informa de que "
           "a partir del lunes cambiarán los horarios de los autobuses. La biblioteca también abrirá los sábados. "
           "¿Necesita más información? Consulte la página web municipal."),
    "pt": ("cp1252", "Lisboa é a capital de Portugal e a cidade mais populosa do país. A câmara municipal informa que, "
           "a partir de segunda-feira, os horários dos autocarros vão mudar. A biblioteca também estará aberta aos "
           "sábados. Para mais informações, dirija-se à junta de freguesia."),
    "it": ("cp1252", "Roma è la capitale d’Italia e il comune più popoloso del paese. Il comune informa i cittadini "
           "che da lunedì cambierà l’orario degli autobus. La biblioteca sarà aperta anche il sabato. Per ulteriori "
           "informazioni è possibile rivolgersi all’ufficio relazioni con il pubblico."),
    "fi": ("cp1252", "Helsinki on Suomen pääkaupunki ja maan suurin kaupunki. Kaupunki sijaitsee Suomenlahden "
           "rannalla. Kaupunginvirasto tiedottaa, että bussien aikataulut muuttuvat maanantaista alkaen. Kirjasto on "
           "jatkossa auki myös lauantaisin. Lisätietoja saa kaupungin verkkosivuilta."),
    "sv": ("cp1252", "Stockholm är Sveriges huvudstad och landets största stad. Staden ligger där Mälaren möter "
           "Östersjön. Kommunen meddelar att bussarnas tidtabeller ändras från och med måndag. Biblioteket kommer "
           "också att vara öppet på lördagar. Mer information finns på kommunens webbplats."),
    "lt": ("cp1257", "Vilnius yra Lietuvos sostinė ir didžiausias šalies miestas. Miestas įsikūręs Neries ir Vilnios "
           "santakoje. Savivaldybė praneša, kad nuo pirmadienio keičiasi autobusų tvarkaraštis. Biblioteka bus "
           "atidaryta ir šeštadieniais."),
    "lv": ("cp1257", "Rīga ir Latvijas galvaspilsēta un lielākā pilsēta valstī. Tā atrodas pie Daugavas ietekas Rīgas "
           "jūras līcī. Pašvaldība informē, ka no pirmdienas mainās autobusu kustības saraksts. Bibliotēka būs "
           "atvērta arī sestdienās."),
    "et": ("cp1257", "Tallinn on Eesti pealinn ja suurim linn. Linn asub Soome lahe lõunarannikul. Linnavalitsus "
           "teatab, et alates esmaspäevast muutub bussiliinide sõiduplaan. Raamatukogu on avatud ka laupäeviti. "
           "Lisateavet leiate linna veebilehelt."),
}


@pytest.mark.parametrize("layout", [bare_page, site_page], ids=["bare", "site"])
@pytest.mark.parametrize("lang", sorted(SAMPLES))
def test_an_undeclared_latin_page_reads_as_its_language(lang, layout):
    """The page's text comes back exactly, in a codec that reads its bytes so (a German page's ä ö ü are the same
    bytes in CP1250 and CP1252; such a page is named CP1252, the WHATWG default)."""
    codec, body = SAMPLES[lang]
    page = layout(body)
    data = page.encode(codec)
    text, got = decode_html(data, "")
    assert text == page, (got, [w for w, v in zip(text.split(), page.split()) if w != v][:5])
    assert data.decode(got) == page


def test_a_turkish_capital_dotted_i_is_no_foreign_letter():
    """"İ".lower() is "i̇", two characters that no alphabet holds: a Turkish page starting "İstanbul" was no
    Turkish."""
    assert accented_letters("İstanbul Şişli Ilgaz") == {"ş"}


def _readings(text: str, codec: str, *others: str) -> dict[str, str]:
    data = text.encode(codec)
    return {c: data.decode(c) for c in others}


def test_several_readings_of_one_language_keep_the_guess_unless_another_reads_more_like_words():
    czech = _readings("Příliš žlutý kůň úpěl ďábelské ódy", "cp1250", "cp1252", "cp1250")
    assert czech["cp1252"].startswith("Pøíliš") and choose_reading(czech, "cp1252") == "cp1250"
    # ISO-8859-2 Slovak "ž" read as CP1250 is Slovak "ľ": two readings, each one language's, and the guess's is taken
    slovak = _readings("Leží na juhozápade", "iso8859-2", "cp1252", "cp1250", "iso8859-2")
    assert slovak["cp1250"].startswith("Leľí")
    assert choose_reading(slovak, "iso8859-2") == "iso8859-2" and choose_reading(slovak, "cp1252") == "cp1250"
    # CP1250's "š" read as ISO-8859-2 is a C1 control, no letter: that reading gives way though it is the guess's
    czech = _readings("Příliš žlutý kůň úpěl ďábelské ódy", "cp1250", "iso8859-2", "cp1250")
    assert "\x9a" in czech["iso8859-2"] and choose_reading(czech, "iso8859-2") == "cp1250"


def test_one_accented_letter_is_no_language():
    """Italian "è" read as CP1250 is Croatian "č": one letter decides nothing, and the caller's rule stands."""
    assert choose_reading({"cp1252": "Roma è bella", "cp1250": "Roma č bella"}, "cp1250") is None
