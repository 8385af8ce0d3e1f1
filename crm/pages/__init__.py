"""The customer's own pages: server-rendered HTML a message links to, opened with a signed link (crm/links.py)
and no account. This package is the frame; each page lives with the domain it writes to and is registered from
that domain's ``init_app`` (journeys/service/pages.py: surveys; crm/messages/pages.py: unsubscribe;
crm/customers/pages.py: the preference centre and consent confirmation).

- ``page_blueprint(name, import_name)``: a domain's blueprint for its pages below ``/s/``;
- ``open_link(token, purpose)``: the link, or the friendly page saying why it does not open (``LinkPage``);
- ``render_page(template, locale=..., **context)``: a page in the base layout (``pages/base.html``) with the
  customer's language (``choose_locale``), strings from ``crm.pages.i18n``, and the pages' own headers: no
  script at all, forms posting to this origin only, nothing cached, never framed.
"""
from __future__ import annotations

from flask import Blueprint, current_app, make_response, render_template

from crm.links import Link, LinkProblem, LinkPurpose, LinkRefused, read_token
from crm.pages.i18n import LANGUAGES, choose_locale, translate

PAGE_HEADERS = {
    # No JavaScript anywhere: the pages work without it, and a page that runs none cannot be made to.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token is in the path: never sent on to another site
}

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
               static_url_path="/s/static")


def page_blueprint(name: str, import_name: str) -> Blueprint:
    """A domain's blueprint for its pages (its templates in its own ``templates/`` folder)."""
    return Blueprint(name, import_name, template_folder="templates")


class LinkPage(Exception):
    """A link that does not open: carries the friendly page to answer with."""

    def __init__(self, response):
        super().__init__("link refused")
        self.response = response


def render_page(template: str, *, locale: str | None, status: int = 200, **context):
    language = choose_locale(locale)
    html = render_template(template, lang=language, t=lambda key, **values: translate(language, key, **values),
                           **context)
    response = make_response(html, status)
    response.headers["Content-Language"] = language
    response.headers.update(PAGE_HEADERS)
    return response


def refused_page(problem: LinkProblem, locale: str | None = None):
    """The page of a link that does not open: said kindly, changing nothing. 410 for an expired link (it did
    work once), 404 for one that never will."""
    return render_page("pages/refused.html", locale=locale, status=410 if problem is LinkProblem.EXPIRED else 404,
                       problem=problem.value)


def open_link(token: str, purpose: LinkPurpose) -> Link:
    config = current_app.config
    try:
        return read_token(str(config["SECRET_KEY"]), token, purpose=purpose, max_age=int(config["LINKS_MAX_AGE"]))
    except LinkRefused as refused:
        raise LinkPage(refused_page(refused.problem)) from None


def init_app(app) -> None:
    app.register_blueprint(bp)

    @app.errorhandler(LinkPage)
    def link_page(exc: LinkPage):
        return exc.response


__all__ = ["LANGUAGES", "LinkPage", "bp", "choose_locale", "init_app", "open_link", "page_blueprint",
           "refused_page", "render_page", "translate"]
