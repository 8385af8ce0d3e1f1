"""The permission table (crm/auth/permissions.py) is the one source of who may do what: every root field and
mutation declares a capability from it, the SDL and the README's role table are generated from it, and no
capability in it is dead."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphene.utils.str_converters import to_camel_case

from crm.api.permissions import requires_text
from crm.auth import permissions
from crm.auth.permissions import Capability, capabilities_of, has, markdown_table, roles_for, roles_without, with_table
from crm.enums import Role

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p for d in ("crm", "journeys", "loyalty") for p in (ROOT / d).rglob("*.py")]


def _root_fields(schema):
    for kind, root in (("Query", schema.query), ("Mutation", schema.mutation)):
        for name, field in root._meta.fields.items():
            yield kind, name, field


def test_every_root_field_declares_a_capability_and_says_so_in_the_sdl(app):
    schema = app.extensions["crm.schema"]
    graphql_roots = {"Query": schema.graphql_schema.query_type.fields,
                     "Mutation": schema.graphql_schema.mutation_type.fields}
    declared = {}
    for kind, name, field in _root_fields(schema):
        capability = getattr(field, "capability", None)
        assert isinstance(capability, Capability), f"{kind}.{name} declares no capability"
        description = graphql_roots[kind][to_camel_case(name)].description
        assert requires_text(capability) in description, f"{kind}.{name}: {description!r}"
        declared[f"{kind}.{to_camel_case(name)}"] = capability
    # every field of the built schema was walked: none is declared some other way
    assert set(declared) == {f"{k}.{n}" for k, fields in graphql_roots.items() for n in fields}
    assert declared["Query.node"] == Capability.NODES_READ
    assert declared["Mutation.campaignCreate"] == Capability.CAMPAIGNS_WRITE


def test_the_sdl_names_the_capability_and_its_roles(app):
    mutation = app.extensions["crm.schema"].graphql_schema.mutation_type.fields
    assert mutation["campaignCreate"].description == "Write a DRAFT campaign. Requires campaigns.write: ADMIN, MARKETER."
    query = app.extensions["crm.schema"].graphql_schema.query_type.fields
    assert query["customers"].description.endswith(
        "Filtering by segmentId requires segments.read: ADMIN, ACCOUNT_MANAGER, SUPPORT_AGENT, MARKETER.")


def test_the_readme_role_table_is_generated_from_the_table():
    readme = (ROOT / "README.md").read_text()
    assert with_table(readme) == readme, "run `crm permissions table --readme README.md` and commit the result"
    assert markdown_table() in readme


def test_the_table_command_prints_it_and_writes_it_into_a_readme(runner, tmp_path):
    printed = runner.invoke(args=["permissions", "table"])
    assert printed.exit_code == 0, printed.output
    assert printed.output == markdown_table()
    target = tmp_path / "README.md"
    target.write_text(f"# x\n\n{permissions.README_BEGIN}\n| stale |\n{permissions.README_END}\n\nafter\n")
    written = runner.invoke(args=["permissions", "table", "--readme", str(target)])
    assert written.exit_code == 0, written.output
    assert target.read_text() == f"# x\n\n{permissions.README_BEGIN}\n{markdown_table()}{permissions.README_END}\n\nafter\n"
    (tmp_path / "other.md").write_text("no markers\n")
    refused = runner.invoke(args=["permissions", "table", "--readme", str(tmp_path / "other.md")])
    assert refused.exit_code != 0 and "no permissions table markers" in refused.output


def test_each_capability_is_granted_once_to_known_roles_and_is_used():
    assert set(permissions.TABLE) == set(Capability)
    for capability in Capability:
        roles = permissions.TABLE[capability][0]
        assert roles and len(set(roles)) == len(roles) and all(isinstance(r, Role) for r in roles), capability
    code = "\n".join(p.read_text() for p in SOURCES if p != ROOT / "crm" / "auth" / "permissions.py")
    unused = [c.name for c in Capability if not re.search(rf"\bCapability\.{c.name}\b", code)]
    assert unused == [], "capabilities nothing checks"


def test_the_api():
    assert roles_for(Capability.CAMPAIGNS_READ) == (Role.ADMIN, Role.ACCOUNT_MANAGER, Role.MARKETER)  # Role order
    assert roles_for("campaigns.write") == (Role.ADMIN, Role.MARKETER)
    assert roles_without(Capability.CUSTOMERS_PII) == (Role.MARKETER,)
    assert has(Role.ADMIN, Capability.MESSAGES_TRANSACTIONAL) and not has(Role.ACCOUNT_MANAGER, "messages.transactional")
    assert not has(None, Capability.VIEWER_READ)
    assert Capability.CASES_WORK in capabilities_of(Role.SUPPORT_AGENT)
    assert Capability.CASES_WORK not in capabilities_of(Role.MARKETER)
    with pytest.raises(ValueError):
        roles_for("no.such")

