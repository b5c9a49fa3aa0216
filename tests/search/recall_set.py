"""Messages as citizens write them, and what an adviser would type to find each one.

(language, message, search, kind). kind says what the search tests: an inflected form, a
compound searched by its beginning or by its end, a typo, letters without their diacritics.
"""

RECALL_SET = [
    # Finnish: inflected forms (case endings, possessive suffixes, consonant gradation)
    ("fi", "Hei, muuttoilmoitukseni Tampereelle jäi kesken", "muuttoilmoitus", "inflection"),
    ("fi", "Hei, muuttoilmoitukseni Tampereelle jäi kesken", "Tampere", "inflection"),
    ("fi", "Haluaisin tietää asumistuestani lisää", "asumistuki", "inflection"),
    ("fi", "Verottajalta tuli outo kirje", "verottaja", "inflection"),
    ("fi", "Valitan Kelan päätöksestä", "päätös", "inflection"),
    ("fi", "Kirjoitin hakemukseen väärän osoitteen", "hakemus", "inflection"),
    ("fi", "Kirjoitin hakemukseen väärän osoitteen", "osoite", "inflection"),
    ("fi", "Lähetin kuitin sähköpostilla", "kuitti", "inflection"),
    ("fi", "Koiralleni pitäisi saada rokotus", "koira", "inflection"),
    ("fi", "Rakennusluvan käsittely kestää liian kauan", "rakennuslupa", "inflection"),
    ("fi", "Asun Helsingissä nykyään", "Helsinki", "inflection"),
    ("fi", "Muutin Turusta viime kuussa", "Turku", "inflection"),
    ("fi", "Yrityksemme tiedot ovat väärin", "yritys", "inflection"),
    ("fi", "Työttömyyskorvaukseni maksu myöhästyi", "työttömyyskorvaus", "inflection"),
    ("fi", "Sain laskun vesimaksusta", "lasku", "inflection"),
    ("fi", "Lapsilisät loppuivat yllättäen", "lapsilisä", "inflection"),
    ("fi", "Milloin passini on valmis?", "passi", "inflection"),
    ("fi", "Tarvitsen apua veroilmoituksen kanssa", "veroilmoitus", "inflection"),
    # Finnish compounds
    ("fi", "Lapseni päivähoitopaikka vaihtuu", "päivähoito", "compound start"),
    ("fi", "Vesimaksun eräpäivä meni ohi", "vesimaksu", "compound start"),
    ("fi", "Autoni rekisteröinti ei onnistu", "auto", "compound start"),
    ("fi", "Henkilökorttihakemus hylättiin", "hakemus", "compound end"),
    ("fi", "Sairauslomatodistus puuttuu", "todistus", "compound end"),
    ("fi", "Kunnallisveroa perittiin liikaa", "vero", "compound end"),
    ("fi", "Pysäköintivirhemaksusta valitus", "virhemaksu", "compound end"),
    # Finnish typos and missing diacritics
    ("fi", "Ajokortti hukkui", "ajokorti", "typo"),
    ("fi", "Muuttoilmoitus tehty", "muutoilmoitus", "typo"),
    ("fi", "Passihakemus on jätetty", "pasihakemus", "typo"),
    ("fi", "Äitiysavustus ei tullut", "aitiysavustus", "no diacritics"),
    ("fi", "Päätös tuli postissa", "paatos", "no diacritics"),
    # Swedish
    ("sv", "Bostadsbidraget har inte kommit", "bostadsbidrag", "inflection"),
    ("sv", "Mitt körkort har gått ut", "körkortet", "inflection"),
    ("sv", "Ansökan om föräldrapenning", "föräldrapenningen", "inflection"),
    ("sv", "Skatteverket skickade ett brev", "skatteverk", "inflection"),
    ("sv", "Var finns barnens dagisplatser?", "dagisplats", "inflection"),
    ("sv", "Jag flyttar till Tammerfors", "Tammerfors", "inflection"),
    ("sv", "Min ansökan avslogs", "ansökningar", "inflection"),
    ("sv", "Pass till barnet", "barn", "inflection"),
    ("sv", "Jag gjorde flyttanmälan igår", "flyttanmälningen", "inflection"),
    ("sv", "Husbilen ska besiktas", "bil", "compound end"),
    ("sv", "Parkeringsboten är fel", "parkering", "compound start"),
    ("sv", "Bostadsbidrag", "bostadbidrag", "typo"),
    ("sv", "Flyttanmälan", "flyttanmalan", "no diacritics"),
]
