"""Query protection: size, depth, aliases, fragments, cost, text, introspection and suggestions.

``limit_errors`` measures a document before graphql-core validates it: graphql-core gives up on
documents that are too large or nest fragments too deeply for its recursion ("Validation
aborted."), and the client should learn which limit the document broke instead. ``cost_errors`` measures
after validation: the cost needs the schema (which fields are connections) and the request's variables.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from graphql import GraphQLError, ValidationRule, get_named_type, specified_rules
from graphql.language import (
    SKIP, FieldNode, FragmentDefinitionNode, FragmentSpreadNode, InlineFragmentNode, IntValueNode,
    OperationDefinitionNode, SelectionSetNode, VariableNode,
)
from graphql.type import SchemaMetaFieldDef, TypeMetaFieldDef, TypeNameMetaFieldDef
from graphql.validation import NoSchemaIntrospectionCustomRule

from crm.api.body import unstorable
from crm.enums import STAFF_ROLES


@dataclass(frozen=True)
class Shape:
    """What an operation or fragment costs, fragment spreads expanded.

    ``depth``: fields nested below (introspection fields, ``__schema`` and ``__type``, add none, as in
    graphene's depth limit: GraphiQL's introspection query is deeper than 10, and graphql-core's
    MaxIntrospectionDepthRule bounds it instead); ``aliases``: counted once per spread;
    ``fragment_depth``: the longest chain of spreads within spreads."""

    depth: int = 0
    aliases: int = 0
    fragment_depth: int = 0


EMPTY = Shape()


def _spreads(selection_set: SelectionSetNode) -> list[str]:
    """Names of the fragments spread anywhere inside ``selection_set``."""
    names, pending = [], [selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                names.append(selection.name.value)
            elif selection.selection_set is not None:
                pending.append(selection.selection_set)
    return names


def _shape(selection_set: SelectionSetNode, fragments: dict[str, Shape]) -> Shape:
    """Recursion here follows the document's own nesting, which the parser bounds; spreads are looked up."""
    depth = aliases = fragment_depth = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            inner = EMPTY if selection.selection_set is None else _shape(selection.selection_set, fragments)
            sub_depth = 0
            if selection.selection_set is not None and not selection.name.value.startswith("__"):
                sub_depth = inner.depth + 1
            sub = Shape(sub_depth, inner.aliases + (selection.alias is not None), inner.fragment_depth)
        elif isinstance(selection, InlineFragmentNode):
            sub = _shape(selection.selection_set, fragments)
        else:  # an unknown fragment, or one closing a cycle, counts as empty: the specified rules report both
            spread = fragments.get(selection.name.value, EMPTY)
            sub = Shape(spread.depth, spread.aliases, spread.fragment_depth + 1)
        depth, aliases = max(depth, sub.depth), aliases + sub.aliases
        fragment_depth = max(fragment_depth, sub.fragment_depth)
    return Shape(depth, aliases, fragment_depth)


def fragment_order(definitions: dict[str, FragmentDefinitionNode]) -> list[str]:
    """Every fragment's name, each after those it spreads, so that measuring them in this order measures each
    once (a "fragment bomb", each spreading the next twice, costs linear time); walked without recursion (a
    chain of 500 fragments). A spread closing a cycle is left out of the order of its spreader."""
    order: list[str] = []
    done: set[str] = set()
    spreads = {name: _spreads(d.selection_set) for name, d in definitions.items()}
    for root in definitions:
        if root in done:
            continue
        path, on_path = [(root, iter(spreads[root]))], {root}
        while path:
            name, pending = path[-1]
            for child in pending:
                if child in definitions and child not in done and child not in on_path:
                    path.append((child, iter(spreads[child])))
                    on_path.add(child)
                    break
            else:
                path.pop()
                on_path.discard(name)
                done.add(name)
                order.append(name)
    return order


def fragment_shapes(definitions: dict[str, FragmentDefinitionNode]) -> dict[str, Shape]:
    """The shape of every fragment, each measured once (``fragment_order``)."""
    shapes: dict[str, Shape] = {}
    for name in fragment_order(definitions):
        shapes[name] = _shape(definitions[name].selection_set, shapes)
    return shapes


