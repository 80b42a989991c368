"""The access contract, read from the app itself: every URL rule and admin view.

A user without access puts the id of a hidden contact (and of its hidden
children) everywhere an id can go: path arguments, the query string, form
fields, mass-action row ids, list-editing keys and ajax lookups. Each answer
must be the same as for an id that does not exist at all (so nothing tells
"hidden" from "missing"), carry none of the hidden record's values, be a 404
or a "not found" redirect on single-record paths, and leave the database
unchanged. Views added later are covered without touching this file.
"""

import inspect
import itertools
import re

import pytest
from flask_admin.contrib.sqla import ModelView
from sqlalchemy import event, select

from crm.access import policy
from crm.core.admin import SecuredAjaxLoader, SecuredModelView, SecuredView
from tests.access_helpers import own_only, quick_user, set_contacts

HIDDEN = 9001  # every hidden row has this id
MISSING = 9_999_991  # no row anywhere has this id
OWN = 8001  # U1's own contact
SENTINELS = (
    "Zyxhidden",
    "zyx-hidden@example.com",
    "5550199",
    "Secret Street",
    "zyxsocial",
    "zyx custom value",
    "Qwvhidden",
    "zyx run reason",
)
# Tables that record activity rather than data: an export of U1's own rows or
# a failed sign-in legitimately adds a row there.
ACTIVITY_TABLES = {"audit_log", "login_failures"}
# Path arguments that name a format, not a record.
NON_ID_ARGS = {"export_type": "csv", "filename": "x"}
ID_FIELDS = (
    "id",
    "pk",
    "list_form_pk",
    "contact_id",
    "contact",
    "contact1",
    "contact2",
    "contact1_id",
    "contact2_id",
    "link_id",
    "tag_id",
    "grant_id",
    "other",
    "target",
)
# Endpoints anyone may reach without signing in, and why.
PUBLIC_ENDPOINTS = {
    "web.home": "redirects to the contact list, which asks for a sign-in",
    "web.healthz": "the load balancer's health check; says nothing of the data",
    "web.favicon": "the site's icon, the same bytes for everyone",
    "partners.track": "a partner's tracking link, followed by any visitor",
    "mail_public.pixel": "the open pixel inside e-mails; a signed token",
    "mail_public.click": "tracked links inside e-mails; a signed token",
    "mail_public.unsubscribe": "the unsubscribe link and one-click POST; signed",
    "mail_public.confirm": "the double opt-in link; a signed token",
    "webforms.show_form": "a web form's public page, for visitors",
    "webforms.submit_form": "visitors submit web forms; a signed render token",
    "webforms.embed_script": "the script other sites embed a form with",
    "webforms.buy": "a product's public order page",
    "webforms.place_order": "visitors order and pay; a one-time key per page",
    "webforms.receipt": "the buyer's receipt, by the unguessable one-time key",
    "tracking.script": "the tracking code, loaded by the registered sites' pages",
    "tracking.collect": "page views that code sends; unregistered origins refused",
    "tracking.pixel": "the no-script pixel of the same sites",
    "files_public.public_file": "a public file's unguessable link",
}
SINGLE_RECORD = ("details_view", "edit_view", "delete_view", "ajax_update")
NOT_FOUND = re.compile(r"not found|does not exist|no longer exists", re.I)
# A screen refused as a whole names the screen, never the record.
SCREEN_REFUSED = re.compile(r"^Your permissions do not let you (add|change) records")


