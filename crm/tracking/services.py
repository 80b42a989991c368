"""Tracking rules: sites and origins, recording views, sessions, identifying
visitors, the e-mail identity token and pruning inactive visitors.

Every function takes ``now`` so tests drive the clock; the endpoints pass
the current time. Nothing here commits: the request, command or job does.
"""

import logging
import re
import secrets
from collections import Counter
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from markupsafe import Markup
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from crm.activity import kinds
from crm.activity import services as activity
from crm.activity.services import EventFacts
from crm.core import signals
from crm.core.db import utcnow
from crm.core.errors import ServiceError
from crm.extensions import db
from crm.tracking.models import PageView, TrackedSite, Visitor, WebSession

log = logging.getLogger(__name__)

VISIT_KIND = "web_visit"
IDENTITY_PARAM = "crm_vt"
IDENTITY_SALT = "tracking-identity"
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
SITE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
VIEW_KEY_LENGTH = 40  # the page_views column; the script makes 36
MAX_PAGE_SECONDS = 4 * 3600
TOP_PAGES = 10
_DEFAULT_PORTS = {"http": 80, "https": 443}


# Sites and origins.


def normalise_origin(text: str) -> str:
    """``scheme://host[:port]`` in lower case, no default port; else ServiceError."""
    raw = (text or "").strip()
    try:
        parts = urlsplit(raw)
    except ValueError:  # "http://[shop", or a host NFKC would change
        raise ServiceError(
            _("%(origin)s is not a web address.") % {"origin": raw[:200]},
            field="origins",
        ) from None
    problem = None
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        problem = _("%(origin)s: an origin starts with http:// or https://.")
    elif not parts.hostname:
        problem = _("%(origin)s: the host name is missing.")
    elif parts.username or parts.password:
        problem = _("%(origin)s: an origin has no user name or password.")
    elif parts.path not in ("", "/") or parts.query or parts.fragment:
        problem = _("%(origin)s: an origin has no path, query or fragment.")
    if problem is None:
        try:
            port = parts.port
        except ValueError:
            port = -1
        if port == -1 or (port is not None and not 0 < port < 65536):
            problem = _("%(origin)s: the port is not a number from 1 to 65535.")
    if problem is not None:
        raise ServiceError(problem % {"origin": raw[:200]}, field="origins")
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def origin_of(url: str | None) -> str | None:
    """The normalised origin of an absolute http(s) URL, or None."""
    try:
        parts = urlsplit(url or "")
    except ValueError:  # "http://[x" and hosts NFKC would change
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        return normalise_origin(f"{parts.scheme}://{parts.netloc}")
    except ServiceError:
        return None


def clean_site(site: TrackedSite) -> None:
    """Check a site before it is saved: a name, valid origins, a site key."""
    site.name = (site.name or "").strip()
    if not site.name:
        raise ServiceError(_("Give the site a name."), field="name")
    lines = [line for line in (site.origins or "").replace(",", " ").split() if line]
    if not lines:
        raise ServiceError(
            _("List at least one origin, such as https://www.example.com."),
            field="origins",
        )
    origins = []
    for line in lines:
        origin = normalise_origin(line)
        if origin not in origins:
            origins.append(origin)
    site.origins = "\n".join(origins)
    if not site.site_key:
        site.site_key = secrets.token_urlsafe(12)


def find_site(site_key: str | None) -> TrackedSite | None:
    """The site with this public key, or None."""
    # Site keys are URL-safe tokens; anything else (a NUL character would fail
    # on PostgreSQL) names no site.
    if not isinstance(site_key, str) or not SITE_KEY.match(site_key):
        return None
    return db.session.scalar(
        select(TrackedSite).where(TrackedSite.site_key == site_key)
    )


def site_allows(site: TrackedSite, origin: str | None) -> bool:
    """Whether ``origin`` is one of the site's registered origins."""
    return bool(origin) and origin in site.origin_list


def any_site_allows(origin: str | None) -> bool:
    """Whether some registered site lists this origin."""
    if not origin:
        return False
    return any(
        origin in site.origin_list for site in db.session.scalars(select(TrackedSite))
    )


# The e-mail identity token.


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=IDENTITY_SALT)


def identity_token(contact_id: int) -> str:
    """A signed token naming the contact, good for TRACKING_TOKEN_MAX_AGE seconds."""
    return _serializer().dumps(contact_id)


