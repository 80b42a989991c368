"""The contact list and the contact record page."""

import logging
from dataclasses import dataclass
from functools import partial

from flask import abort, current_app, g, redirect, request, url_for
from flask_admin import expose
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import exists, func, literal_column, select
from sqlalchemy.sql.elements import False_, True_

from crm.access import policy
from crm.access.rules import contact_criterion, contact_id_streams
from crm.auth.models import User
from crm.contacts import (
    counting,
    record_tabs,  # noqa: F401  (registers the tab renderers)
    search,
    services,
    tab_views,
)
from crm.contacts.filters import TagAnyFilter, contact_filters
from crm.contacts.filters import newest_first as filter_newest_first
from crm.contacts.models import Company, Contact, ContactPhone
from crm.contacts.weather import panel as weather_panel
from crm.core.admin import SecuredModelView, page_number
from crm.core.text import is_bare_digits
from crm.extensions import db
from crm.tags.models import ContactTag, Tag

log = logging.getLogger(__name__)


# The list reads these columns, not whole contacts with their company and
# owner objects: about a millisecond less per page of 50.
LIST_COLUMNS = (
    Contact.id,
    Contact.given_name,
    Contact.middle_name,
    Contact.family_name,
    Contact.primary_email,
    Contact.primary_phone,
    select(Company.name)
    .where(Company.id == Contact.company_id)
    .correlate(Contact)
    .scalar_subquery(),
    select(func.coalesce(func.nullif(User.name, ""), User.email))
    .where(User.id == Contact.owner_id)
    .correlate(Contact)
    .scalar_subquery(),
)


def _count_from_page(page, size, shown) -> None:
    """Make a capped count exact, or raise it, from the page just read.

    A page with rows, or the first page, that is not full ends the list:
    the count is then the rows before it and on it. A full page proves at
    least that many (a capped count may be lower: a restricted user's
    search is capped at 100). An empty page past the first proves nothing:
    the list ends before it.
    """
    count = g.get("crm_list_count")
    if not count or not count["capped"] or (page and not shown):
        return
    before = page * size
    if shown < size:
        g.crm_list_count = {"value": before + shown, "capped": False}
    elif before + shown > count["value"]:
        g.crm_list_count = {"value": before + shown, "capped": True}


def _carries_tag(tag_id, contact_id):
    """The contact with this id carries the tag (one seek in the link index)."""
    return exists().where(
        ContactTag.tag_id == tag_id, ContactTag.contact_id == contact_id
    )


@dataclass(frozen=True, slots=True)
class _Company:
    name: str


@dataclass(frozen=True, slots=True)
class ListRow:
    """One row of the contact list: what the list shows, nothing more."""

    id: int
    given_name: str | None
    middle_name: str | None
    family_name: str | None
    primary_email: str | None
    primary_phone: str | None
    company_name: str | None
    owner: str | None

    @property
    def company(self):
        return _Company(self.company_name) if self.company_name else None

    @property
    def display_name(self) -> str:
        return Contact.display_name.fget(self)