@pytest.fixture
def hidden_world(db, make_contact):
    """Jane (owned by U2) with every kind of child, all with id HIDDEN."""
    from crm.contacts.models import (
        ContactAddress,
        ContactEmail,
        ContactPhone,
        SocialAccount,
    )
    from crm.customfields.models import (
        CustomField,
        CustomHeader,
        CustomTab,
        CustomValue,
    )
    from crm.links.models import ContactLink, LinkType
    from crm.tags.models import ContactTag, Tag

    admin = quick_user(db, "admin@example.com", is_admin=True)
    u1 = own_only(db, quick_user(db, "u1@example.com"))
    u2 = own_only(db, quick_user(db, "u2@example.com"))
    u3 = quick_user(db, "u3@example.com")
    # U1 may do everything except see or edit other people's contacts.
    set_contacts(db, u1, can_delete=True, can_export=True, can_reassign_owner=True)

    tag = Tag(id=1, name="Customer")
    link_type = LinkType(id=1, name="Spouse", max_links=3)
    tab = CustomTab(id=1, name="Extra")
    header = CustomHeader(id=1, tab=tab, name="Facts")
    field = CustomField(id=1, header=header, label="Hobby", field_name="hobby")
    db.session.add_all([tag, link_type, tab, header, field])
    db.session.commit()

    own = make_contact("Own", "Person", email="own@example.com", owner=u1, id=OWN)
    jane = make_contact(
        "Zyxhidden", "Doe", email="zyx-hidden@example.com", owner=u2, id=HIDDEN
    )
    john = make_contact("Qwvhidden", "Roe", owner=u2, id=HIDDEN + 1)
    jane.emails[0].id = HIDDEN
    db.session.flush()
    db.session.add_all(
        [
            ContactPhone(
                id=HIDDEN, contact_id=HIDDEN, kind="phone", slot=1, number="5550199"
            ),
            ContactAddress(
                id=HIDDEN, contact_id=HIDDEN, kind="billing", line1="Secret Street"
            ),
            SocialAccount(
                id=HIDDEN, contact_id=HIDDEN, type="TWITTER", name="zyxsocial"
            ),
            ContactTag(contact_id=HIDDEN, tag_id=1),
            CustomValue(
                id=HIDDEN, contact_id=HIDDEN, field_id=1, value="zyx custom value"
            ),
            ContactLink(
                id=HIDDEN, contact1_id=HIDDEN, contact2_id=HIDDEN + 1, link_type_id=1
            ),
        ]
    )
    from crm.access.models import ContactShare
    from crm.activity.models import ActivityEvent
    from crm.scoring.models import ScoreEntry, ScoreRule

    db.session.add(
        ContactShare(id=HIDDEN, contact_id=HIDDEN, user_id=u3.id, level="edit")
    )
    _hidden_mail(db)
    from datetime import UTC, datetime, timedelta

    from crm.tasks.models import (
        ActivityField,
        ActivityFieldValue,
        Appointment,
        Note,
        Task,
    )

    due = datetime.now(UTC) - timedelta(minutes=5)
    db.session.add_all(
        [
            Task(
                id=HIDDEN,
                contact_id=HIDDEN,
                title="Zyxhidden task",
                due_at=due,
                remind_minutes=5,
                remind_at=due,
                # Assigned to U1, whose My tasks and Reminders must still not
                # show it: the contact is hidden from U1.
                assigned_to_id=u1.id,
            ),
            Appointment(
                id=HIDDEN,
                contact_id=HIDDEN,
                title="Zyxhidden meeting",
                starts_at=due,
                ends_at=due + timedelta(hours=1),
                assigned_to_id=u2.id,
            ),
            Note(id=HIDDEN, contact_id=HIDDEN, title="Zyxhidden note"),
            ActivityField(id=1, record_type="task", label="Zone", field_name="zone"),
        ]
    )
    db.session.flush()
    db.session.add(
        ActivityFieldValue(
            id=HIDDEN,
            field_id=1,
            contact_id=HIDDEN,
            record_type="task",
            record_id=HIDDEN,
            value="zyx custom value",
        )
    )
    db.session.add(ScoreRule(id=1, name="Scored", trigger="email_opened", points=2))
    db.session.flush()
    event = ActivityEvent(
        id=HIDDEN, contact_id=HIDDEN, kind="tag_applied", subject="Qwvhidden"
    )
    db.session.add(event)
    db.session.flush()
    db.session.add(
        ScoreEntry(
            id=HIDDEN,
            contact_id=HIDDEN,
            rule_id=1,
            event_id=HIDDEN,
            points=2,
            earned_at=event.occurred_at,
        )
    )
    db.session.commit()
    _hidden_opportunity(db, u2)
    from crm.sales.models import Order, OrderLine, Product, Transaction

    db.session.add(Product(id=1, name="Lamp", price=10, currency="USD"))
    db.session.add(
        Order(
            id=HIDDEN,
            contact_id=HIDDEN,
            title="Zyxhidden order",
            currency="USD",
            invoice_number=HIDDEN,
        )
    )
    db.session.flush()
    db.session.add_all(
        [
            OrderLine(
                id=HIDDEN,
                order_id=HIDDEN,
                kind="service",
                description="Zyxhidden",
                quantity=1,
                unit_price=10,
            ),
            Transaction(
                id=HIDDEN,
                order_id=HIDDEN,
                kind="payment",
                state="settled",
                amount=5,
                currency="USD",
                method="cash",
                reason="Zyxhidden",
            ),
        ]
    )
    db.session.commit()
    _hidden_partner_world(db)
    _hidden_automation(db)
    _hidden_web(db)
    _hidden_webforms(db)
    assert db.session.get(ContactEmail, HIDDEN) is not None
    return {
        "admin": admin,
        "u1": u1,
        "u2": u2,
        "u3": u3,
        "jane": jane,
        "john": john,
        "own": own,
    }


