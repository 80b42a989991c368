"""The rules of web forms: what a form may be, and what a submission does.

A submission is checked completely before anything is written; then, in the
caller's one transaction, it creates or updates the contact by the form's
duplicate rule, marks the e-mail's status as a sign-up, applies the form's
tags, puts the files sent into the contact's file box, keeps a Submission
row with its source, records the "form_submitted" event (which campaign
goals and score rules hear), credits a referral partner and tells the
tracking code who the visitor is. Suspect submissions are kept as held rows
and change no contact until an administrator approves; so is one whose
update of an existing contact the record's rules or its file box refuse (the
reason may quote what the contact holds, which no visitor sees). Mail to the
notified user and the double opt-in link go out after the commit.
"""

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError

from crm.activity import kinds
from crm.activity import services as activity
from crm.contacts import services as contacts
from crm.contacts.models import Contact
from crm.core.db import utcnow
from crm.core.errors import ServiceError
from crm.core.signals import visitor_identified
from crm.customfields import services as customfields
from crm.extensions import db
from crm.mail import services as mail
from crm.mail import statuses
from crm.partners import services as partners
from crm.partners import tracking as links
from crm.tags import services as tags
from crm.webforms import fields as catalogue
from crm.webforms import spam, uploads
from crm.webforms.models import (
    DUPLICATE_RULES,
    EXITS,
    Submission,
    WebForm,
    new_slug,
)

log = logging.getLogger(__name__)

WEB_FORM_SOURCE = "web_form"
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{5,63}$")
VISITOR_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
HOLD_REASONS = {
    "honeypot": _l("hidden field filled"),
    "too_fast": _l("filled in too fast"),
    "rate_limit": _l("too many submissions"),
    "invalid": _l("no longer valid when processed"),
    "failed": _l("could not be processed"),
}


def _describe(event):
    data = event.data or {}
    how = _("New contact") if data.get("new") else _("Existing contact updated")
    parts = [Markup("{}").format(how)]
    source = data.get("utm", {}).get("utm_source") if data.get("utm") else None
    if source:
        parts.append(Markup("{}: {}").format(_("Source"), source))
    if data.get("files"):
        parts.append(
            Markup("{}: {}").format(_("Files"), ", ".join(map(str, data["files"])))
        )
    if data.get("files_not_kept"):
        parts.append(
            Markup("{}: {}").format(
                _("Files not kept"), ", ".join(map(str, data["files_not_kept"]))
            )
        )
    return Markup(" · ").join(parts)


kinds.register("form_submitted", _l("Web form submitted"), "form", _describe)


# Defining forms -------------------------------------------------------------


def frame_origins(form: WebForm) -> list[str]:
    """The origins (scheme://host[:port]) the form's allowed URLs name."""
    origins = []
    for raw in form.allowed_list:
        parsed = links.parse_url(raw)
        if parsed is not None:
            origin = links.Parsed(parsed.scheme, parsed.host, parsed.port, "", "", "")
            value = origin.url().rstrip("/")
            if value not in origins:
                origins.append(value)
    return origins


def redirect_target(form: WebForm) -> str | None:
    """The checked URL the form sends visitors to, when its exit is a redirect."""
    if form.exit != "redirect":
        return None
    return links.allowed_destination(form.redirect_url, form.allowed_list)


def check_form(form: WebForm) -> None:
    """Refuse a form definition that could not work; raises ServiceError."""
    form.name = (form.name or "").strip()
    if not form.name:
        raise ServiceError(_("Give the form a name."), "name")
    form.slug = (form.slug or "").strip().lower() or new_slug()
    form.duplicate_rule = form.duplicate_rule or "email"
    form.exit = form.exit or "message"
    if form.min_fill_seconds is None:
        form.min_fill_seconds = 3
    for text in ("title", "intro", "submit_label", "thank_you", "redirect_url"):
        setattr(form, text, (getattr(form, text) or "").strip())
    form.allowed_urls = "\n".join(form.allowed_list)
    if not SLUG.match(form.slug):
        raise ServiceError(
            _(
                "The public address may use lower-case letters, digits and dashes, "
                "6 to 64 of them."
            ),
            "slug",
        )
    if form.duplicate_rule not in DUPLICATE_RULES:
        raise ServiceError(_("Choose a duplicate check."), "duplicate_rule")
    if form.exit not in EXITS:
        raise ServiceError(_("Choose what the visitor sees after submitting."), "exit")
    if not 0 <= (form.min_fill_seconds or 0) <= 3600:
        raise ServiceError(
            _("The minimum fill time is 0 to 3600 seconds."), "min_fill_seconds"
        )
    for raw in form.allowed_list:
        if links.parse_url(raw) is None:
            raise ServiceError(
                _(
                    "%(value)s is not an absolute http(s) address.",
                    value=repr(raw),
                ),
                "allowed_urls",
            )
    if form.exit == "redirect" and redirect_target(form) is None:
        raise ServiceError(
            _(
                "The redirect address must start with one of the allowed "
                "addresses of this form."
            ),
            "redirect_url",
        )
    _check_fields(form)


