"""Fake people and free text: Dutch and international names, e-mail addresses, session notes.

Every string here is representable in cp1252 (the Dutch Excel CSV encoding), so that the
session logs can be written the way Excel writes them.  All functions are vectorised over
NumPy arrays: the 100,000-participant benchmark builds its names without a Python loop.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd

DUTCH_FIRST = (
    "Sanne Daan Lotte Thijs Emma Lucas Julia Sem Anouk Bram Lisa Ruben Fleur Jesse Eva Luuk Noor Milan "
    "Sophie Lars Iris Tim Femke Joris Maud Niels Roos Stijn Zoë Gijs Chloë Jeroen Anaïs Koen Esmée Wouter "
    "Renée Maarten Inge Pieter Marloes Sven Floor Teun Merel Jasper Noëlle Bas Hanneke René Linde Job "
    "Isabel Hugo Anne Mees Britt Joost Yara Guus Kim Rik Elif Mohamed Samira Youssef Priya Sarah Thomas"
).split()
DUTCH_LAST = [
    "de Vries",
    "Jansen",
    "van den Berg",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
    "Brouwer",
    "de Wit",
    "Dijkstra",
    "Smits",
    "de Graaf",
    "van der Meer",
    "van der Linden",
    "Kok",
    "Jacobs",
    "de Haan",
    "Vermeulen",
    "van den Heuvel",
    "van der Veen",
    "van den Broek",
    "de Bruijn",
    "van der Heijden",
    "Schouten",
    "van Beek",
    "Willems",
    "van Vliet",
    "van de Ven",
    "Hoekstra",
    "Maas",
    "Verhoeven",
    "Koster",
    "van Dam",
    "van der Wal",
    "Prins",
    "Blom",
    "Huisman",
    "Peeters",
    "Kuipers",
    "van Dijk",
    "Wouters",
    "Claessens",
    "Lemmens",
    "Janssen",
    "Franssen",
    "Hermans",
    "Vroemen",
    "Ramakers",
    "Schreurs",
    "Coenen",
    "Kurvers",
    "Habets",
    "Ploemen",
    "Notermans",
    "Crijns",
    "Wolfs",
    "Ernst",
    "Bouwman",
    "Timmermans",
    "Geurts",
    "Sleijpen",
    "Hoeben",
    "Brüggemann",
    "Çelik",
    "El Amrani",
]
INTERNATIONAL_FIRST = (
    "Ahmad Mohammed Fatima Olena Oksana Rania Yusuf Priya Ali Leila Hassan Maryam Dmytro Anastasia Carlos "
    "María Omar Nour Samer Lina Iryna Andriy Reza Shirin Arjun Ananya Kwame Ama Chinedu Ngozi José Lucía "
    "Tariq Hiba Bashar Rasha Mehmet Ayşe Emre Zeynep Karim Salma Viktor Natalia Farid Yasmin"
).split()
INTERNATIONAL_LAST = [
    "Al-Hassan",
    "Haddad",
    "Khalil",
    "Kovalenko",
    "Shevchenko",
    "Yilmaz",
    "Öztürk",
    "Demir",
    "Rahimi",
    "Hosseini",
    "García",
    "Fernández",
    "Nowak",
    "Kowalski",
    "Mensah",
    "Okafor",
    "Patel",
    "Singh",
    "Ibrahim",
    "Mahmoud",
    "Nasser",
    "Saleh",
    "Bondarenko",
    "Melnyk",
    "Tkachenko",
    "Karimi",
    "Sharma",
    "Reddy",
    "Asante",
    "Eze",
    "Moreno",
    "Álvarez",
    "Darwish",
    "Aziz",
    "Kaya",
    "Arslan",
    "Petrenko",
    "Hamdan",
    "Suleiman",
    "Nair",
]
# "Ayşe" is not cp1252; it is replaced below by the spelling Dutch systems store.
INTERNATIONAL_FIRST = [n.replace("ş", "s") for n in INTERNATIONAL_FIRST]

METHODS = np.array(
    [
        "incidentmethode",
        "roddelmethode",
        "5-stappenmethode",
        "leren van successen",
        "Balintmethode",
        "ideeënmethode",
        "socratisch gesprek",
        "kwaliteitenspel",
        "roddelmethode (variant)",
        "vrije inbreng",
    ]
)
METHOD_WEIGHTS = np.array([0.22, 0.16, 0.18, 0.12, 0.07, 0.07, 0.06, 0.04, 0.03, 0.05])

REPORTS = np.array(
    [
        "Casus over een moeizaam gesprek met een patiënt; veel herkenning in de groep.",
        "Incident besproken rond een fout in de overdracht. Groep reageerde steunend, ideeën voor de volgende keer.",
        "Thema: grenzen stellen tijdens drukke diensten. Goede sfeer, iedereen actief.",
        "Reflectie op feedback van de supervisor; de coach hield de structuur goed vast.",
        "Casus over een overleden patiënt; emotionele bijeenkomst, tijd genomen voor nazorg.",
        "Een geslaagd slechtnieuwsgesprek besproken: wat ging er goed en waarom?",
        "Werkdruk en roosters besproken; tips gedeeld over prioriteren en hulp vragen.",
        "Casus over samenwerking met de verpleging; verschillende perspectieven verkend.",
        "Lastige beoordeling door een opleider; gesprek over feedback vragen en ontvangen.",
        "Culturele verschillen in het contact met patiënten en collega's; veel herkenning.",
        "Eerste keer met deze methode; na de uitleg liep het vlot, volgende keer één casus.",
        "Twijfel over de eigen beroepskeuze ingebracht; open en veilig gesprek.",
    ]
)
TIPS = np.array(
    [
        "Meer tijd voor de tweede casus.",
        "Fijne bijeenkomst, dank je!",
        "Graag wat strakkere tijdsbewaking.",
        "Iets vaker doorvragen naar het gevoel.",
        "Prettige sfeer, ik voelde me veilig.",
        "Misschien eens een andere methode proberen.",
        "Duidelijke uitleg van de stappen, top.",
        "Het mag wat minder sturend.",
        "Goed dat iedereen aan het woord kwam.",
        "Begin graag op tijd.",
    ]
)
COMMENTS = np.array(
    [
        "Druk met de opleiding, daarom laat ingevuld.",
        "De vragenlijst was lang.",
        "Geen opmerkingen.",
        "Sommige vragen vond ik lastig te beantwoorden.",
        "Intervisie helpt me echt.",
        "Ik mis de bijeenkomsten sinds ik van afdeling ben gewisseld.",
        "Goed initiatief!",
        "Vragen over patiënten zijn nu niet van toepassing (geen patiëntcontact).",
        "Zware periode gehad, dat zie je waarschijnlijk terug.",
        "Graag de resultaten ontvangen.",
    ]
)


def ascii_fold(text: str) -> str:
    """Return ``text`` without accents and with only letters, for e-mail local parts."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded.lower() if ch.isalpha())