def _hidden_automation(db):
    """Jane in a campaign sequence: enrollment, run, attempt, goal reached."""
    from crm.automation.models import (
        Campaign,
        Enrollment,
        Goal,
        GoalAchievement,
        Sequence,
        Step,
        StepAttempt,
        StepRun,
    )
    from crm.core.db import utcnow

    campaign = Campaign(id=1, name="Hidden world campaign", status="published")
    sequence = Sequence(
        id=1, name="Hidden world sequence", campaign=campaign, position=2
    )
    step = Step(id=1, sequence=sequence, position=1, action_kind="apply_tag")
    goal = Goal(id=1, campaign=campaign, kind="manual", position=1, sequence=sequence)
    db.session.add_all([campaign, sequence, step, goal])
    db.session.flush()
    db.session.add_all(
        [
            Enrollment(id=HIDDEN, contact_id=HIDDEN, sequence_id=1),
            GoalAchievement(id=HIDDEN, goal_id=1, contact_id=HIDDEN),
        ]
    )
    db.session.flush()
    db.session.add(
        StepRun(
            id=HIDDEN,
            enrollment_id=HIDDEN,
            contact_id=HIDDEN,
            step_id=1,
            due_at=utcnow(),
            idempotency_key=f"1:{HIDDEN}:1",
            reason="zyx run reason",
        )
    )
    db.session.flush()
    db.session.add(StepAttempt(id=HIDDEN, run_id=HIDDEN, outcome="done"))
    db.session.commit()


def _hidden_web(db):
    """Jane's web visits (a visitor, a session, a page view) and a private and
    a public file in her file box, all with id HIDDEN (the public one HIDDEN+1)."""
    import io

    from crm.contacts.models import Contact
    from crm.core.db import utcnow
    from crm.files import services as files
    from crm.tracking.models import PageView, TrackedSite, Visitor, WebSession

    now = utcnow()
    db.session.add(
        TrackedSite(
            id=1, name="Hidden world site", origins="https://x.test", site_key="k1"
        )
    )
    db.session.flush()
    db.session.add(
        Visitor(
            id=HIDDEN,
            site_id=1,
            visitor_key="zyxhiddenvisitor01",
            contact_id=HIDDEN,
            user_agent="Zyxhidden browser",
        )
    )
    db.session.flush()
    db.session.add(
        WebSession(
            id=HIDDEN,
            visitor_id=HIDDEN,
            contact_id=HIDDEN,
            landing_page="https://x.test/zyxhidden",
            referrer="https://x.test/Qwvhidden",
        )
    )
    db.session.flush()
    db.session.add(
        PageView(
            id=HIDDEN,
            session_id=HIDDEN,
            visitor_id=HIDDEN,
            view_key="zyxhiddenview0001",
            url="https://x.test/zyxhidden",
            page="https://x.test/zyxhidden",
            title="Zyxhidden page",
            viewed_at=now,
        )
    )
    jane = db.session.get(Contact, HIDDEN)
    private = files.add_file(
        jane, name="Zyxhidden contract.pdf", stream=io.BytesIO(b"Zyxhidden bytes")
    )
    public = files.add_file(
        jane,
        name="Qwvhidden brochure.txt",
        stream=io.BytesIO(b"Qwvhidden bytes"),
        public=True,
    )
    db.session.flush()
    private.id, public.id = HIDDEN, HIDDEN + 1
    db.session.commit()