def _check_fields(form: WebForm) -> None:
    seen = set()
    for position, row in enumerate(form.fields, start=1):
        row.key = (row.key or "").strip()
        if (
            row.key not in catalogue.CONTACT_FIELDS
            and not catalogue.is_file(row.key)
            and catalogue.custom_field_of(row.key) is None
        ):
            raise ServiceError(_("Choose the contact field of every row."), "fields")
        if row.key in seen:
            raise ServiceError(
                _(
                    "%(label)s appears twice on the form.",
                    label=catalogue.default_label(row.key),
                ),
                "fields",
            )
        seen.add(row.key)
        row.label = (row.label or "").strip() or catalogue.default_label(row.key)
        row.fixed_value = (row.fixed_value or "").strip()
        row.position = row.position or position
        _check_file_settings(row)
        if row.hidden:
            if not row.fixed_value:
                raise ServiceError(
                    _("The hidden field %(label)s needs its value.", label=row.label),
                    "fields",
                )
            catalogue.check(row.key, row.fixed_value, required=True, label=row.label)
    visible = [row for row in form.fields if not row.hidden]
    if not visible:
        raise ServiceError(_("A form needs at least one field to fill in."), "fields")
    if form.duplicate_rule != "none" and not any(row.key == "email" for row in visible):
        raise ServiceError(
            _(
                "This duplicate check compares e-mail addresses, so the form needs "
                "an E-mail field."
            ),
            "duplicate_rule",
        )


def _check_file_settings(row) -> None:
    """A file field is filled by the visitor and only adds files; refuse the
    settings that cannot apply to it (or that apply to file fields only)."""
    if not catalogue.is_file(row.key):
        if row.multiple:
            raise ServiceError(
                _(
                    "Several files applies to file fields only: untick it for "
                    "%(label)s.",
                    label=row.label,
                ),
                "fields",
            )
        return
    if row.hidden or row.fixed_value:
        raise ServiceError(
            _(
                "The file field %(label)s cannot be hidden or have a fixed value: "
                "visitors choose its files.",
                label=row.label,
            ),
            "fields",
        )
    if row.overwrite:
        raise ServiceError(
            _(
                "The files of %(label)s are added to the file box and never "
                "overwrite anything: untick May overwrite.",
                label=row.label,
            ),
            "fields",
        )


def has_files(form: WebForm) -> bool:
    """Whether the form has a file field (its page then posts multipart)."""
    return any(catalogue.is_file(row.key) for row in form.fields)


def active_form(slug) -> WebForm | None:
    """The active form at this public address, or None."""
    if not isinstance(slug, str) or not SLUG.match(slug):
        return None
    # The fields come in the same query: every page and submission reads them.
    form = db.session.scalar(
        db.select(WebForm)
        .where(WebForm.slug == slug)
        .options(joinedload(WebForm.fields))
    )
    return form if form is not None and form.active else None


# Submissions ----------------------------------------------------------------


@dataclass
class Meta:
    """Where a submission came from."""

    ip: str = ""
    user_agent: str = ""
    page_url: str = ""
    utm: dict = field(default_factory=dict)
    visitor_id: str = ""
    referral_cookie: str = ""
    token_age: float = 0.0
    honeypot: str = ""


@dataclass
class Outcome:
    state: str  # processed, held, invalid, refused
    errors: dict = field(default_factory=dict)
    submission: Submission | None = None
    contact: Contact | None = None
    after_commit: list[Callable] = field(default_factory=list)


def clean_visitor_id(raw) -> str:
    text = (raw or "").strip() if isinstance(raw, str) else ""
    return text if VISITOR_ID.match(text) else ""