def draw_names(rng: np.random.Generator, pools: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Draw first and last names; ``pools`` holds "dutch" or "international" per person.

    Parameters
    ----------
    rng : numpy.random.Generator
        The random stream.
    pools : numpy.ndarray
        One pool name per person.

    Returns
    -------
    tuple of numpy.ndarray
        First names and last names (object arrays).
    """
    n = len(pools)
    first = np.empty(n, dtype=object)
    last = np.empty(n, dtype=object)
    for pool, (firsts, lasts) in {
        "dutch": (DUTCH_FIRST, DUTCH_LAST),
        "international": (INTERNATIONAL_FIRST, INTERNATIONAL_LAST),
    }.items():
        where = pools == pool
        k = int(where.sum())
        first[where] = np.array(firsts, dtype=object)[rng.integers(0, len(firsts), k)]
        last[where] = np.array(lasts, dtype=object)[rng.integers(0, len(lasts), k)]
    return first, last


def emails(first: np.ndarray, last: np.ndarray, domains: np.ndarray) -> np.ndarray:
    """Return ``voornaam.achternaam@domain`` addresses, numbered where two people share one."""
    keys = pd.Series(first.astype(str)) + "|" + pd.Series(last.astype(str))
    uniques, inverse = np.unique(keys.to_numpy(dtype=str), return_inverse=True)
    folded = np.array([".".join(ascii_fold(part) for part in key.split("|", 1)) for key in uniques], dtype=object)
    user = pd.Series(folded[inverse])
    domain = pd.Series(domains.astype(str))
    rank = (user + "@" + domain).groupby(user + "@" + domain).cumcount()
    numbered = user + rank.astype(str).where(rank > 0, "") + "@" + domain
    return numbered.to_numpy(dtype=object)


def pick(rng: np.random.Generator, texts: np.ndarray, n: int, rate: float) -> np.ndarray:
    """Return ``n`` texts, each present with probability ``rate`` (else the empty string)."""
    chosen = texts[rng.integers(0, len(texts), n)].astype(object)
    chosen[rng.random(n) >= rate] = ""
    return chosen


PII_NAME = (
    "Inbreng van {name}; de groep dacht mee over een lastige situatie op de afdeling.",
    "Fijn dat {name} er weer bij was, dat maakte het gesprek opener.",
    "{name} heeft een casus ingebracht die veel losmaakte.",
)
PII_EMAIL = (
    "Neem gerust contact met me op via {email} als er vragen zijn.",
    "Stuur de resultaten graag naar {email}.",
)


def pii_text(kind: str, name: str, email: str, choice: int) -> str:
    """Return a free-text answer that leaks a name or an e-mail address (a planted defect).

    ``choice`` picks one of the phrasings (any integer; taken modulo their number).
    """
    if kind == "email":
        return PII_EMAIL[choice % len(PII_EMAIL)].format(email=email)
    return PII_NAME[choice % len(PII_NAME)].format(name=name)
