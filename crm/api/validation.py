"""Query protection: depth, aliases, document size, introspection and suggestions."""
from __future__ import annotations

import re

from graphene.validation import depth_limit_validator
from graphql import GraphQLError, ValidationRule, specified_rules
from graphql.validation import NoSchemaIntrospectionCustomRule


def alias_limit_rule(max_aliases: int):
    class AliasLimitRule(ValidationRule):
        """Caps the aliases of one document: aliases multiply the work of a single query."""

        def __init__(self, context):
            super().__init__(context)
            self.count = 0
            self.reported = False

        def enter_field(self, node, *_args):
            if node.alias is not None:
                self.count += 1
                if self.count > max_aliases and not self.reported:
                    self.reported = True
                    self.report_error(GraphQLError(
                        f"Alias limit: this query uses more than {max_aliases} aliases.",
                        node, extensions={"code": "ALIAS_LIMIT"}))

    return AliasLimitRule


def validation_rules(config) -> list:
    rules = list(specified_rules)
    rules.append(depth_limit_validator(max_depth=int(config["GRAPHQL_MAX_DEPTH"])))
    rules.append(alias_limit_rule(int(config["GRAPHQL_MAX_ALIASES"])))
    if config["PRODUCTION"]:
        rules.append(NoSchemaIntrospectionCustomRule)
    return rules


_SUGGESTION = re.compile(r"\s*Did you mean .*\?$")


def strip_suggestion(message: str) -> str:
    """Field suggestions leak the schema when introspection is off."""
    return _SUGGESTION.sub("", message)