def check_values(form: WebForm, values: dict, files=None) -> tuple[dict, dict, dict]:
    """(checked values, typed values, errors by field key) for a submission.

    Hidden fields take their fixed value whatever was posted. ``files`` are
    the files sent, by field key (uploads.Sent); only their sizes are looked
    at here, nothing is stored.
    """
    checked, typed, errors = {}, {}, {}
    for row in form.fields:
        if catalogue.is_file(row.key):
            try:
                checked[row.key] = uploads.check(row, (files or {}).get(row.key, []))
            except ServiceError as exc:
                errors[row.key] = exc.message
            continue
        raw = row.fixed_value if row.hidden else values.get(row.key)
        if isinstance(raw, list) and catalogue.input_kind(row.key)[0] != "multi":
            raw = raw[0] if raw else None
        typed[row.key] = raw
        try:
            checked[row.key] = catalogue.check(
                row.key, raw, required=row.required, label=row.label
            )
        except ServiceError as exc:
            errors[row.key] = exc.message
    if not errors:
        too_much = uploads.total_problem(form, checked)
        if too_much:
            errors[too_much[0]] = too_much[1]
    return checked, typed, errors


def submit(form: WebForm, values: dict, meta: Meta, files=None) -> Outcome:
    """Take one submission: refuse, answer with field errors, hold or process.

    The spam rules run before any file is stored: a submission held for its
    honeypot or fill time keeps the files' names only, a queued one or one
    held for the rate keeps their bytes as pending files.
    """
    rate = spam.rate_state(form.id, meta.ip)
    if rate == "hard":
        log.warning("web form %s: submission from %s refused (rate)", form.id, meta.ip)
        return Outcome("refused")
    checked, typed, errors = check_values(form, values, files)
    if errors:
        return Outcome("invalid", errors)

    submission = Submission(
        form_id=form.id,
        data={k: v for k, v in typed.items() if v not in (None, "")},
        email=(checked.get("email") or "")[:254],
        ip=meta.ip[:64],
        user_agent=meta.user_agent[:255],
        page_url=meta.page_url[:2000],
        utm={k: str(v)[:200] for k, v in meta.utm.items() if k in UTM_KEYS and v},
        visitor_id=clean_visitor_id(meta.visitor_id),
        referral_cookie=(meta.referral_cookie or "")[:500],
        created_at=utcnow(),
    )
    reason = spam.hold_reason(form, meta.token_age, meta.honeypot, rate)
    if reason:
        submission.state = "held"
        submission.hold_reason = reason
        if reason in uploads.NO_BYTES_REASONS or not uploads.room_for_held(
            form, checked, spam.setting("WEBFORMS_HELD_FILES_MAX_BYTES")
        ):
            uploads.note_dropped(submission, form, checked)
        else:
            uploads.keep_pending(submission, form, checked)
        db.session.add(submission)
        db.session.flush()
        log.info("web form %s: submission %s held (%s)", form.id, submission.id, reason)
        return Outcome("held", submission=submission)

    if spam.setting("WEBFORMS_PROCESS_LATER"):
        # No flush: the caller's commit writes the row; nothing needs its id.
        submission.state = "queued"
        uploads.keep_pending(submission, form, checked)
        db.session.add(submission)
        return Outcome("queued", submission=submission)

    db.session.add(submission)
    db.session.flush()
    try:
        # A refusal undoes the savepoint only: the submission stays, held.
        with db.session.begin_nested():
            return process(form, checked, submission)
    except ContactRefused as exc:
        return _held_for_review(form, checked, submission, exc.message)


class ContactRefused(ServiceError):
    """The record's rules, or its file box, refused an existing contact's update.

    Such a message may quote what the contact holds (another number, an
    address, the room its files take), so a visitor never sees it: the
    submission waits for someone who may see the contact.
    """


def _held_for_review(form, checked, submission, detail) -> Outcome:
    """Hold a submission whose contact could not be updated; keep its files."""
    if uploads.room_for_held(
        form, checked, spam.setting("WEBFORMS_HELD_FILES_MAX_BYTES")
    ):
        uploads.keep_pending(submission, form, checked)
    else:
        uploads.note_dropped(submission, form, checked)
    _hold(submission, "failed", detail)
    db.session.flush()
    return Outcome("held", submission=submission)