def _hidden_webforms(db):
    """Jane's web-form submission and her online purchase of order HIDDEN."""
    from crm.webforms.models import (
        ProductCheckout,
        Purchase,
        Submission,
        WebForm,
        WebFormField,
    )

    form = WebForm(id=1, name="Hidden world form", slug="hidden-world-form")
    form.fields.append(WebFormField(id=1, key="email", label="E-mail"))
    db.session.add_all([form, ProductCheckout(id=1, product_id=1, slug="lamp-page")])
    db.session.flush()
    db.session.add_all(
        [
            Submission(
                id=HIDDEN,
                form_id=1,
                contact_id=HIDDEN,
                email="zyx-hidden@example.com",
                data={"given_name": "Zyxhidden"},
                utm={"utm_source": "Qwvhidden"},
            ),
            Purchase(
                id=HIDDEN,
                key="zyxhiddenpurchasekey0001",
                checkout_id=1,
                contact_id=HIDDEN,
                order_id=HIDDEN,
            ),
        ]
    )
    db.session.commit()


def _hidden_mail(db):
    """Jane's e-mail: a message with a link, open, click and attachment, and
    her address's status with one history row, all with id HIDDEN."""
    from crm.mail.models import (
        Attachment,
        EmailAddressStatus,
        EmailStatusChange,
        Message,
        MessageClick,
        MessageLink,
        MessageOpen,
    )

    db.session.add(
        Message(
            id=HIDDEN,
            contact_id=HIDDEN,
            address="zyx-hidden@example.com",
            subject="Zyxhidden offer",
            purpose="marketing",
            state="sent",
        )
    )
    db.session.add(
        EmailAddressStatus(
            id=HIDDEN, address="zyx-hidden@example.com", status="SINGLE_OPT_IN"
        )
    )
    db.session.flush()
    db.session.add_all(
        [
            MessageLink(
                id=HIDDEN, message_id=HIDDEN, url="https://x.test/zyx", position=1
            ),
            MessageOpen(id=HIDDEN, message_id=HIDDEN),
            MessageClick(id=HIDDEN, message_id=HIDDEN, url="https://x.test/zyx"),
            Attachment(
                id=HIDDEN,
                message_id=HIDDEN,
                filename="zyx.pdf",
                stored_name="zyx",
                content_type="application/pdf",
                size=1,
            ),
            EmailStatusChange(
                id=HIDDEN, status_id=HIDDEN, new_status="SINGLE_OPT_IN", source="manual"
            ),
        ]
    )


def _hidden_opportunity(db, owner):
    """An opportunity of the hidden contact with a move, a check and a value."""
    from crm.opportunities.models import (
        ChecklistCheck,
        ChecklistItem,
        Opportunity,
        OpportunityField,
        OpportunityValue,
        Stage,
        StageMove,
    )

    stage = Stage(id=1, name="New", probability=10)
    won = Stage(id=2, name="Won", probability=100, kind="won")
    item = ChecklistItem(id=1, stage=stage, description="Call", required=True)
    field = OpportunityField(id=1, label="Seats", field_name="Seats")
    db.session.add_all([stage, won, item, field])
    db.session.flush()
    db.session.add(
        Opportunity(
            id=HIDDEN,
            title="Zyxhidden deal",
            contact_id=HIDDEN,
            stage_id=1,
            owner_id=owner.id,
            currency="USD",
        )
    )
    db.session.flush()
    db.session.add_all(
        [
            StageMove(id=HIDDEN, opportunity_id=HIDDEN, to_stage_id=1),
            ChecklistCheck(id=HIDDEN, opportunity_id=HIDDEN, item_id=1),
            OpportunityValue(
                id=HIDDEN, opportunity_id=HIDDEN, field_id=1, value="zyx custom value"
            ),
        ]
    )
    db.session.commit()