def verify_identity_token(token: str | None) -> int | None:
    """The contact id a token names, or None when forged, changed or expired."""
    if not token or len(token) > 200:
        return None
    try:
        value = _serializer().loads(
            token, max_age=current_app.config["TRACKING_TOKEN_MAX_AGE"]
        )
    except SignatureExpired:
        log.info("expired tracking identity token refused")
        return None
    except (BadSignature, ValueError, TypeError):
        log.info("forged tracking identity token refused")
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def link_with_identity(url: str, contact_id: int | None) -> str:
    """``url`` with the contact's identity token added, when it opens a
    registered site; any other destination is returned unchanged."""
    if not contact_id or not any_site_allows(origin_of(url)):
        return url
    parts = urlsplit(url)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k != IDENTITY_PARAM
    ]
    query.append((IDENTITY_PARAM, identity_token(contact_id)))
    return urlunsplit(parts._replace(query=urlencode(query)))


# Recording views.


def valid_key(value) -> bool:
    """A visitor or view id as the script makes them: 16-64 URL-safe characters."""
    return isinstance(value, str) and bool(KEY_PATTERN.match(value))


def page_of(url: str) -> str:
    """The URL without query string or fragment: what pages are counted by."""
    parts = urlsplit(url)
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", "", "")
    )


def _without_identity(url: str) -> str:
    parts = urlsplit(url)
    if IDENTITY_PARAM not in parts.query:
        return url
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k != IDENTITY_PARAM
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _utm(url: str) -> dict:
    values = dict(parse_qsl(urlsplit(url).query))
    return {name: (values.get(name) or "")[:255] for name in UTM_FIELDS}


def _visitor(site: TrackedSite, key: str, now, user_agent: str) -> Visitor:
    visitor = db.session.scalar(
        select(Visitor).where(Visitor.site_id == site.id, Visitor.visitor_key == key)
    )
    if visitor is not None:
        return visitor
    # Identified before any view was recorded (a form read the id first).
    waiting = db.session.scalar(
        select(Visitor).where(Visitor.site_id.is_(None), Visitor.visitor_key == key)
    )
    if waiting is not None:
        waiting.site_id = site.id
        waiting.first_seen_at = waiting.last_seen_at = now
        waiting.user_agent = (user_agent or "")[:255]
        return waiting
    visitor = Visitor(
        site_id=site.id,
        visitor_key=key,
        first_seen_at=now,
        last_seen_at=now,
        user_agent=(user_agent or "")[:255],
    )
    try:
        with db.session.begin_nested():
            db.session.add(visitor)
    except IntegrityError:
        # The same browser's other tab created it a moment ago.
        visitor = db.session.scalar(
            select(Visitor).where(
                Visitor.site_id == site.id, Visitor.visitor_key == key
            )
        )
    return visitor


def _current_session(visitor: Visitor, now) -> WebSession | None:
    idle = timedelta(seconds=current_app.config["TRACKING_SESSION_IDLE"])
    session = db.session.scalar(
        select(WebSession)
        .where(WebSession.visitor_id == visitor.id)
        .order_by(WebSession.last_seen_at.desc(), WebSession.id.desc())
        .limit(1)
    )
    if session is None or session.last_seen_at < now - idle:
        return None
    return session


def record_view(
    site: TrackedSite,
    *,
    visitor_key: str,
    view_key: str,
    url: str,
    title: str = "",
    referrer: str = "",
    user_agent: str = "",
    identity: str | None = None,
    now=None,
) -> PageView | None:
    """Record one page view of ``site``; None when the input is not a view of it.

    The view joins the visitor's session when the last view was less than
    TRACKING_SESSION_IDLE ago, else starts a new one (with the referrer and
    UTM parameters of its first page). A valid identity token links the
    visitor to its contact first. A repeated view key changes nothing.
    """
    now = now or utcnow()
    if not (valid_key(visitor_key) and valid_key(view_key)):
        return None
    if len(view_key) > VIEW_KEY_LENGTH:
        return None
    # PostgreSQL text holds no NUL character.
    url, title, referrer, user_agent = (
        (text or "").replace("\x00", "") for text in (url, title, referrer, user_agent)
    )
    if not site_allows(site, origin_of(url)):
        return None
    url = _without_identity(url)[:2000]
    visitor = _visitor(site, visitor_key, now, user_agent)
    existing = db.session.scalar(
        select(PageView).where(
            PageView.visitor_id == visitor.id, PageView.view_key == view_key
        )
    )
    if existing is not None:
        return existing

    contact_id = verify_identity_token(identity) if identity else None
    if contact_id is not None:
        from crm.contacts.models import Contact

        contact = db.session.get(Contact, contact_id)
        if contact is not None:
            identify(visitor, contact, now=now)

    session = _current_session(visitor, now)
    page = page_of(url)
    # A page opened from a tracked e-mail link carries the identity token;
    # the next page's referrer must not keep it.
    referrer = _without_identity(referrer)[:2000] if origin_of(referrer) else ""
    if session is None:
        session = WebSession(
            visitor_id=visitor.id,
            contact_id=visitor.contact_id,
            started_at=now,
            last_seen_at=now,
            landing_page=page[:2000],
            referrer=referrer if origin_of(referrer) != origin_of(url) else "",
            page_count=0,
            **_utm(url),
        )
        db.session.add(session)
        db.session.flush()
        new_page = True
    else:
        new_page = (
            db.session.scalar(
                select(func.count())
                .select_from(PageView)
                .where(PageView.session_id == session.id, PageView.page == page)
            )
            == 0
        )
    view = PageView(
        session_id=session.id,
        visitor_id=visitor.id,
        view_key=view_key,
        url=url,
        page=page[:2000],
        title=(title or "")[:300],
        referrer=referrer,
        viewed_at=now,
    )
    db.session.add(view)
    session.page_count = (session.page_count or 0) + 1
    session.last_seen_at = max(session.last_seen_at, now)
    visitor.last_seen_at = max(visitor.last_seen_at, now)
    db.session.flush()

    if session.contact_id is not None:
        if session.event_id is None:
            _record_visit(session)
        elif new_page:
            _score_pages(session, [(page, now)])
    return view


