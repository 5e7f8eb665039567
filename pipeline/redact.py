"""What the quality tables may show of a raw value: a short code of the field's own kind, or its shape.

Anything may be typed into a cell of an export: a citizen service number (BSN) in an answer
cell, a phone number in a count, an e-mail address in a date column.  The issue table points
to the cell (file, row, column) so a researcher can look it up in ``data_raw/``; it copies
the value itself only when it is a short, valid-looking value of the field's kind (``7`` for
a 1-5 item, ``t5`` for a wave code, ``2024-03`` for a date).  Every other value is written as
``<redacted: KIND>``, where KIND comes from a small fixed vocabulary that describes the
value's shape, never its content:

============================  ===========================================================
``<redacted: identifier>``    any value of an ID column (participant, group, coach, session)
``<redacted: N digits>``      a whole number or a run of digits (a BSN is ``9 digits``)
``<redacted: number>``        a number with a fraction, an exponent, or a sign and digits
``<redacted: e-mail>``        text with an ``@`` between two words
``<redacted: phone number>``  digits written with ``+``, spaces, dashes or brackets
``<redacted: date>``          a date or time that is not a plain calendar date
``<redacted: word>``          one word of letters (a name, a typo, ``misschien``)
``<redacted: code>``          one token of letters and digits (an IBAN, a postcode)
``<redacted: text>``          anything else: several words, sentences, punctuation
``<redacted: value>``         a value that is not text or a number (a time, a boolean)
============================  ===========================================================

Column names get the same treatment: a name the study declared is shown as it is unless it
has the shape of personal data (an e-mail address, a phone number, a long run of digits).
"""

from __future__ import annotations

import math
import numbers
import re
from datetime import date, datetime, time

import numpy as np
import pandas as pd

#: the kinds of field a raw value can belong to, and how many digits a shown number may have
FIELD_KINDS = ("identifier", "item", "count", "number", "code", "date", "text")
MAX_DIGITS = {"item": 3, "count": 3, "number": 5}

_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_PHONE = re.compile(r"^[+(\d][\d\s().-]{7,}$")
_DIGITS = re.compile(r"^\d+$")
_SIGNED = re.compile(r"^[+-]?\d*[.,]?\d+(e[+-]?\d+)?$", re.I)
_WORD = re.compile(r"^[^\W\d_]+$")
_TOKEN = re.compile(r"^\w+$")
#: a short code (``t5``, ``12m``, ``wk3``, ``T1``): up to 3 letters, 1-3 digits, up to 4 letters
_CODE = re.compile(r"^[A-Za-z]{0,3}\d{1,3}[A-Za-z]{0,4}$")
#: a number with at most N digits before the decimal mark and 2 after it, per field kind
_SHORT_NUMBER = {kind: re.compile(rf"^[+-]?\d{{1,{n}}}([.,]\d{{1,2}})?$") for kind, n in MAX_DIGITS.items()}
#: a calendar date or a partial one: 2024, 2024-03, 2024-03-10, 10-03-2024, 10/3/24
_DATE = re.compile(r"^(\d{4}([-/.]\d{1,2}){0,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})$")
_DATETIME = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}[ T]\d{1,2}:\d{2}(:\d{2})?")
#: personal data in any column name, however it was declared
_SENSITIVE_DIGITS = re.compile(r"\d{6,}|\d(?:[\s.-]?\d){7,}")


def shape(value: object) -> str:
    """Return the kind of a value in the fixed vocabulary (see the module docstring)."""
    if isinstance(value, bool | np.bool_):
        return "value"
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isfinite(number) and number.is_integer():
            return f"{len(str(abs(int(number))))} digits"
        return "number"
    if isinstance(value, datetime | date | time | pd.Timestamp):
        return "date"
    if not isinstance(value, str):
        return "value"
    text = value.strip()
    if _EMAIL.search(text):
        return "e-mail"
    if _DIGITS.match(text):
        return f"{len(text)} digits"
    if _DATE.match(text) or _DATETIME.match(text):
        return "date"
    if _PHONE.match(text) and _digit_count(text) >= 8:
        return "phone number"
    if _SIGNED.match(text):
        return "number"
    if _WORD.match(text):
        return "word"
    if _TOKEN.match(text):
        return "code"
    return "text"


def redacted(kind: str) -> str:
    """Return the text that stands for a value of the given shape."""
    return f"<redacted: {kind}>"


def _as_text(value: object) -> str:
    if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
        number = float(value)
        if math.isfinite(number) and number.is_integer():
            return str(int(number))
        return repr(number)
    if isinstance(value, pd.Timestamp | datetime):
        stamp = pd.Timestamp(value)
        return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else stamp.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def show(value: object, field: str) -> str:
    """Return what the issue table shows of a raw ``value`` of a field of kind ``field``.

    ``field`` is one of :data:`FIELD_KINDS`: ``item`` (an answer code), ``count`` and
    ``number`` (bookkeeping numbers), ``code`` (a coded column: a wave, a consent word),
    ``date``, ``identifier`` (never shown) or ``text`` (never shown).  An empty value is
    shown as an empty string.
    """
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    if field == "identifier":
        return redacted("identifier")
    if isinstance(value, bool | np.bool_):
        return redacted("value")
    text = _as_text(value)
    if field in MAX_DIGITS:
        if isinstance(value, numbers.Real) and not math.isfinite(float(value)):
            return text  # inf, nan: not personal, and says what is wrong
        if _SHORT_NUMBER[field].match(text):
            return text
    elif field == "code":
        if _CODE.match(text):
            return text
    elif field == "date":
        if isinstance(value, datetime | date | pd.Timestamp) or _DATE.match(text) or _DATETIME.match(text):
            return text[:16]
    if isinstance(value, str) and value.strip().casefold() in {"inf", "-inf", "+inf", "infinity", "nan"}:
        return value.strip()
    return redacted(shape(value))


def safe_column(name: str) -> str:
    """Return a column name as the quality tables may show it: redacted when it has the shape of personal data."""
    text = str(name)
    if _EMAIL.search(text) or _SENSITIVE_DIGITS.search(text):
        return redacted(shape(text))
    return text


def _digit_count(text: str) -> int:
    return sum(c.isdigit() for c in text)