def _hidden_partner_world(db):
    """Jane as a referral partner who referred John, with a commission."""
    from decimal import Decimal

    from crm.core.db import utcnow
    from crm.partners.models import (
        Commission,
        CommissionRule,
        Referral,
        ReferralPartner,
    )

    db.session.add(
        ReferralPartner(
            id=HIDDEN,
            contact_id=HIDDEN,
            code="Zyxhidden1",
            code_key="zyxhidden1",
            status="active",
        )
    )
    db.session.flush()
    db.session.add_all(
        [
            Referral(
                id=HIDDEN,
                contact_id=HIDDEN + 1,
                partner_id=HIDDEN,
                kind="manual",
                referred_at=utcnow(),
            ),
            CommissionRule(
                id=HIDDEN,
                partner_id=HIDDEN,
                rule_key=f"partner:{HIDDEN}",
                kind="percent",
                percent=Decimal("10"),
            ),
        ]
    )
    db.session.flush()
    db.session.add(
        Commission(
            id=HIDDEN,
            partner_id=HIDDEN,
            order_id=HIDDEN,
            amount=Decimal("5.00"),
            currency="USD",
            basis=Decimal("50.00"),
            earn_key=f"{HIDDEN}:{HIDDEN}",
        )
    )
    db.session.commit()


def dump(db):
    """Every row of every data table, to compare before and after."""
    db.session.expire_all()
    rows = {}
    with db.engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            if table.name in ACTIVITY_TABLES:
                continue
            columns = [c for c in table.columns if c.name != "last_login_at"]
            query = select(*columns).order_by(*table.primary_key.columns)
            rows[table.name] = [tuple(r) for r in connection.execute(query)]
    return rows


_WRITE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.I)


class CommittedWrites:
    """The tables the app's engine wrote to in transactions that committed.

    A cheap stand-in for dumping every table after each request; the test
    still compares a full dump at the end. Writes rolled back (the whole
    transaction or a savepoint) do not count.
    """

    def __init__(self, engine):
        self.engine = engine
        self.open = {}  # connection -> stack of table sets, one per savepoint
        self.committed = set()
        self.hooks = {
            "after_cursor_execute": self._executed,
            "savepoint": self._savepoint,
            "rollback_savepoint": self._rollback_savepoint,
            "release_savepoint": self._release_savepoint,
            "commit": self._commit,
            "rollback": self._rollback,
        }
        for name, hook in self.hooks.items():
            event.listen(engine, name, hook)

    def close(self):
        for name, hook in self.hooks.items():
            event.remove(self.engine, name, hook)

    def _stack(self, conn):
        return self.open.setdefault(conn, [set()])

    def _executed(self, conn, cursor, statement, parameters, context, executemany):
        match = _WRITE.match(statement)
        if match and match.group(1) not in ACTIVITY_TABLES:
            self._stack(conn)[-1].add(match.group(1))

    def _savepoint(self, conn, name):
        self._stack(conn).append(set())

    def _rollback_savepoint(self, conn, name, context):
        stack = self._stack(conn)
        if len(stack) > 1:
            stack.pop()

    def _release_savepoint(self, conn, name, context):
        stack = self._stack(conn)
        if len(stack) > 1:
            inner = stack.pop()
            stack[-1] |= inner

    def _commit(self, conn):
        for tables in self.open.pop(conn, []):
            self.committed |= tables

    def _rollback(self, conn):
        self.open.pop(conn, None)

    def take(self) -> set:
        tables, self.committed = self.committed, set()
        return tables


def views(app):
    return app.extensions["crm_admin"]._views


def composite_keys(app):
    """Hidden keys of models whose primary key has several columns."""
    keys = []
    for view in views(app):
        model = getattr(view, "model", None)
        if model is not None and len(model.__table__.primary_key.columns) > 1:
            keys.append(
                ",".join(
                    [str(HIDDEN)]
                    + ["1"] * (len(model.__table__.primary_key.columns) - 1)
                )
            )
    return sorted(set(keys))


