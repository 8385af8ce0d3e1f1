"""The refusals the GraphQL layer's building blocks promise when a domain declares something wrong: a free-text
error code, a mutation with no capability, a field added to another domain's type twice or over its own."""
from __future__ import annotations

import graphene
import pytest

from crm.api import extensions
from crm.api.mutations import BaseMutation
from crm.errors import DomainError, ErrorCode

HERE = __name__


class Target(graphene.ObjectType):
    class Meta:
        name = "GuardTarget"

    own = graphene.String()
    created_at = graphene.String()


class AddsExtra:
    extra = graphene.String()

    @staticmethod
    def resolve_extra(root, info):
        return "extra"


class AddsOwn:
    own = graphene.String()


@pytest.fixture
def registry(monkeypatch):
    """FIELDS and _ATTACHED for GuardTarget only, gone after the test."""
    monkeypatch.setitem(extensions.FIELDS, "GuardTarget", {})
    monkeypatch.setitem(extensions._ATTACHED, "GuardTarget", set())
    fields = dict(Target._meta.fields)
    yield extensions.FIELDS["GuardTarget"]
    Target._meta.fields.clear()
    Target._meta.fields.update(fields)


def test_a_domain_error_refuses_a_free_text_code():
    with pytest.raises(TypeError, match="^DomainError takes a member of an error-code enum, not 'NOT_FOUND'.$"):
        DomainError("NOT_FOUND", "No such thing.")
    assert DomainError(ErrorCode.NOT_FOUND, "No such thing.").code is ErrorCode.NOT_FOUND


def test_a_mutation_without_a_capability_is_refused_when_declared():
    with pytest.raises(TypeError, match="^Uncapable declares no Meta.capability$"):
        class Uncapable(BaseMutation):  # noqa: F841
            ok = graphene.Boolean()


def test_fields_go_before_the_named_field_and_attach_again_in_the_same_place(registry):
    extensions.register_fields("GuardTarget", "extra", f"{HERE}.AddsExtra")
    for _ in range(2):  # one schema per app: the second app attaches the same fields again
        extensions.attach_fields(Target, order=(), before="created_at")
        assert list(Target._meta.fields) == ["own", "extra", "created_at"]
    assert Target.resolve_extra(None, None) == "extra"


def test_a_field_added_twice_is_refused(registry):
    extensions.register_fields("GuardTarget", "one", f"{HERE}.AddsExtra")
    extensions.register_fields("GuardTarget", "two", f"{HERE}.AddsExtra")
    with pytest.raises(ValueError, match=r"^GuardTarget\.extra is added twice \(two\)$"):
        extensions.attach_fields(Target, order=("one", "two"), before="created_at")


def test_a_field_over_the_types_own_is_refused(registry):
    extensions.register_fields("GuardTarget", "own", f"{HERE}.AddsOwn")
    with pytest.raises(ValueError, match="^GuardTarget has its own own$"):
        extensions.attach_fields(Target, order=(), before="created_at")
