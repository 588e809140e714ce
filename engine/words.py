"""What the engine calls things where people read them: German labels that are the msgids of
the web's catalogue, and a Gremium's name in the genitive.

The engine knows no Flask and no request language. A label it names is German and marked
with :func:`N_` (``pybabel extract`` reads ``engine/`` for ``N_`` and ``_``, see ``babel.cfg``);
the web translates it with its ``gettext`` when it shows it. A function that composes words
(the history's descriptions) takes the translation as an argument, :class:`Translate`, and
runs in German (:func:`german`) where no page asks for another language (exports, mails).
"""

from __future__ import annotations

import re
from typing import Any, Protocol


def N_(string: str) -> str:  # noqa: N802 - the name pybabel looks for
    """Mark a German label for the catalogue; translated where it is shown."""
    return string


class Translate(Protocol):
    def __call__(self, string: str, **variables: Any) -> str: ...


def german(string: str, **variables: Any) -> str:
    """The identity translation: the msgid itself, its ``%(name)s`` filled in."""
    return string % variables if variables else string


# ----------------------------------------------------------------------------- genitive

#: The head noun's ending → its genitive ending and article, for the words a Gremium is
#: called by (checked in this order: the longest first where one ends another).
_HEADS: tuple[tuple[str, str, str], ...] = (
    # feminine: the noun stays, "der"
    ("versammlung", "versammlung", "der"), ("vertretung", "vertretung", "der"),
    ("kommission", "kommission", "der"), ("konferenz", "konferenz", "der"),
    ("gruppe", "gruppe", "der"), ("fraktion", "fraktion", "der"), ("schaft", "schaft", "der"),
    ("kammer", "kammer", "der"), ("runde", "runde", "der"), ("deputation", "deputation", "der"),
    # masculine and neuter: "des", the noun takes -(e)s
    ("ausschuss", "ausschusses", "des"), ("magistrat", "magistrats", "des"), ("senat", "senats", "des"),
    ("beirat", "beirates", "des"), ("rat", "rates", "des"), ("tag", "tages", "des"),
    ("vorstand", "vorstandes", "des"), ("verband", "verbandes", "des"), ("kreis", "kreises", "des"),
    ("gremium", "gremiums", "des"), ("präsidium", "präsidiums", "des"), ("kuratorium", "kuratoriums", "des"),
    ("kollegium", "kollegiums", "des"), ("komitee", "komitees", "des"),
)
#: Words that may stand before the head noun ("Haupt- und Finanzausschuss").
_LEADING = re.compile(r"^(?:\S+-|und|sowie|oder)$")


def genitive(name: str) -> str:
    """A Gremium's name with article in the genitive, as in "die Sitzung des Ausschusses für
    Umwelt", derived from its head noun: "Ausschuss für …" → "des Ausschusses für …",
    "Verbandsversammlung …" → "der Verbandsversammlung …", "Rat" → "des Rates", "Kreistag" →
    "des Kreistages", "Haupt- und Finanzausschuss" → "des Haupt- und Finanzausschusses".

    A name whose head noun is not known (or that starts with an adjective: "Gemeinsamer
    Ausschuss") is quoted after a noun that always fits: "des Gremiums „…“". The result is the
    default of ``Organization.name_genitive``, which the Verwaltung can correct."""
    name = " ".join(name.split())
    words = name.split(" ")
    for index, word in enumerate(words):
        bare = word.rstrip(",;:")
        found = _head(bare)
        if found is not None:
            article, inflected = found
            return " ".join([article, *words[:index], inflected + word[len(bare):], *words[index + 1:]])
        if not _LEADING.match(word):
            break
    return f"des Gremiums „{name}“" if name else ""


def _head(word: str) -> tuple[str, str] | None:
    lower = word.lower()
    for ending, inflected, article in _HEADS:
        if lower.endswith(ending) and word[:1].isupper():
            stem = word[: len(word) - len(ending)]
            tail = inflected if word[len(stem):][:1].islower() else inflected[:1].upper() + inflected[1:]
            return article, stem + tail
    return None
