"""Authorizing callers served from the shared-watch cache (issue 15).

A shared upstream watch runs under the proxy's own identity, so the API server no longer checks
each caller; before the proxy serves a caller from the cache it asks, as that caller, whether the
caller may do what the request asks. This module fixes the contract between the server (which
asks) and the authorizer (which answers); ``docs/shared-watches.md`` says how answers are made
and cached, and ``review.py`` (``ReviewAuthorizer``, exported here) makes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Attributes:
    """What a request asks, in SubjectAccessReview's ``resourceAttributes`` terms."""

    verb: str
    """``list`` or ``watch``."""
    group: str
    """API group, "" for the core group."""
    version: str
    resource: str
    namespace: str
    """"" for a cluster-wide request."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer for one caller and one ``Attributes``."""

    allowed: bool
    code: int = 200
    """200 when allowed; 401 (credentials not accepted) or 403 (not allowed) otherwise."""
    message: str = ""
    """For the caller's ``Status``: says what was refused, never echoes a credential."""


class Authorizer(Protocol):
    async def authorize(self, headers: Mapping[str, str], attrs: Attributes) -> Verdict:
        """Whether the caller whose request carried ``headers`` (``Authorization`` and
        ``Impersonate-*``, as received) may do ``attrs``. Never raises for a refusal; raises
        ``discofilter.errors.UpstreamError`` only when the API server could not be asked."""


# Imported last: review.py needs Attributes and Verdict from this module, already defined above.
from discofilter.authz.review import ReviewAuthorizer, ReviewStats  # noqa: E402

__all__ = ["Attributes", "Authorizer", "ReviewAuthorizer", "ReviewStats", "Verdict"]