def probe_rules(app):
    """(rule, method) pairs to probe: every rule but static files and sign-in."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint.endswith("static") or rule.endpoint.startswith("auth."):
            continue
        for method in sorted(rule.methods & {"GET", "POST"}):
            yield rule, method


def path_values(rule, value, missing):
    """(hidden, missing) argument mappings for the rule's path."""
    args = sorted(a for a in rule.arguments if a not in NON_ID_ARGS)
    fixed = {a: NON_ID_ARGS[a] for a in rule.arguments if a in NON_ID_ARGS}
    if not args:
        yield fixed, fixed
        return
    for combo in itertools.product((value, str(OWN), "1"), repeat=len(args)):
        if value not in combo:
            continue
        hidden = dict(fixed, **dict(zip(args, combo, strict=True)))
        absent = {k: (missing if v == value else v) for k, v in hidden.items()}
        yield hidden, absent


def build(rule, args):
    try:
        return rule.build(args, append_unknown=False)[1]
    except Exception:  # a value the converter refuses (e.g. "9001,1" for int)
        return None


def action_names(app, rule):
    view = next(
        (v for v in views(app) if rule.endpoint.startswith(v.endpoint + ".")), None
    )
    return [name for name, _text in getattr(view, "_actions", [])] or ["delete"]


def requests_for(app, rule, method, value, missing, u1_id):
    """(label, hidden request, missing request) triples for one rule and method."""
    for hidden_args, missing_args in path_values(rule, value, missing):
        hidden_path, missing_path = build(rule, hidden_args), build(rule, missing_args)
        if hidden_path is None or missing_path is None:
            continue
        query = {name: value for name in ID_FIELDS}
        if method == "GET":
            yield (
                f"GET {hidden_path}",
                (hidden_path, query, None),
                (missing_path, {k: missing for k in query}, None),
            )
            continue
        for action in action_names(app, rule):
            form = {name: value for name in ID_FIELDS}
            form.update(
                rowid=value,
                action=action,
                principal=f"user:{u1_id}",
                level="edit",
                owner=str(u1_id),
                name="given_name",
                value="Hacked",
                given_name="Hacked",
                tag="Hacked",
            )
            absent = {k: (missing if v == value else v) for k, v in form.items()}
            yield (
                f"POST {hidden_path} action={action}",
                (hidden_path, {"id": value}, form),
                (missing_path, {"id": missing}, absent),
            )


def send(web, request):
    path, query, form = request
    if form is None:
        response = web.get(path, query_string=query, buffered=True)
    else:
        response = web.post(path, data=form, query_string=query, buffered=True)
    with web.client.session_transaction() as session:
        flashed = [message for _category, message in session.pop("_flashes", [])]
    return response, flashed


def normalise(body, *values):
    body = re.sub(r'nonce="[^"]+"', 'nonce=""', body)
    body = re.sub(r'(name="csrf_token"[^>]*value=")[^"]+"', r'\1"', body)
    body = re.sub(r'value="[^"]*"([^>]*name="csrf_token")', r'value=""\1', body)
    body = re.sub(r'data-csrf="[^"]+"', 'data-csrf=""', body)
    for value in sorted(values, key=len, reverse=True):
        body = body.replace(value, "#ID#")
    return body


