"""The pages' words in each language: the frame's here, each domain's added by ``add_strings`` from its pages
module. A customer's locale picks the language ("de-CH" -> "de"); any other gets English. Every key is in every
language (``missing_strings``, checked by tests/platform/test_pages.py)."""
from __future__ import annotations

from crm.values import language_of

LANGUAGES = ("en", "de")

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "site.title": "Customer care",
        "refused.invalid.title": "This link does not work",
        "refused.invalid.body": "The link may have been cut off or changed. Please open it again from the message "
                                "we sent you, or contact us and we will help.",
        "refused.expired.title": "This link has expired",
        "refused.expired.body": "For your security our links work for a limited time. Please use the link in a "
                                "newer message, or contact us and we will help.",
        "refused.used.title": "This link has already been used",
        "refused.used.body": "Nothing more needs doing here. Thank you.",
    },
    "de": {
        "site.title": "Kundenservice",
        "refused.invalid.title": "Dieser Link funktioniert nicht",
        "refused.invalid.body": "Der Link wurde vielleicht abgeschnitten oder verändert. Bitte öffnen Sie ihn noch "
                                "einmal aus unserer Nachricht, oder schreiben Sie uns – wir helfen gern.",
        "refused.expired.title": "Dieser Link ist abgelaufen",
        "refused.expired.body": "Zu Ihrer Sicherheit gelten unsere Links nur eine Zeit lang. Bitte nutzen Sie den "
                                "Link aus einer neueren Nachricht, oder schreiben Sie uns – wir helfen gern.",
        "refused.used.title": "Dieser Link wurde schon verwendet",
        "refused.used.body": "Hier ist nichts mehr zu tun. Vielen Dank.",
    },
}


def add_strings(strings: dict[str, dict[str, str]]) -> None:
    """A domain's page words, per language; a key may not be defined twice."""
    for language, entries in strings.items():
        if language not in LANGUAGES:
            raise ValueError(f"pages are written in {', '.join(LANGUAGES)}, not {language!r}")
        # The same words again are fine: every app made in one process registers its domains' pages.
        taken = {key for key, text in entries.items() if STRINGS[language].get(key, text) != text}
        if taken:
            raise ValueError(f"page strings defined twice: {', '.join(sorted(taken))}")
        STRINGS[language].update(entries)


def choose_locale(locale: str | None) -> str:
    return language_of(locale, LANGUAGES, LANGUAGES[0])


def translate(language: str, key: str, **values) -> str:
    text = STRINGS.get(language, {}).get(key) or STRINGS[LANGUAGES[0]][key]
    return text.format(**values) if values else text


def missing_strings() -> dict[str, set[str]]:
    """Keys some language lacks, per language."""
    every = set().union(*(entries.keys() for entries in STRINGS.values()))
    return {language: every - STRINGS[language].keys() for language in LANGUAGES if every - STRINGS[language].keys()}
