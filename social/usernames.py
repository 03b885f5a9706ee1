"""One normalisation of usernames, for uniqueness, log-in and the login limit's key.

``username_key(name)``: stripped, NFKC (a full-width ``alice`` is ``alice``), case-folded
(``Alice`` is ``alice``, ``STRASSE`` is ``strasse``), and letters of Cyrillic and Greek that
look like Latin ones mapped to them, so ``alice`` spelled in Cyrillic letters collides with
``alice``.
Two names with one key are one account: the key is unique in the database
(``User.username_key``), log-in looks people up by it, and the login limit counts it.

``mixed_script(name)``: a name mixing scripts (Latin ``alice`` with one Cyrillic ``a``) is
refused at sign-up, as UTS #39's "highly restrictive" level does; Latin with Han and
Hiragana/Katakana, Hangul or Bopomofo (how Japanese, Korean and Chinese names are written)
stay allowed.

Why a small explicit check rather than a library: ``confusable-homoglyphs`` (PyPI, 3.3.1 of
2024-01, used by django-registration) does the mixed-script check with the Unicode data
files, but it is not in this project's lock and would be a new dependency for one check;
the script of a letter is the first word of its Unicode name, which the standard library
has. The confusables table
below covers the Cyrillic and Greek letters that render as Latin ones in common fonts; it is
not UTS #39's full skeleton (which also maps ``1``/``l``/``I`` and would merge ``user1`` with
``userl``).
"""

from __future__ import annotations

import unicodedata

# Cyrillic and Greek lower-case letters (after case-folding) drawn like a Latin letter.
_CONFUSABLES = str.maketrans(
    "\u0430\u0432\u0435\u043a\u043c\u043d\u043e\u0440\u0441\u0442"  # Cyrillic: abekmhopct
    "\u0443\u0445\u0456\u0458\u0455\u0501\u04bb\u051b\u051d\u04cf"  # yxijsdhqwl
    "\u03b1\u03b2\u03b5\u03b9\u03ba\u03bd\u03bf\u03c1\u03c4\u03c5\u03c7\u03c9",  # Greek
    "abekmhopctyxijsdhqwlabeikvoptuxw",
)

# Scripts that may be mixed in one name (UTS #39 "highly restrictive"), besides Common.
_ALLOWED_MIXES = (
    {"LATIN", "CJK", "HIRAGANA", "KATAKANA"},
    {"LATIN", "CJK", "HANGUL"},
    {"LATIN", "CJK", "BOPOMOFO"},
)


def username_key(name: str) -> str:
    """The identity of a username: two names with one key are the same account."""
    folded = unicodedata.normalize("NFKC", name.strip()).casefold()
    return unicodedata.normalize("NFKC", folded).translate(_CONFUSABLES)


def _script(char: str) -> str | None:
    """The script of a letter (first word of its Unicode name); None for digits, marks and
    punctuation, which every script shares."""
    if not unicodedata.category(char).startswith("L"):
        return None
    first = unicodedata.name(char, "UNKNOWN").split()[0]
    return "KATAKANA" if first == "KATAKANA-HIRAGANA" else first


def mixed_script(name: str) -> bool:
    """Whether the name mixes scripts in a way no real name needs (a look-alike's trick)."""
    scripts = {s for s in map(_script, unicodedata.normalize("NFKC", name)) if s}
    return len(scripts) > 1 and not any(scripts <= allowed for allowed in _ALLOWED_MIXES)
