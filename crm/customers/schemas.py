"""Input validation and normalisation for the customer core (marshmallow).

Error messages are what users see; the mutation base class maps a missing
field to REQUIRED and every other marshmallow error to INVALID.
"""
from __future__ import annotations

import re
import zoneinfo
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

import phonenumbers
from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load

from crm.db import utcnow
from crm.enums import Channel, LifecycleStage

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LANGUAGE_RE = re.compile(r"^[A-Za-z]{2,3}$")
SUBTAG_RE = re.compile(r"^[A-Za-z0-9]{2,8}$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
MAX_AMOUNT = Decimal("100000000000")  # one order; leaves room for sums in the Money column
# As for interactions: the rules look back a year or more from an order, which must stay a real date.
EARLIEST_ORDER = datetime(1900, 1, 1, tzinfo=timezone.utc)
# As for interactions (journeys.interactions.services.FUTURE_TOLERANCE): an order has happened; this much covers a
# shop's clock running ahead of ours.
FUTURE_TOLERANCE = timedelta(minutes=5)
# IANA zone names: available_timezones() also lists other files of the system's zoneinfo directory, such as
# "localtime" (a link to the machine's own zone) and "posixrules".
IANA_TIMEZONES = frozenset(zoneinfo.available_timezones() - {"localtime", "posixrules"})
_TIMEZONES = IANA_TIMEZONES


def normalise_email(value: str) -> str:
    email = value.strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 320:
        raise ValidationError("Enter a valid email address.")
    return email


def normalise_phone(value: str) -> str:
    raw = value.strip()
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        raise ValidationError("Enter a phone number in international format, e.g. +44 20 7946 0958.") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("This phone number is not valid.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_external_id(value: str) -> str:
    external_id = value.strip()
    if len(external_id) > 200:  # the column's width: longer is a database error, not a refusal
        raise ValidationError("At most 200 characters.")
    return external_id


def validate_timezone(value: str) -> str:
    if value not in _TIMEZONES:
        raise ValidationError(f"'{value}' is not an IANA time zone name, e.g. Europe/London.")
    return value


def normalise_locale(value: str) -> str:
    """BCP 47 casing: language lower, script title, region upper ('en_gb' -> 'en-GB')."""
    head, *rest = value.strip().replace("_", "-").split("-")
    if not LANGUAGE_RE.match(head) or not all(SUBTAG_RE.match(part) for part in rest):
        raise ValidationError("Enter a locale such as 'en' or 'en-GB'.")
    cased = [part.upper() if len(part) == 2 else part.title() if len(part) == 4 else part for part in rest]
    return "-".join([head.lower(), *cased])


class _Normalised(fields.String):
    """A string field that trims and then runs a normaliser; blank means null."""

    def __init__(self, normaliser, **kwargs):
        super().__init__(allow_none=True, **kwargs)
        self.normaliser = normaliser

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if text is None or not text.strip():
            return None
        return self.normaliser(text)


class _Name(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        text = text.strip() if text else text
        if text and len(text) > 200:
            raise ValidationError("At most 200 characters.")
        return text or None


class _Attributes(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("Attributes must be a JSON object.")
        for key in value:
            if not isinstance(key, str) or not key or len(key) > 100:
                raise ValidationError("Attribute keys are non-empty strings of at most 100 characters.")
        return value


class CustomerUpdateSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    email = _Normalised(normalise_email)
    phone = _Normalised(normalise_phone)
    first_name = _Name(allow_none=True, data_key="firstName")
    last_name = _Name(allow_none=True, data_key="lastName")
    birthday = fields.Date(allow_none=True)
    timezone = fields.String(validate=validate_timezone, allow_none=True)  # null: the default zone
    locale = _Normalised(normalise_locale)
    attributes = _Attributes()


class CustomerCreateSchema(CustomerUpdateSchema):
    external_id = _Normalised(normalise_external_id, data_key="externalId")
    lifecycle_stage = fields.Enum(LifecycleStage, data_key="lifecycleStage")



class OrderRecordSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    external_id = fields.String(required=True, data_key="externalId")
    amount = fields.Raw(required=True)
    currency = fields.String(required=True)
    channel = fields.Enum(Channel, required=True)
    occurred_at = fields.AwareDateTime(required=True, data_key="occurredAt", default_timezone=None)
    items = fields.Raw(allow_none=True, load_default=list)

    @post_load
    def _normalise(self, data, **kwargs):
        external_id = data["external_id"].strip()
        if not external_id or len(external_id) > 200:
            raise ValidationError("An order needs an externalId of 1 to 200 characters.", "externalId")
        data["external_id"] = external_id
        try:
            amount = Decimal(str(data["amount"]))
        except (InvalidOperation, ValueError):
            raise ValidationError("Amount must be a decimal number.", "amount") from None
        if not amount.is_finite() or amount < 0:
            raise ValidationError("Amount must be zero or more.", "amount")
        if amount >= MAX_AMOUNT:  # first: quantizing a huge amount overflows the decimal context
            raise ValidationError(f"Amount must be below {MAX_AMOUNT:,}.", "amount")
        if amount != amount.quantize(Decimal("0.0001")):
            raise ValidationError("Amount has at most 4 decimal places.", "amount")
        data["amount"] = amount
        if data["occurred_at"] < EARLIEST_ORDER:
            raise ValidationError("occurredAt is before 1900.", "occurredAt")
        if data["occurred_at"] > utcnow() + FUTURE_TOLERANCE:
            raise ValidationError("occurredAt is in the future (more than 5 minutes ahead of now).", "occurredAt")
        currency = data["currency"].strip().upper()
        if not CURRENCY_RE.match(currency):
            raise ValidationError("Currency is a three-letter ISO 4217 code, e.g. EUR.", "currency")
        data["currency"] = currency
        items = data.get("items")
        if items is None:
            data["items"] = []
        elif not isinstance(items, list):
            raise ValidationError("Items must be a JSON list.", "items")
        return data
