"""The one mutation base class: its capability, domain and validation errors as data, rollback on failure."""
from __future__ import annotations

import inspect
import re

import graphene
from graphene.types.mutation import MutationOptions
from marshmallow import ValidationError

from crm.api.arguments import first_invalid
from crm.api.permissions import describe
from crm.auth.permissions import Capability, has
from crm.errors import DomainError, ErrorCode

MISSING_FIELD = "Missing data for required field."


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def validation_errors(exc: ValidationError, prefix: str | None = None) -> list[dict]:
    """Flatten marshmallow messages into {field, message, code}; a missing field is REQUIRED."""
    out: list[dict] = []

    def walk(messages, path):
        if isinstance(messages, dict):
            for key, value in messages.items():
                walk(value, path + ([] if key == "_schema" else [camel(str(key))]))
        elif isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages):
            for message in messages:
                field = ".".join(path) or None
                out.append({"field": field, "message": message,
                            "code": ErrorCode.REQUIRED if message == MISSING_FIELD else ErrorCode.INVALID})
        elif isinstance(messages, list):
            for index, value in enumerate(messages):
                walk(value, path + [str(index)])
        else:
            out.append({"field": ".".join(path) or None, "message": str(messages), "code": ErrorCode.INVALID})

    start = [prefix] if prefix else []
    if exc.field_name and exc.field_name != "_schema" and isinstance(exc.messages, list):
        start = start + [exc.field_name]
    walk(exc.messages, start)
    return out


class BaseMutationOptions(MutationOptions):
    capability: Capability | None = None


class BaseMutation(graphene.Mutation):
    """Subclasses declare their arguments, the payload they answer with (a type with ``errors``) and the
    capability they need (crm.auth.permissions), and implement ``perform(info, **arguments) -> payload``:

    - ``input_type = X``: the one argument ``input: X!``, or graphene's ``class Arguments`` for any others;
    - ``payload = P`` and ``capability = C`` (or ``Meta.output`` and ``Meta.capability``). Being plain class
      attributes they are inherited, which graphene's Meta is not: a family of mutations with one payload and
      capability states them once on an abstract base (``mutation_family``)."""

    class Meta:
        abstract = True

    input_type: type[graphene.InputObjectType] | None = None
    payload: type[graphene.ObjectType] | None = None  # the Meta.output of subclasses that name none
    capability: Capability | None = None  # the Meta.capability of subclasses that name none

    @classmethod
    def __init_subclass_with_meta__(cls, capability=None, description=None, _meta=None, **options):
        capability = capability or cls.capability
        if options.get("output") is None:
            options["output"] = cls.payload
        if cls.input_type is not None and options.get("arguments") is None and "Arguments" not in vars(cls):
            options["arguments"] = {"input": cls.input_type(required=True)}
        if capability is None:
            raise TypeError(f"{cls.__name__} declares no Meta.capability")
        if _meta is None:
            _meta = BaseMutationOptions(cls)
        _meta.capability = Capability(capability)
        doc = description or inspect.cleandoc(cls.__doc__ or "").replace("\n", " ") or None
        super().__init_subclass_with_meta__(_meta=_meta, description=describe(doc, _meta.capability), **options)

    @classmethod
    def Field(cls, *args, **kwargs):  # noqa: N802 (graphene's name)
        """Payloads are never null: failures are in ``errors``."""
        kwargs.setdefault("required", True)
        field = super().Field(*args, **kwargs)
        field.capability = cls._meta.capability  # declared on the field too, like PermissionField's
        return field

    # Whether payload errors name a field of the ``input`` argument from the argument ("input.sendAt")
    # or from inside it ("sendAt"); each domain's services chose one, and scalar errors follow it.
    errors_name_the_input_argument = True

    @classmethod
    def error_field(cls, path: list[str]) -> str:
        if path[0] == "input" and len(path) > 1 and not cls.errors_name_the_input_argument:
            path = path[1:]
        return ".".join(path)

    @classmethod
    def failure(cls, errors: list[dict]):
        return cls._meta.output(errors=errors)

    @classmethod
    def mutate(cls, root, info, **arguments):
        context = info.context
        if not has(context.viewer.role, cls._meta.capability):
            return cls.failure([{"field": None, "code": ErrorCode.FORBIDDEN,
                                 "message": f"The {context.viewer.role.value} role may not use {cls._meta.name}."}])
        refused = first_invalid(arguments)
        if refused:
            path, message = refused
            return cls.failure([{"field": cls.error_field(path), "message": message, "code": ErrorCode.INVALID}])
        try:
            return cls.perform(info, **arguments)
        except DomainError as exc:
            context.session.rollback()
            return cls.failure([{"field": exc.field, "message": exc.message, "code": exc.code}])
        except ValidationError as exc:
            context.session.rollback()
            return cls.failure(validation_errors(exc))

    @classmethod
    def perform(cls, info, **arguments):
        raise NotImplementedError


def mutation_family(name: str, payload: type[graphene.ObjectType], capability: Capability) -> type[BaseMutation]:
    """The abstract base of mutations that answer with ``payload`` and need ``capability`` (a member may
    name another ``capability``)."""
    return type(name, (BaseMutation,), {"payload": payload, "capability": capability,
                                        "Meta": type("Meta", (), {"abstract": True})})


def family_member(name: str, family: type[BaseMutation], doc: str, perform, arguments: dict,
                  **attributes) -> type[BaseMutation]:
    """A member of a ``mutation_family`` that differs from the others only in what it calls, in one statement:
    its GraphQL ``arguments`` (name -> graphene argument), ``perform(cls, info, **arguments)`` and class
    ``attributes`` (``capability``, ``errors_name_the_input_argument``)."""
    return type(name, (family,), {"__doc__": doc, "Arguments": type("Arguments", (), arguments),
                                  "perform": classmethod(perform), **attributes})


def root_mutations(name: str, *mutations: type[BaseMutation]) -> type[graphene.ObjectType]:
    """A domain's root mutation fields, each named after its class: CustomerCreate is customerCreate."""
    return type(name, (graphene.ObjectType,),
                {re.sub(r"(?<!^)(?=[A-Z])", "_", m.__name__).lower(): m.Field() for m in mutations})