class ContactView(SecuredModelView):
    """The contact list: search, filters, sorting, paging, export."""

    list_template = "contacts/list.html"
    details_template = "contacts/record.html"

    column_list = (
        "name",
        "company",
        "primary_email",
        "primary_phone",
        "tags",
        "score",
        "owner",
    )
    column_labels = {
        "name": _l("Name"),
        "company": _l("Company"),
        "primary_email": _l("E-mail"),
        "primary_phone": _l("Phone"),
        "tags": _l("Tags"),
        "score": _l("Score"),
        "owner": _l("Owner"),
        "created_at": _l("Created"),
    }
    column_sortable_list = (
        ("name", Contact.family_name),
        ("primary_email", Contact.primary_email),
        ("created_at", Contact.created_at),
    )
    column_default_sort = (Contact.id, True)
    # The search box runs over the trigram-indexed search_text (see search.py).
    column_searchable_list = ("search_text",)
    column_filters = None
    simple_list_pager = True
    allow_export = True
    export_types = ("csv", "vcf")
    can_view_details = True
    read_only_message = _l("You may view this contact but not change it.")

    def __init__(self, **kwargs):
        kwargs.setdefault("name", _l("Contacts"))
        kwargs.setdefault("endpoint", "contact")
        super().__init__(Contact, **kwargs)

    def get_filters(self):
        return contact_filters()

    def get_sortable_columns(self):
        # Flask-Admin files a column of the model under its own key; the
        # list's "name" column is the one that sorts by family name.
        columns = super().get_sortable_columns()
        columns["name"] = columns.pop("family_name")
        return columns

    def _get_filter_groups(self):
        # Tag, owner and type choices change while the app runs: read them per request.
        groups = super()._get_filter_groups()
        if not groups:
            return groups
        for items in groups.values():
            for item in items:
                flt = self._filters[item["index"]]
                if getattr(flt, "dynamic", False):
                    item["options"] = [(k, v) for k, v in flt.get_options(self)] or None
        return groups

    def search_placeholder(self):
        return str(_l("Name, e-mail, phone or company"))

    def _apply_search(self, query, count_query, joins, count_joins, term):
        clause = search.criterion(term, db.engine.dialect.name)
        if clause is None:
            return query, count_query, joins, count_joins
        query = query.filter(clause)
        if count_query is not None:
            count_query = count_query.filter(clause)
        return query, count_query, joins, count_joins

    def get_list(
        self,
        page,
        sort_column,
        sort_desc,
        search_term,
        filters,
        execute=True,
        page_size=None,
    ):
        page = page_number(page)
        if not search.has_terms(search_term):
            # Only spaces: the whole list, counted and paged as such.
            search_term = None
        query = self.get_query()
        # A joined index (search or tag) that lists the matches newest first.
        driver = None
        if search_term:
            query, driver = search.narrow(query, search_term, db.engine.dialect.name)
        if filters and self._filters:
            filter_newest_first()  # forget what an earlier list left in g
            query, _, _, _ = self._apply_filters(query, None, {}, {}, filters)
            joined = filter_newest_first()
            if driver is None:
                driver = joined
        if driver is not None:
            # The same rule once more, stated on the driving index: SQLite
            # tests it before it joins the contact, so the rows the rule
            # leaves out are never read (see contact_criterion).
            on_driver = self._scope_on(driver)
            if not isinstance(on_driver, True_):
                query = query.filter(on_driver)

        g.crm_list_ids = None  # visible matches the count read (_keep_ids)
        g.crm_list_count = self._capped_count(query, search_term, filters)

        if sort_column is None and driver is not None:
            # The default order (newest first), read from that index.
            query = query.order_by(driver.desc())
        else:
            query, _ = self._apply_sorting(query, {}, sort_column, sort_desc)
        page_ids = None
        if execute and page_size != 0:
            # A page only (0 asks for every row): an export, a query built
            # here and run by the caller, reads up to its row limit and then
            # looks past it for its note, which ids narrowed to the limit hide.
            page_ids = self._visible_page(search_term, filters, sort_column)
        size = page_size or self.page_size
        known, complete = g.crm_list_ids or ((), False)
        if complete or len(known) >= (page + 1) * size:
            known = known[page * size : (page + 1) * size]
        else:
            known = None
        if page_ids is not None:
            # The page's ids come from the user's own id lists, newest first;
            # the query keeps its rule, so it can only narrow them further.
            ids = page_ids.limit(size).offset(page * size)
            query = query.filter(Contact.id.in_(ids.scalar_subquery())).limit(size)
        elif execute and page_size != 0 and known is not None and sort_column is None:
            # The count read the page's visible matches, newest first: read
            # them by id (the rule still on the query) instead of testing
            # the rule on the same matches again.
            query = (
                self.get_query()
                .filter(Contact.id.in_(known))
                .order_by(Contact.id.desc())
            )
        else:
            query = self._apply_pagination(query, page, page_size)
        if not execute:
            return None, query
        rows = [ListRow(*values) for values in query.with_entities(*LIST_COLUMNS)]
        if page_size != 0:
            _count_from_page(page, page_size or self.page_size, len(rows))
        self._attach_tags(rows)
        self._attach_scores(rows)
        self._attach_phones(rows)
        return None, rows

    def _visible_page(self, search_term, filters, sort_column):
        """For a restricted user's whole list in its default order (newest
        first), the ids it shows, read from the user's id lists; else None.

        Testing the rule contact by contact from the newest reads every
        contact the user may not see before the page; at 1M contacts and
        page 20 that was most of the request.
        """
        if search_term or filters or sort_column is not None:
            return None
        if db.engine.dialect.name != "sqlite":
            return None
        streams = contact_id_streams(current_user, self.scope_action())
        if streams is None:
            return None
        return counting.newest_first(streams)

    def _scope_on(self, contact_id=None):
        """The user's row rule for this list, on Contact or on an id column.

        A column that holds the contact's id (the tag link or search match
        driving the list) gets the same rule stated on that column, so the
        rows it leaves out are never read (see ``contact_criterion``).
        """
        action = self.scope_action()
        scope = policy.scope(Contact, current_user, action)
        if contact_id is None or isinstance(scope, True_ | False_):
            return scope
        return contact_criterion(current_user, action, contact_id=contact_id)

    def _capped_count(self, query, search_term, filters):
        """The number of matching rows, exact up to the configured cap.

        A restricted user's search has a lower cap. ``get_list`` then
        raises a capped count to the rows paged through, and makes it exact
        on the page that ends the list.
        """
        cap = current_app.config["LIST_COUNT_CAP"]
        scope = self._scope_on()
        if isinstance(scope, False_):
            return {"value": 0, "capped": False}
        everything = isinstance(scope, True_)
        if everything and not search_term and not filters:
            # A bare count(*), without even WHERE 1 = 1, is SQLite's fast path:
            # about 2 ms at 1M contacts instead of 12 ms.
            total = db.session.scalar(
                select(func.count(literal_column("*"))).select_from(Contact)
            )
            return {"value": total, "capped": False}

        if not search_term and not filters and db.engine.dialect.name == "sqlite":
            # A restricted user's whole list: count the user's own id lists.
            streams = contact_id_streams(current_user, self.scope_action())
            total = counting.visible_count(streams, cap)
            return {"value": min(total, cap), "capped": total > cap}

        dialect = db.engine.dialect.name
        if search_term and not everything:
            # A restricted user tests several matches for each one it may
            # see: at 1M contacts, 15 % visible and a common name, counting
            # to 1,000 read seven times the administrator's 1,001 matches
            # (and a term of one or two letters scanned the table that much
            # further). Counted exactly, to a lower cap.
            cap = min(cap, current_app.config["RESTRICTED_SEARCH_COUNT_CAP"])

        # Where one index answers the whole question, count from it alone:
        # every tag link and every search match belongs to a contact (a
        # foreign key with cascade; triggers), so no contact row is read.
        ids = None
        if not filters and search_term:
            ids = search.match_ids(search_term, dialect)
        elif not search_term:
            tag_id = self._single_tag(filters)
            if tag_id is not None:
                ids = select(ContactTag.contact_id).where(ContactTag.tag_id == tag_id)
                if not everything:
                    # A restricted user: meet the tag's links and the user's
                    # own id lists from whichever side is cheaper.
                    streams = partial(
                        contact_id_streams, current_user, self.scope_action()
                    )
                    found, newest = counting.capped_ids(
                        ids, streams, self._scope_on, partial(_carries_tag, tag_id), cap
                    )
                    self._keep_ids(found, cap, newest)
                    return {"value": min(len(found), cap), "capped": len(found) > cap}

        if ids is not None:
            if not everything:
                ids = ids.where(self._scope_on(ids.selected_columns[0]))
            limited = ids.limit(cap + 1)
        else:
            limited = (
                query.with_entities(Contact.id).order_by(None).limit(cap + 1).statement
            )
        if search_term:
            # Read the ids themselves (at most the cap + 1): when they are
            # all of them, the page is read from them (see get_list) instead
            # of searching again (a rare term made of common trigrams costs
            # the full-text index tens of milliseconds, a term of one or two
            # letters a scan of the table) and testing the rule on the same
            # matches again.
            found = db.session.scalars(limited).all()
            self._keep_ids(found, cap, newest=False)
            return {"value": min(len(found), cap), "capped": len(found) > cap}
        total = db.session.scalar(
            select(func.count(literal_column("*"))).select_from(limited.subquery())
        )
        return {"value": min(total, cap), "capped": total > cap}

    @staticmethod
    def _keep_ids(found, cap, newest) -> None:
        """Keep the visible matches a count read, for get_list to page from:
        all of them (fewer than cap + 1), or the newest cap + 1 in order."""
        if len(found) <= cap:
            g.crm_list_ids = (sorted(found, reverse=True), True)
        elif newest:
            g.crm_list_ids = (list(found), False)

    def _single_tag(self, filters) -> int | None:
        """The tag id when the only filter is one tag (any of or all of)."""
        if len(filters or ()) != 1:
            return None
        index, _name, value = filters[0]
        flt = self._filters[index]
        if not isinstance(flt, TagAnyFilter):
            return None
        ids = flt.clean(value)
        return ids[0] if len(ids) == 1 else None

    def _attach_tags(self, rows) -> None:
        """Load the tag names of one page of contacts in a single query."""
        ids = [row.id for row in rows]
        names: dict[int, list[str]] = {i: [] for i in ids}
        if ids:
            query = (
                select(ContactTag.contact_id, Tag.name)
                .join(Tag, Tag.id == ContactTag.tag_id)
                .where(ContactTag.contact_id.in_(ids))
                .order_by(Tag.name)
            )
            for contact_id, name in db.session.execute(query):
                names[contact_id].append(name)
        g.crm_row_tags = names

    def _attach_phones(self, rows) -> None:
        """The E.164 form of the first phones typed as bare digits (formatted)."""
        ids = [row.id for row in rows if is_bare_digits(row.primary_phone)]
        found: dict[int, str] = {}
        if ids:
            query = select(ContactPhone.contact_id, ContactPhone.e164).where(
                ContactPhone.contact_id.in_(ids),
                ContactPhone.kind == "phone",
                ContactPhone.slot == 1,
                ContactPhone.e164.is_not(None),
            )
            found = dict(db.session.execute(query).all())
        g.crm_row_phones = found

    def _attach_scores(self, rows) -> None:
        """Lead scores of one page of contacts in a single grouped query."""
        from crm.scoring.services import leads_for

        g.crm_row_leads = leads_for(row.id for row in rows)

    # Export: the same rows as the list, formulas neutralised.
    column_export_list = (
        "given_name",
        "family_name",
        "company",
        "primary_email",
        "primary_phone",
        "tags",
        "owner",
        "country_code",
        "contact_type",
        "created_at",
    )

    @expose("/export/<export_type>/")
    def export(self, export_type):
        from crm.contacts.export import export_response

        return export_response(self, export_type)

    @expose("/details/")
    def details_view(self):
        from crm.contacts.record import render_record

        return render_record(self)

    # New contacts are made on the General tab's form.
    @expose("/new/", methods=("GET", "POST"))
    def create_view(self):
        return redirect(url_for("contact_general.create_view"))

    @expose("/weather/")
    def weather(self):
        """The weather panel of one record, fetched after the page has loaded."""
        contact = services.get_visible(request.args.get("id"), current_user)
        if contact is None:
            abort(404)
        return weather_panel(contact)


def views():
    yield ContactView()
    yield from tab_views.views()