def _field_count(document) -> int:
    """Field selections written in the document (each written once, however often it is spread)."""
    count, pending = 0, [d.selection_set for d in document.definitions if getattr(d, "selection_set", None)]
    while pending:
        for selection in pending.pop().selections:
            count += isinstance(selection, FieldNode)
            if getattr(selection, "selection_set", None) is not None:
                pending.append(selection.selection_set)
    return count


def limit_errors(document, config) -> list[GraphQLError]:
    """The limits ``document`` breaks, each error naming its limit; [] when it is within all of them."""
    max_fields = int(config["GRAPHQL_MAX_FIELDS"])
    fields = _field_count(document)
    if fields > max_fields:
        # First and alone: the other measures are linear, but graphql-core's validation is not.
        return [GraphQLError(f"Field limit: the document selects {fields} fields; at most {max_fields} are allowed.",
                             extensions={"code": "FIELD_LIMIT"})]
    fragments = fragment_shapes({d.name.value: d for d in document.definitions
                                 if isinstance(d, FragmentDefinitionNode)})
    errors = []
    max_depth, max_aliases = int(config["GRAPHQL_MAX_DEPTH"]), int(config["GRAPHQL_MAX_ALIASES"])
    max_fragment_depth = int(config["GRAPHQL_MAX_FRAGMENT_DEPTH"])
    for operation in (d for d in document.definitions if isinstance(d, OperationDefinitionNode)):
        shape = _shape(operation.selection_set, fragments)
        if shape.fragment_depth > max_fragment_depth:
            errors.append(GraphQLError(
                f"Fragment limit: this query nests fragment spreads {shape.fragment_depth} levels deep; "
                f"at most {max_fragment_depth} are allowed.", operation, extensions={"code": "FRAGMENT_LIMIT"}))
        if shape.depth > max_depth:
            errors.append(GraphQLError(
                f"Depth limit: this query nests {shape.depth} levels deep; at most {max_depth} are allowed.",
                operation, extensions={"code": "DEPTH_LIMIT"}))
        if shape.aliases > max_aliases:
            errors.append(GraphQLError(f"Alias limit: this query uses more than {max_aliases} aliases.",
                                       operation, extensions={"code": "ALIAS_LIMIT"}))
    return errors


class _Cost:
    """What one operation costs: every field selected costs 1; a connection (a field with a ``first`` argument,
    or whose type is a ``...Connection`` with ``edges``) multiplies the cost of its selection by the page it
    asks for: ``first`` as written, or the variable's value in the request, or the variable's default, else
    GRAPHQL_DEFAULT_PAGE_SIZE, kept within 1..GRAPHQL_MAX_PAGE_SIZE (the resolver serves no more, and refuses
    what is outside). Introspection fields cost 1 each like any field and multiply nothing. Every field
    written counts, also one written twice, both sides of @skip/@include and inline fragments on types that
    exclude each other: an upper bound, known before anything runs."""

    def __init__(self, schema, operation: OperationDefinitionNode, variables: dict, config):
        self.schema = schema
        self.variables = variables
        self.defaults = {d.variable.name.value: d.default_value for d in operation.variable_definitions or ()}
        self.maximum = int(config["GRAPHQL_MAX_PAGE_SIZE"])
        self.default = min(int(config["GRAPHQL_DEFAULT_PAGE_SIZE"]), self.maximum)
        self.fragments: dict[str, int] = {}

    def field(self, parent, name: str):
        if name == "__typename":
            return TypeNameMetaFieldDef
        if name == "__schema":
            return SchemaMetaFieldDef
        if name == "__type":
            return TypeMetaFieldDef
        return getattr(parent, "fields", {}).get(name)

    def first(self, node: FieldNode) -> int:
        value = next((a.value for a in node.arguments or () if a.name.value == "first"), None)
        if isinstance(value, VariableNode):
            name = value.name.value
            value = self.variables[name] if name in self.variables else self.defaults.get(name)
        if isinstance(value, IntValueNode):
            value = int(value.value)
        if not isinstance(value, int) or isinstance(value, bool):  # absent, null: the default page
            return self.default
        return min(max(value, 1), self.maximum)

    def multiplier(self, node: FieldNode, definition, named) -> int:
        connection = "first" in definition.args or (
            named.name.endswith("Connection") and "edges" in getattr(named, "fields", {}))
        return self.first(node) if connection else 1

    def selection_set(self, selection_set: SelectionSetNode, parent, spread: set[str] | None = None) -> int:
        """Recursion here follows the document's own nesting, which the parser bounds; spreads are looked up.
        A fragment spread again in one selection set (inline fragments included) counts once: execution
        collects it once."""
        cost, spread = 0, set() if spread is None else spread
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                definition = self.field(parent, selection.name.value)
                cost += 1
                if selection.selection_set is not None and definition is not None:
                    named = get_named_type(definition.type)
                    cost += self.multiplier(selection, definition, named) * self.selection_set(
                        selection.selection_set, named)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                cost += self.selection_set(selection.selection_set,
                                           self.schema.get_type(condition.name.value) if condition else parent, spread)
            elif selection.name.value not in spread:
                spread.add(selection.name.value)
                cost += self.fragments.get(selection.name.value, 0)
        return cost