def record_leave(site, *, visitor_key: str, view_key: str, seconds, now=None) -> bool:
    """Store how long a page stayed open (from its "left" beacon)."""
    now = now or utcnow()
    if not (valid_key(visitor_key) and valid_key(view_key)):
        return False
    try:
        seconds = max(0, min(int(seconds), MAX_PAGE_SECONDS))
    except (TypeError, ValueError, OverflowError):  # JSON reads 1e400 as infinity
        return False
    view = db.session.scalar(
        select(PageView)
        .join(Visitor, Visitor.id == PageView.visitor_id)
        .where(
            Visitor.site_id == site.id,
            Visitor.visitor_key == visitor_key,
            PageView.view_key == view_key,
        )
    )
    if view is None:
        return False
    view.seconds = seconds
    session = db.session.get(WebSession, view.session_id)
    left = view.viewed_at + timedelta(seconds=seconds)
    session.last_seen_at = max(session.last_seen_at, min(left, now))
    db.session.flush()
    return True


# Identifying visitors.


def identify(visitor: Visitor, contact, *, now=None) -> bool:
    """Attach the visitor, and its sessions that belong to nobody yet, to ``contact``.

    Each session attached gets its "web_visit" history event (dated when it
    started) and scores its pages. A visitor already known as someone else
    moves to the new contact for its later visits; earlier ones stay.
    Returns whether anything changed.
    """
    now = now or utcnow()
    if visitor.contact_id == contact.id:
        return False
    if visitor.contact_id is not None:
        log.info(
            "visitor %s moves from contact %s to %s",
            visitor.id,
            visitor.contact_id,
            contact.id,
        )
        # Totals kept by pruning were the earlier contact's visits.
        visitor.summary = None
        visitor.summarised_at = None
    visitor.contact_id = contact.id
    visitor.identified_at = now
    db.session.flush()
    sessions = db.session.scalars(
        select(WebSession)
        .where(WebSession.visitor_id == visitor.id, WebSession.contact_id.is_(None))
        .order_by(WebSession.started_at)
    ).all()
    for session in sessions:
        session.contact_id = contact.id
        db.session.flush()
        _record_visit(session)
    log.info(
        "visitor %s identified as contact %s (%s earlier visits)",
        visitor.id,
        contact.id,
        len(sessions),
    )
    return True


def identify_key(contact, visitor_key: str, *, now=None) -> int:
    """Identify every visitor with this browser id (one per site) as ``contact``.

    An id not seen yet is kept, so the browser's first recorded view already
    belongs to the contact. Returns the number of visitors identified.
    """
    now = now or utcnow()
    if not valid_key(visitor_key) or contact is None:
        return 0
    visitors = db.session.scalars(
        select(Visitor).where(Visitor.visitor_key == visitor_key)
    ).all()
    if not visitors:
        db.session.add(
            Visitor(
                site_id=None,
                visitor_key=visitor_key,
                contact_id=contact.id,
                first_seen_at=now,
                last_seen_at=now,
                identified_at=now,
            )
        )
        db.session.flush()
        return 1
    return sum(identify(visitor, contact, now=now) for visitor in visitors)


@signals.visitor_identified.connect
def _on_visitor_identified(sender, contact=None, visitor_id=None, **extra):
    identify_key(contact, visitor_id)


def _record_visit(session: WebSession) -> None:
    views = db.session.execute(
        select(PageView.page, PageView.title, PageView.viewed_at)
        .where(PageView.session_id == session.id)
        .order_by(PageView.viewed_at, PageView.id)
    ).all()
    title = views[0].title if views else ""
    event = activity.record(
        session.contact_id,
        VISIT_KIND,
        subject=title or session.landing_page,
        ref=("web_session", session.id),
        target=session.landing_page[:255],
        occurred_at=session.started_at,
        data={"landing_page": session.landing_page[:500]},
    )
    session.event_id = event.id
    db.session.flush()
    seen = {session.landing_page}
    later = []
    for page, _title, viewed_at in views:
        if page not in seen:
            seen.add(page)
            later.append((page, viewed_at))
    _score_pages(session, later)