def process(form: WebForm, checked: dict, submission: Submission) -> Outcome:
    """Create or update the contact from checked values and record everything."""
    contact = contacts.find_duplicate(
        form.duplicate_rule,
        checked.get("email"),
        checked.get("given_name"),
        checked.get("family_name"),
        checked.get("company"),
    )
    is_new = contact is None
    if is_new:
        contact = Contact(source_type="WEBFORM")
        db.session.add(contact)

    custom = {}
    with db.session.no_autoflush:
        for row in form.fields:
            if catalogue.is_file(row.key):
                continue
            value = checked.get(row.key)
            overwrite = is_new or row.overwrite
            if row.key.startswith(catalogue.CUSTOM):
                current = (
                    catalogue.current_value(contact, row.key) if not is_new else None
                )
                if value is not None and (overwrite or current in (None, "")):
                    custom[catalogue.custom_field_of(row.key)] = value
                continue
            catalogue.write(contact, row.key, value, overwrite=overwrite)
        if is_new:
            contacts.require_contact_point(contact)
        try:
            contacts.prepare(contact, None, is_new=is_new)
        except ServiceError as exc:
            if is_new:
                raise  # about the visitor's own values only
            raise ContactRefused(exc.message) from None
    db.session.flush()
    if custom:
        customfields.set_values(contact, custom)
    try:
        filed, not_kept = uploads.into_file_box(form, contact, submission, checked)
    except ServiceError as exc:
        if is_new:
            raise
        # "does not fit in this file box (700 B of 1.5 KB used)" is the
        # contact's, not the visitor's.
        raise ContactRefused(exc.message, exc.field) from None

    after = []
    address = checked.get("email")
    if address:
        after += _sign_up(contact, address, form)
    for tag in form.tags:
        tags.apply_tag(contact, tag, via=f"webform:{form.id}")

    submission.contact_id = contact.id
    submission.state = "processed"
    submission.processed_at = utcnow()
    activity.record(
        contact.id,
        "form_submitted",
        subject=_("Web form: %(name)s", name=form.name),
        ref=("webform", form.id),
        target=f"form:{form.id}",
        occurred_at=submission.created_at,
        data={
            "submission": submission.id,
            "new": is_new,
            "utm": submission.utm or {},
            "ip": submission.ip,
            "page": submission.page_url,
            **({"files": filed} if filed else {}),
            **({"files_not_kept": not_kept} if not_kept else {}),
        },
    )
    partners.attribute(
        contact.id, submission.referral_cookie or None, f"web form: {form.name}"
    )
    if submission.visitor_id:
        visitor_identified.send(
            current_app._get_current_object(),
            contact=contact,
            visitor_id=submission.visitor_id,
        )
    if form.notify_user is not None and form.notify_user.is_active:
        after.append(_notifier(form, contact))
    log.info(
        "web form %s: submission %s %s contact %s",
        form.id,
        submission.id,
        "created" if is_new else "updated",
        contact.id,
    )
    return Outcome(
        "processed", submission=submission, contact=contact, after_commit=after
    )


def _sign_up(contact, address, form) -> list[Callable]:
    """Mark the address as a web-form sign-up; the double opt-in link goes later."""
    row = mail.status_for(address)
    if form.double_opt_in:
        if row.status in statuses.MARKETABLE or row.status in statuses.CONFIRM_REFUSED:
            return []
        contact_id = contact.id
        return [lambda: mail.send_confirmation(contact_id, address)]
    if row.status == statuses.NON_MARKETABLE or row.status in statuses.OPT_IN_FROM:
        mail.set_status(
            row,
            statuses.SINGLE_OPT_IN,
            source=WEB_FORM_SOURCE,
            reason=_("web form"),
            data={"form": form.id},
        )
    return []


def _notifier(form, contact) -> Callable:
    user_id, name, contact_id = form.notify_user_id, form.name, contact.id
    label = contact.display_name

    def notify():
        from crm.auth.models import User

        user = db.session.get(User, user_id)
        if user is not None:
            mail.notify_user(
                user,
                _("New web form submission: %(form)s", form=name),
                _(
                    "%(contact)s submitted the web form %(form)s (contact %(id)s).",
                    contact=label,
                    form=name,
                    id=contact_id,
                ),
            )

    return notify


def run_after_commit(actions) -> None:
    """Send what waits for the commit; a mail problem is logged, never shown."""
    for action in actions:
        try:
            action()
        except ServiceError as exc:
            log.warning("web form follow-up not sent: %s", exc.message)
        except Exception:
            db.session.rollback()
            log.exception("web form follow-up failed")
            continue
        db.session.commit()


# The queue -------------------------------------------------------------------


