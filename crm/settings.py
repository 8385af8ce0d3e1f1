"""A domain's settings as a frozen dataclass read from a config mapping, one field per key."""
from __future__ import annotations

import dataclasses
import typing
from collections import ChainMap
from collections.abc import Mapping
from decimal import Decimal
from typing import ClassVar

_CONVERT = {int: int, float: float, Decimal: lambda value: Decimal(str(value))}


class FromConfig:
    """Base of a settings dataclass: ``from_config(config)`` reads each field from the key ``prefix`` +
    FIELD_NAME (or the one ``keys`` names for it), converted to the field's type (int, float or Decimal).
    A key the config lacks comes from ``defaults``; with none, it is a KeyError."""

    prefix: ClassVar[str] = ""
    keys: ClassVar[Mapping[str, str]] = {}
    defaults: ClassVar[Mapping[str, object]] = {}

    @classmethod
    def from_config(cls, config: Mapping):
        config = ChainMap(config, cls.defaults)
        types = typing.get_type_hints(cls)
        return cls(**{f.name: _CONVERT[types[f.name]](config[cls.keys.get(f.name, cls.prefix + f.name.upper())])
                      for f in dataclasses.fields(cls)})
