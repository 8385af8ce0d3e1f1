"""Contact details masked for the roles that may not see them (those without customers.pii, in
crm.auth.permissions): the masks, and text with every address and number in it masked. No GraphQL here:
services and templates use it too."""
from __future__ import annotations

import re
from typing import Iterable
from urllib.parse import quote, unquote

from crm.auth.permissions import Capability, has
from crm.enums import Role

# Rule fields (the segments language) that read contact details: masked roles may not select by them.
CONTACT_FIELDS = ("email", "phone")

# The lookbehind starts a match only where a run of local-part characters starts: without it, every
# position of a long run (a token, a base64 blob) is tried and scanned to its end, quadratic in its length.
_EMAIL_IN_TEXT = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# An address percent-encoded, as in a link (`{{ customer.email|urlencode }}`: ann.lee%2Bx%40example.com).
_ENCODED_EMAIL_IN_TEXT = re.compile(r"(?<![A-Za-z0-9._~%+\-])[A-Za-z0-9._~%+\-]+%40[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_PHONE_IN_TEXT = re.compile(r"\+[1-9](?:[ ().\-]?[0-9]){5,16}")


def masks_pii(role: Role | None) -> bool:
    """Whether ``role`` sees a customer's email and phone masked. Such a role can neither search nor look up
    by them, or it could recover the hidden values one character at a time; templates it writes render with
    the masked values; message text it reads has every address and number masked. No role (None) is the
    platform itself, which sees them."""
    return role is not None and not has(role, Capability.CUSTOMERS_PII)


def refuse_selection_by_contact(role: Role | None, used_fields: set[str], field: str) -> None:
    """A masked role may not select customers by contact details: counts and members of
    ``email starts_with "a"``, "ab", ... would spell a hidden address out."""
    from crm.errors import Forbidden

    if masks_pii(role) and used_fields & set(CONTACT_FIELDS):
        raise Forbidden(f"The {role.value} role sees contact details masked and cannot select customers by them.",
                        field)


def mask_email(email: str) -> str:
    """a***@example.com"""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str) -> str:
    """+44*******12: keep the country code and the last two digits."""
    import phonenumbers

    try:
        country_code = str(phonenumbers.parse(phone, None).country_code)
    except phonenumbers.NumberParseException:
        country_code = phone[1:3]
    head = "+" + country_code
    hidden = len(phone) - len(head) - 2
    return head + "*" * max(hidden, 0) + phone[-2:]


def _digits(phone: str) -> tuple[str, str] | None:
    """(country code, national number) of an E.164 number."""
    import phonenumbers

    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None
    return str(number.country_code), str(number.national_number)


def mask_text(text: str | None, *, emails: Iterable[str | None] = (), phones: Iterable[str | None] = ()) -> str | None:
    """``text`` with contact details masked: the given addresses and numbers wherever they appear (an
    address in any letter case; a number also without its +, or national with a leading 0, with or
    without separators), and anything else shaped like an email address or an international number."""
    if not text:
        return text
    for email in filter(None, emails):
        text = re.sub(re.escape(email), lambda _m, e=email: mask_email(e), text, flags=re.IGNORECASE)
    text = _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group(0)), text)
    text = _ENCODED_EMAIL_IN_TEXT.sub(lambda m: quote(mask_email(unquote(m.group(0))), safe="/"), text)
    text = _PHONE_IN_TEXT.sub(lambda m: mask_phone("+" + re.sub(r"\D", "", m.group(0))), text)
    for phone in filter(None, phones):
        parts = _digits(phone)
        if parts and len(parts[1]) >= 6:
            country, national = (r"[ ().\-]?".join(p) for p in parts)
            pattern = rf"(?<![\d*])(?:{country}[ ().\-]?|0)?{national}(?!\d)"
            text = re.sub(pattern, mask_phone(phone), text)
    return text
