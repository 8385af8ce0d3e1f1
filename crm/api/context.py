from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from crm.api.loaders import LoaderRegistry
from crm.auth.services import Viewer


@dataclass
class RequestContext:
    """``info.context`` of every resolver: the session, who is asking, and this request's loaders."""

    session: Session
    viewer: Viewer
    config: dict
    loaders: LoaderRegistry = field(init=False)

    def __post_init__(self):
        self.loaders = LoaderRegistry(self)