def test_no_path_tells_a_hidden_record_from_a_missing_one(app, db, web, hidden_world):
    web.login("u1@example.com")
    before = dump(db)
    writes = CommittedWrites(db.engine)
    values = [str(HIDDEN), *composite_keys(app)]
    failures = []
    probed = 0
    for rule, method in probe_rules(app):
        for value in values:
            missing = value.replace(str(HIDDEN), str(MISSING))
            for label, hidden_request, missing_request in requests_for(
                app, rule, method, value, missing, hidden_world["u1"].id
            ):
                probed += 1
                hidden, hidden_flash = send(web, hidden_request)
                absent, absent_flash = send(web, missing_request)
                changed = writes.take()
                if changed:
                    failures.append(f"{label}: wrote to {sorted(changed)}")
                # Binary answers (the mail open pixel) are compared as bytes too.
                body = hidden.get_data().decode("utf-8", "replace")
                leaked = [s for s in SENTINELS if s.lower() in body.lower()]
                leaked += [
                    s for m in hidden_flash for s in SENTINELS if s.lower() in m.lower()
                ]
                if leaked:
                    failures.append(f"{label}: shows {leaked}")
                if hidden.status_code != absent.status_code:
                    failures.append(
                        f"{label}: {hidden.status_code} for hidden, "
                        f"{absent.status_code} for missing"
                    )
                    continue
                location = (hidden.headers.get("Location") or "").replace(value, "#ID#")
                if location != (absent.headers.get("Location") or "").replace(
                    missing, "#ID#"
                ):
                    failures.append(f"{label}: redirects differ ({location})")
                if hidden_flash != absent_flash:
                    failures.append(
                        f"{label}: flashes differ {hidden_flash} / {absent_flash}"
                    )
                if normalise(body, value) != normalise(
                    absent.get_data().decode("utf-8", "replace"), missing
                ):
                    failures.append(f"{label}: pages differ")
                if rule.endpoint.endswith(SINGLE_RECORD) or (
                    set(rule.arguments) - set(NON_ID_ARGS)
                ):
                    # 302 without a message: the view has that path turned off.
                    ok = hidden.status_code in (403, 404, 405) or (
                        hidden.status_code == 302
                        and (
                            not hidden_flash
                            or any(NOT_FOUND.search(m) for m in hidden_flash)
                            or all(SCREEN_REFUSED.search(m) for m in hidden_flash)
                        )
                    )
                    if method == "POST" and hidden.status_code in (302, 400):
                        # A refused form (e.g. list editing without the column)
                        # must still say nothing about the record.
                        ok = (
                            ok
                            or not hidden_flash
                            or all(
                                not re.search("saved|deleted|success", m, re.I)
                                for m in hidden_flash
                            )
                        )
                    if not ok:
                        failures.append(
                            f"{label}: {hidden.status_code} {hidden_flash} is neither "
                            "404 nor a not-found redirect"
                        )
    writes.close()
    assert probed > 100
    assert not failures, "\n".join(failures)
    assert dump(db) == before


def test_searches_and_filters_find_nothing_hidden(app, db, web, hidden_world):
    web.login("u1@example.com")
    failures = []
    for view in views(app):
        if not isinstance(view, SecuredModelView):
            continue
        url = f"/admin/{view.url.strip('/').removeprefix('admin/')}/"
        for term in ("Zyxhidden", "zyx-hidden@example.com", "5550199", "Secret"):
            response = web.get(url, query_string={"search": term}, buffered=True)
            if response.status_code == 403:
                break
            body = response.get_data(as_text=True)
            leaked = [
                s
                for s in SENTINELS
                if s.lower() in body.lower().replace(term.lower(), "")
            ]
            if leaked:
                failures.append(f"{url}?search={term}: shows {leaked}")
            nothing = web.get(
                url, query_string={"search": "nosuchthingatall"}, buffered=True
            )
            if normalise(body, term) != normalise(
                nothing.get_data(as_text=True), "nosuchthingatall"
            ):
                failures.append(
                    f"{url}?search={term}: differs from a search with no match"
                )
    owner = web.get(
        "/admin/contact/", query_string={"flt0_owner_is": hidden_world["u2"].id}
    )
    assert "Zyxhidden" not in owner.get_data(as_text=True)
    assert not failures, "\n".join(failures)


def test_ajax_lookups_answer_only_visible_rows_within_the_cap(
    app, db, web, hidden_world
):
    web.login("u1@example.com")
    cap = app.config["LOOKUP_PAGE_CAP"]
    checked = 0
    for view in views(app):
        loaders = dict(getattr(view, "_form_ajax_refs", None) or {})
        for name, loader in loaders.items():
            assert isinstance(loader, SecuredAjaxLoader), f"{view.endpoint}.{name}"
            url = f"{view.url.rstrip('/')}/ajax/lookup/"
            for term in ("", "zyx", "Zyxhidden", "qwv", str(HIDDEN)):
                response = web.get(
                    url, query_string={"name": name, "query": term, "limit": 100000}
                )
                if response.status_code == 403:
                    continue
                checked += 1
                assert response.status_code == 200, url
                results = response.get_json()
                ids = {str(item[0]) for item in results}
                assert str(HIDDEN) not in ids and str(HIDDEN + 1) not in ids, (
                    url,
                    term,
                )
                assert len(results) <= cap
                text_ = response.get_data(as_text=True)
                assert not [s for s in SENTINELS if s.lower() in text_.lower()], (
                    url,
                    term,
                )
    assert checked > 0