def process_queued(limit: int = 100) -> int:
    """Turn queued submissions into contacts, oldest first; returns how many.

    Each submission is claimed (queued -> processing) and processed in its
    own transaction, so two workers never take the same one and a crash puts
    it back in the queue. One that no longer passes the checks is held.
    """
    ids = db.session.scalars(
        db.select(Submission.id)
        .where(Submission.state == "queued")
        .order_by(Submission.id)
        .limit(limit)
    ).all()
    db.session.rollback()
    done = 0
    for submission_id in ids:
        claimed = db.session.execute(
            db.update(Submission)
            .where(Submission.id == submission_id, Submission.state == "queued")
            .values(state="processing")
        ).rowcount
        if not claimed:
            db.session.rollback()
            continue
        submission = db.session.get(Submission, submission_id)
        try:
            outcome = _process_claimed(submission)
            db.session.commit()
        except (IntegrityError, StaleDataError):
            # Its contact changed (or one was created) meanwhile: the claim
            # is undone with the rest, and the next run takes it again.
            db.session.rollback()
            log.warning("queued submission %s crossed another change", submission_id)
            continue
        if outcome is not None:
            run_after_commit(outcome.after_commit)
        done += 1
    return done


def _process_claimed(submission: Submission) -> Outcome | None:
    checked, _typed, errors = _stored_values(submission)
    if errors:
        _hold(submission, "invalid", " ".join(errors.values()))
        return None
    try:
        # A failure undoes the savepoint only: no contact, no file half-moved,
        # and the pending files stay for a later approval.
        with db.session.begin_nested():
            return process(submission.form, checked, submission)
    except ServiceError as exc:
        _hold(submission, "failed", exc.message)
        return None


def _stored_values(submission: Submission) -> tuple[dict, dict, dict]:
    """check_values for a stored submission, with the files it keeps."""
    form = submission.form
    files = uploads.from_submission(submission) if has_files(form) else None
    return check_values(form, submission.data or {}, files)


def _hold(submission: Submission, reason: str, detail: str) -> None:
    submission.state = "held"
    submission.hold_reason = reason
    submission.hold_detail = detail
    log.warning("web form submission %s held (%s): %s", submission.id, reason, detail)


def record_failure(submission_id: int, detail: str) -> None:
    """Note on a held submission why its approval failed (after the rollback)."""
    submission = db.session.get(Submission, submission_id)
    if submission is not None and submission.state == "held":
        submission.hold_detail = detail
        db.session.flush()


# Review of held submissions ---------------------------------------------------


def approve(submission: Submission, actor) -> Outcome:
    """Process a held submission as if it had not been suspect."""
    if submission.state != "held":
        raise ServiceError(_("Only held submissions can be approved."))
    form = submission.form
    checked, _typed, errors = _stored_values(submission)
    if errors:
        raise ServiceError(
            _(
                "Submission %(id)s no longer passes the form's checks: %(problem)s",
                id=submission.id,
                problem=" ".join(errors.values()),
            )
        )
    # Two reviewers pressing Approve at once: only the first takes it.
    if not _take_held(submission, "processing"):
        raise ServiceError(_("Only held submissions can be approved."))
    outcome = process(form, checked, submission)
    log.info(
        "held submission %s approved by %s",
        submission.id,
        getattr(actor, "email", None),
    )
    return outcome


def _take_held(submission: Submission, state: str) -> bool:
    """Move a held submission to ``state`` if it is still held in the database.

    The row is claimed there, not on what this session read earlier, so of
    two reviewers acting at once only the first takes it.
    """
    return bool(
        db.session.execute(
            db.update(Submission)
            .where(Submission.id == submission.id, Submission.state == "held")
            .values(state=state)
            .execution_options(synchronize_session=False)
        ).rowcount
    )


def discard(submission: Submission, actor) -> None:
    """Mark a held submission as spam; it never becomes a contact, and the
    bytes of its files are deleted once this is committed."""
    if submission.state != "held":
        raise ServiceError(_("Only held submissions can be discarded."))
    # A reviewer who approved or discarded it meanwhile has taken it.
    if not _take_held(submission, "discarded"):
        raise ServiceError(_("Only held submissions can be discarded."))
    uploads.drop(submission)
    submission.state = "discarded"
    submission.processed_at = utcnow()
    db.session.flush()
    log.info(
        "held submission %s discarded by %s",
        submission.id,
        getattr(actor, "email", None),
    )
