"""Query protection: depth, aliases, document size, introspection and suggestions."""
from __future__ import annotations

import re

from graphql import GraphQLError, ValidationRule, specified_rules
from graphql.language import SKIP, FieldNode, FragmentDefinitionNode, InlineFragmentNode, SelectionSetNode
from graphql.validation import NoSchemaIntrospectionCustomRule


class _Shape:
    """Depth and alias count of an operation, with every fragment spread expanded.

    Each fragment is measured once (memoised), so a "fragment bomb" (fragments that spread
    the next one twice, 30 deep) costs linear time; an unknown fragment or a spread that
    closes a cycle counts as empty, because the specified rules already report both.
    Introspection fields (``__schema``, ``__type``) add no depth, as in graphene's depth
    limit (GraphiQL's introspection query is deeper than 10): graphql-core's
    MaxIntrospectionDepthRule bounds them instead.
    """

    def __init__(self, document):
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.memo: dict[str, tuple[int, int]] = {}
        self.active: set[str] = set()

    def fragment(self, name: str) -> tuple[int, int]:
        if name in self.memo:
            return self.memo[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.active:
            return 0, 0
        self.active.add(name)
        try:
            shape = self.selection_set(definition.selection_set)
        finally:
            self.active.discard(name)
        self.memo[name] = shape
        return shape

    def selection_set(self, selection_set: SelectionSetNode) -> tuple[int, int]:
        """(depth below this selection set, aliases in it)."""
        depth = aliases = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                sub_depth, sub_aliases = 0, 0
                if selection.selection_set is not None:
                    sub_depth, sub_aliases = self.selection_set(selection.selection_set)
                    sub_depth = 0 if selection.name.value.startswith("__") else sub_depth + 1
                sub_aliases += selection.alias is not None
            elif isinstance(selection, InlineFragmentNode):
                sub_depth, sub_aliases = self.selection_set(selection.selection_set)
            else:
                sub_depth, sub_aliases = self.fragment(selection.name.value)
            depth = max(depth, sub_depth)
            aliases += sub_aliases
        return depth, aliases


def query_shape_rule(max_depth: int, max_aliases: int):
    class QueryShapeRule(ValidationRule):
        """Caps the depth and the aliases of each operation: both multiply the work of a single query.

        Works on entering each operation, after graphql-core has checked that fragments do not
        nest too deeply for recursion (its guard runs first on every node)."""

        def __init__(self, context):
            super().__init__(context)
            self.shape = _Shape(context.document)

        def enter_operation_definition(self, node, *_args):
            depth, aliases = self.shape.selection_set(node.selection_set)
            if depth > max_depth:
                self.report_error(GraphQLError(
                    f"Depth limit: this query nests {depth} levels deep; at most {max_depth} are allowed.",
                    node, extensions={"code": "DEPTH_LIMIT"}))
            if aliases > max_aliases:
                self.report_error(GraphQLError(
                    f"Alias limit: this query uses more than {max_aliases} aliases.",
                    node, extensions={"code": "ALIAS_LIMIT"}))
            return SKIP

    return QueryShapeRule


def validation_rules(config) -> list:
    rules = list(specified_rules)
    rules.append(query_shape_rule(int(config["GRAPHQL_MAX_DEPTH"]), int(config["GRAPHQL_MAX_ALIASES"])))
    if config["PRODUCTION"]:
        rules.append(NoSchemaIntrospectionCustomRule)
    return rules


_SUGGESTION = re.compile(r"\s*Did you mean .*\?$")


def strip_suggestion(message: str) -> str:
    """Field suggestions leak the schema when introspection is off."""
    return _SUGGESTION.sub("", message)