def test_every_admin_view_derives_from_the_secured_base(app):
    for view in views(app):
        assert isinstance(view, (SecuredModelView, SecuredView)) or (
            view.endpoint == "admin" and view.__class__.__name__ == "SecuredIndexView"
        ), view
        model = getattr(view, "model", None)
        if model is not None:
            assert policy.has_rule(model), (
                f"{view.endpoint}: {model.__name__} has no rule"
            )


def test_no_view_overrides_a_read_path_without_the_policy(app):
    reads = {
        "get_query": ("super()", "policy.scope"),
        "get_count_query": ("super()", "policy.scope"),
        "get_one": ("super()", "policy.scope", "get_visible"),
        "get_list": ("super()", "get_query()"),
    }
    problems = []
    for view in views(app):
        for cls in type(view).__mro__:
            if cls in (SecuredModelView, ModelView) or not issubclass(
                cls, SecuredModelView
            ):
                continue
            for name, needles in reads.items():
                if name in vars(cls):
                    source = inspect.getsource(vars(cls)[name])
                    if not any(n in source for n in needles):
                        problems.append(f"{cls.__name__}.{name}")
    assert problems == []


def test_registering_a_view_outside_the_secured_base_fails(app_config, monkeypatch):
    from crm import create_app
    from crm.contacts.models import Contact
    from crm.core import registry
    from crm.extensions import db

    original = registry._domain_views

    def with_a_plain_view():
        yield from original()
        yield ModelView(Contact, db, endpoint="plain_contacts")

    monkeypatch.setattr(registry, "_domain_views", with_a_plain_view)
    with pytest.raises(TypeError, match="secured admin base"):
        create_app(app_config)


def test_hidden_world_is_really_hidden_and_visible_to_its_owner(db, hidden_world):
    from crm.contacts.models import Contact

    def ids(user):
        query = select(Contact.id).where(policy.scope(Contact, user))
        return set(db.session.scalars(query))

    assert ids(hidden_world["u1"]) == {OWN}
    assert {HIDDEN, HIDDEN + 1} <= ids(hidden_world["u2"])


def test_committed_writes_counts_commits_and_forgets_rollbacks(db):
    from crm.tags.models import TagCategory

    writes = CommittedWrites(db.engine)
    try:
        db.session.add(TagCategory(name="Rolled back"))
        db.session.flush()
        db.session.rollback()
        with db.session.begin_nested():
            db.session.add(TagCategory(name="Kept"))
        savepoint = db.session.begin_nested()
        db.session.add(TagCategory(name="Undone"))
        db.session.flush()
        savepoint.rollback()
        assert writes.take() == set()
        db.session.commit()
        assert writes.take() == {"tag_categories"}
        assert writes.take() == set()
    finally:
        writes.close()


def test_only_the_listed_endpoints_answer_without_a_sign_in(app, db, client):
    unlisted = []
    for rule in app.url_map.iter_rules():
        endpoint = rule.endpoint
        if endpoint.endswith("static") or endpoint.startswith("auth."):
            continue
        if endpoint in PUBLIC_ENDPOINTS:
            continue
        path = build(rule, {a: "1" for a in rule.arguments} | NON_ID_ARGS)
        if path is None:
            continue
        for method in sorted(rule.methods & {"GET", "POST"}):
            response = client.open(path, method=method)
            location = response.headers.get("Location", "")
            if response.status_code in (400, 401, 403, 404, 405):
                continue
            if response.status_code == 302 and "/login" in location:
                continue
            unlisted.append(f"{method} {path} ({endpoint}): {response.status_code}")
    assert unlisted == []
    assert set(PUBLIC_ENDPOINTS) <= {r.endpoint for r in app.url_map.iter_rules()}