def selected_operation(document, operation_name: str | None) -> OperationDefinitionNode | None:
    """The operation a request runs, as graphql-core's execute picks it; None when it cannot pick one (it
    then answers with the error)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name is not None and o.name.value == operation_name), None)


def query_cost(schema, document, variables: dict, operation_name: str | None, config) -> int | None:
    """The cost of the operation a request runs (``_Cost``), for a document valid against ``schema``; each
    fragment measured once, in ``fragment_order``. None when no operation would run."""
    operation = selected_operation(document, operation_name)
    if operation is None:
        return None
    measure = _Cost(schema, operation, variables, config)
    definitions = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    for name in fragment_order(definitions):
        fragment = definitions[name]
        measure.fragments[name] = measure.selection_set(fragment.selection_set,
                                                        schema.get_type(fragment.type_condition.name.value))
    return measure.selection_set(operation.selection_set, schema.get_root_type(operation.operation))


def cost_errors(schema, document, variables: dict, operation_name: str | None, config) -> tuple[int | None, list]:
    """(the cost, [the COST_LIMIT error] or []): measured after validation, with the request's variables,
    since a connection's page is often a variable."""
    cost = query_cost(schema, document, variables, operation_name, config)
    limit = int(config["GRAPHQL_MAX_COST"])
    if cost is None or cost <= limit:
        return cost, []
    operation = selected_operation(document, operation_name)
    return cost, [GraphQLError(f"Cost limit: this query costs {cost}; at most {limit} are allowed.", operation,
                               extensions={"code": "COST_LIMIT", "cost": cost, "limit": limit})]


def limits_rule(config):
    class LimitsRule(ValidationRule):
        """``limit_errors`` as a rule, so that ``validation_rules`` holds every check the server makes (the
        example operations are validated with it). The server also measures on its own, before validating:
        graphql-core may abort before a rule reports. Measuring twice is cheap: it is linear."""

        def enter_document(self, node, *_args):
            for error in limit_errors(node, config):
                self.report_error(error)
            return SKIP

    return LimitsRule


class StorableStringsRule(ValidationRule):
    """A string literal may not hold a NUL or a lone surrogate, written as an escape ("a\\u0000b"): the
    transport refuses them in the body's JSON, and this is the same refusal for the document's own text."""

    def enter_string_value(self, node, *_args):
        problem = unstorable(node.value)
        if problem:
            self.report_error(GraphQLError(problem, node, extensions={"code": "BAD_REQUEST"}))


def introspection_allowed(config, role=None) -> bool:
    """Development: for everyone. Production: only where GraphiQL is switched on (CRM_GRAPHIQL=true), and then for
    staff tokens, who use it: GraphiQL is a blank editor without the schema. PORTAL and INTEGRATION tokens, and a
    request without one, never learn the schema in production."""
    return not config["PRODUCTION"] or (config["GRAPHIQL"] is True and role in STAFF_ROLES)


def validation_rules(config, role=None) -> list:
    """The rules the server validates with for a viewer of ``role``: the specified ones, its limits, its text
    rule, and no introspection where ``introspection_allowed`` says so."""
    rules = [limits_rule(config), *specified_rules, StorableStringsRule]
    if not introspection_allowed(config, role):
        rules.append(NoSchemaIntrospectionCustomRule)
    return rules


_SUGGESTION = re.compile(r"\s*Did you mean .*\?$")


def strip_suggestion(message: str) -> str:
    """Field suggestions leak the schema when introspection is off."""
    return _SUGGESTION.sub("", message)
