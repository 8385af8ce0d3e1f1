"""Relay connections with totalCount, and the page-size limit every list enforces."""
from __future__ import annotations

import graphene
from graphene import relay
from graphql import GraphQLError

from crm.pagination import Page


def connection_type(node, name: str):
    """``<name>Connection`` with ``<name>Edge``: non-null edges and nodes, and totalCount."""
    edge = type(f"{name}Edge", (graphene.ObjectType,), {
        "cursor": graphene.String(required=True),
        "node": graphene.Field(graphene.NonNull(node)),
    })

    def resolve_edges(page: Page, info):
        return [{"cursor": cursor, "node": item} for cursor, item in zip(page.cursors, page.items)]

    def resolve_page_info(page: Page, info):
        return relay.PageInfo(
            has_next_page=page.has_next, has_previous_page=page.has_previous,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        )

    def resolve_total_count(page: Page, info):
        return page.count()

    return type(f"{name}Connection", (graphene.ObjectType,), {
        "edges": graphene.List(graphene.NonNull(edge), required=True),
        "page_info": graphene.Field(graphene.NonNull(relay.PageInfo)),
        "total_count": graphene.Int(required=True, description="All items matching, across every page."),
        "resolve_edges": staticmethod(resolve_edges),
        "resolve_page_info": staticmethod(resolve_page_info),
        "resolve_total_count": staticmethod(resolve_total_count),
    })


def page_size(info, first: int | None) -> int:
    """``first`` within the configured limit; the error names the limit."""
    config = info.context.config
    maximum = int(config["GRAPHQL_MAX_PAGE_SIZE"])
    if first is None:
        return min(int(config["GRAPHQL_DEFAULT_PAGE_SIZE"]), maximum)
    if not 1 <= first <= maximum:
        raise GraphQLError(f"Page size limit: `first` must be between 1 and {maximum}, got {first}.",
                           extensions={"code": "PAGE_SIZE_LIMIT"})
    return first


def empty_page() -> Page:
    return Page(items=[], cursors=[], has_next=False, has_previous=False, count=lambda: 0)