def _score_pages(session: WebSession, pages) -> None:
    """Score pages of a session after its first: page-visit rules react to
    every distinct page a visit shows."""
    if not pages:
        return
    from crm.scoring.services import score_events

    score_events(
        [
            EventFacts(session.event_id, session.contact_id, VISIT_KIND, page[:255], at)
            for page, at in pages
        ]
    )


def _describe_visit(event) -> Markup:
    session = db.session.get(WebSession, event.ref_id) if event.ref_id else None
    if session is None:
        return Markup('<span class="crm-muted">{}</span>').format(
            _("Details of this visit were pruned.")
        )
    return Markup('<span class="web-visit">{}</span>').format(
        _(
            "%(pages)s pages, %(minutes)s min, from %(page)s",
            pages=session.page_count,
            minutes=max(0, session.seconds) // 60,
            page=session.landing_page,
        )
    )


kinds.register(VISIT_KIND, _l("Web visit"), "web", _describe_visit)


# Scoring targets.


def page_targets() -> list[tuple[str, str]]:
    """URL prefixes a page-visit rule may narrow to: each site's origins and
    the first path part of the pages seen on them."""
    targets = []
    for site in db.session.scalars(select(TrackedSite).order_by(TrackedSite.name)):
        for origin in site.origin_list:
            targets.append(origin + "/")
    prefixes = set()
    rows = db.session.scalars(
        select(PageView.page)
        .group_by(PageView.page)
        .order_by(func.count().desc())
        .limit(500)
    )
    for page in rows:
        parts = urlsplit(page)
        first = parts.path.strip("/").split("/", 1)[0]
        if first:
            prefixes.add(f"{parts.scheme}://{parts.netloc}/{first}"[:255])
    targets.extend(sorted(prefixes))
    return [(value, value) for value in dict.fromkeys(targets)]


# Summaries and pruning.


def _top_pages(counter: Counter) -> list[list]:
    return [[page, count] for page, count in counter.most_common(TOP_PAGES)]


def summarise(visitor: Visitor) -> dict:
    """The visitor's totals: kept ones (from pruning) plus its live details."""
    kept = visitor.summary or {}
    # Only the visits of the contact the browser belongs to now: sessions of
    # a contact it was identified as before stay theirs.
    if visitor.contact_id is None:
        own = WebSession.contact_id.is_(None)
    else:
        own = WebSession.contact_id == visitor.contact_id
    sessions = db.session.scalar(
        select(func.count())
        .select_from(WebSession)
        .where(WebSession.visitor_id == visitor.id, own)
    )
    counter = Counter({page: count for page, count in kept.get("top_pages", [])})
    views = 0
    for page, count in db.session.execute(
        select(PageView.page, func.count())
        .join(WebSession, WebSession.id == PageView.session_id)
        .where(PageView.visitor_id == visitor.id, own)
        .group_by(PageView.page)
    ):
        counter[page] += count
        views += count
    return {
        "sessions": kept.get("sessions", 0) + sessions,
        "page_views": kept.get("page_views", 0) + views,
        "first_seen": visitor.first_seen_at,
        "last_seen": visitor.last_seen_at,
        "top_pages": _top_pages(counter),
    }


def prune(*, now=None, days: int | None = None) -> int:
    """Summarise visitors inactive for ``days`` (TRACKING_INACTIVE_DAYS) and
    remove their sessions and page views; returns how many were summarised."""
    now = now or utcnow()
    days = days if days is not None else current_app.config["TRACKING_INACTIVE_DAYS"]
    cutoff = now - timedelta(days=days)
    with_details = select(WebSession.visitor_id).distinct()
    visitors = db.session.scalars(
        select(Visitor).where(
            Visitor.last_seen_at < cutoff, Visitor.id.in_(with_details)
        )
    ).all()
    for visitor in visitors:
        totals = summarise(visitor)
        visitor.summary = {
            "sessions": totals["sessions"],
            "page_views": totals["page_views"],
            "first_seen": visitor.first_seen_at.isoformat(),
            "last_seen": visitor.last_seen_at.isoformat(),
            "top_pages": totals["top_pages"],
        }
        visitor.summarised_at = now
        db.session.execute(delete(PageView).where(PageView.visitor_id == visitor.id))
        db.session.execute(
            delete(WebSession).where(WebSession.visitor_id == visitor.id)
        )
    db.session.flush()
    if visitors:
        log.info("%s inactive web visitors summarised and pruned", len(visitors))
    return len(visitors)
