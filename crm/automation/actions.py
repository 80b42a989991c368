"""What each kind of step does when it runs.

An action takes the claimed run, its contact and the step's settings, and
returns an ``Outcome``. It adds and flushes; the worker commits. Actions are
safe to run again for the same key: tags and owners are set, not added.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import select

from crm.automation.models import DONE, SKIPPED
from crm.core.errors import ServiceError
from crm.extensions import db

logger = logging.getLogger(__name__)

#: How late each kind of step may still run; None means any time.
MAX_LATENESS = {
    "send_email": timedelta(days=1),
    "apply_tag": None,
    "remove_tag": None,
    "assign_owner": None,
    "set_field": None,
    "start_sequence": None,
    "create_task": None,
    "create_note": None,
}

#: Contact fields a "set a field" step may change.
SETTABLE_FIELDS = (
    "contact_type",
    "lead_source",
    "job_title",
    "referral_code",
    "time_zone",
    "preferred_locale",
)


@dataclass(frozen=True)
class Outcome:
    status: str  # DONE or SKIPPED
    detail: str = ""
    #: What the step produced, e.g. "message:12".
    ref: str | None = None
    #: Take the contact out of the sequence (consent withdrawn, ...).
    stop: bool = False


_actions = {}


def action(kind: str):
    def register(fn):
        _actions[kind] = fn
        return fn

    return register


def max_lateness(step) -> timedelta | None:
    """The step's own limit, else the default of its kind."""
    if step.max_lateness_minutes is not None:
        return timedelta(minutes=step.max_lateness_minutes)
    return MAX_LATENESS.get(step.action_kind)


def execute(run, contact, now) -> Outcome:
    """Run the step of ``run`` for ``contact``."""
    fn = _actions.get(run.step.action_kind)
    if fn is None:
        raise ServiceError(_("This step has an action of an unknown kind."))
    return fn(run, contact, run.step.action or {}, now)


_checks = {}


def check(kind: str):
    """Register the edit-time check of a kind's settings."""

    def register(fn):
        _checks[kind] = fn
        return fn

    return register


def check_settings(kind: str, settings: dict | None) -> None:
    """Refuse step settings that could never run, with one sentence."""
    fn = _checks.get(kind)
    if fn is not None:
        fn(settings or {})


#: The header that carries a run's idempotency key on every e-mail it sends,
#: the same on every try, so a receiver (and the tests) can tell a repeat.
KEY_HEADER = "X-CRM-Idempotency-Key"


def _email_content(contact, settings) -> tuple[str, str, int | None]:
    """Subject, HTML and template id: from a stored template, or the step's own,
    with the contact's merge fields filled in either way."""
    from crm.mail import merge
    from crm.mail.models import EmailTemplate

    template_id = settings.get("template_id")
    subject, html = settings.get("subject", ""), settings.get("html", "")
    template = None
    if template_id:
        template = db.session.get(EmailTemplate, template_id)
        if template is None:
            raise ServiceError(_("The step's e-mail template no longer exists."))
        subject, html = template.subject, template.html
    # Reading the contact's fields costs queries; text without any needs none.
    context = merge.context_for(contact) if merge.has_fields(subject + html) else {}
    return (
        merge.render(subject, context, html=False),
        merge.render(html, context, html=True),
        template.id if template else None,
    )


def email_item(run, contact, settings):
    """The e-mail a send step makes for ``contact``, or the Outcome that ends it.

    A run that an earlier attempt had prepared a message for (its worker
    died) names that message, so it is reused rather than made twice.
    """
    from crm.mail.services import Outgoing

    address = contact.primary_email
    if not address:
        return Outcome(SKIPPED, _("The contact has no e-mail address."))
    subject, html, template_id = _email_content(contact, settings)
    reuse = None
    if (run.result_ref or "").startswith("message:"):
        reuse = int(run.result_ref.partition(":")[2])
    return Outgoing(
        contact_id=contact.id,
        address=address,
        subject=subject,
        html=html,
        purpose="marketing",
        template_id=template_id,
        headers={KEY_HEADER: run.idempotency_key},
        reuse_id=reuse,
    )


def email_outcome(prepared) -> Outcome:
    """What a prepared and delivered e-mail means for its step.

    A refusal (consent, read at send time) skips the step and stops the
    sequence; a transport failure raises, so the step is tried again.
    """
    if prepared.delivered:
        return Outcome(DONE, _("E-mail sent."), ref=f"message:{prepared.id}")
    if prepared.state == "refused":
        return Outcome(SKIPPED, prepared.error, stop=True)
    raise ServiceError(prepared.error)


@action("send_email")
def send_email(run, contact, settings, now) -> Outcome:
    # The one send function checks consent at the moment of sending.
    from crm.mail.services import send_many

    item = email_item(run, contact, settings)
    if isinstance(item, Outcome):
        return item
    [prepared] = send_many([item])
    return email_outcome(prepared)


def _tag(settings):
    from crm.tags.models import Tag

    tag = db.session.get(Tag, settings.get("tag_id"))
    if tag is None:
        raise ServiceError(_("The step's tag no longer exists."))
    return tag


@action("apply_tag")
def apply_tag(run, contact, settings, now) -> Outcome:
    from crm.tags import services as tags

    tag = _tag(settings)
    tags.apply_tag(contact, tag, via=f"sequence:{run.step.sequence_id}")
    return Outcome(DONE, _("Tag %(name)s applied.", name=tag.name))


@action("remove_tag")
def remove_tag(run, contact, settings, now) -> Outcome:
    from crm.tags import services as tags

    tag = _tag(settings)
    if not tags.remove_tag(contact, tag):
        return Outcome(DONE, _("Tag %(name)s was not applied.", name=tag.name))
    return Outcome(DONE, _("Tag %(name)s removed.", name=tag.name))


@action("assign_owner")
def assign_owner(run, contact, settings, now) -> Outcome:
    from crm.access.services import reassign_owner
    from crm.auth.models import User

    user = db.session.get(User, settings.get("user_id"))
    if user is None:
        raise ServiceError(_("The step's new owner no longer exists."))
    if contact.owner_id != user.id:
        reassign_owner(contact, user, actor=None)
    return Outcome(DONE, _("Owner set to %(user)s.", user=user.email))


@action("set_field")
def set_field(run, contact, settings, now) -> Outcome:
    field = settings.get("field")
    if field not in SETTABLE_FIELDS:
        raise ServiceError(_("This step sets a field that cannot be set."))
    value = settings.get("value")
    setattr(contact, field, None if value in (None, "") else str(value))
    db.session.flush()
    return Outcome(DONE, _("Field %(field)s set.", field=field))


@action("start_sequence")
def start_sequence(run, contact, settings, now) -> Outcome:
    from crm.automation import services
    from crm.automation.models import Sequence

    sequence = db.session.scalar(
        select(Sequence).where(Sequence.id == settings.get("sequence_id"))
    )
    if sequence is None:
        raise ServiceError(_("The step's sequence no longer exists."))
    services.start(contact, sequence, now=now)
    return Outcome(DONE, _("Sequence %(name)s started.", name=sequence.name))


# Tasks and notes -------------------------------------------------------------
#
# Titles, descriptions and bodies may hold merge fields such as
# ~Contact.FirstName~; they are rendered for the contact when the step runs.


def _merge(contact, source, *, html=False) -> str:
    from crm.mail import merge

    if not source:
        return ""
    return merge.render(source, merge.context_for(contact), html=html)


def _check_merge(source, *, html=False) -> None:
    from crm.mail import merge

    if source:
        merge.render(source, merge.sample_context(), html=html)


def _whole_number(value, message) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ServiceError(message) from None
    if number < 0 or str(value).strip() not in (str(number), f"{number}.0"):
        raise ServiceError(message)
    return number


def _named_user(settings):
    from crm.auth.models import User

    if settings.get("user_id") in (None, ""):
        return None
    user = db.session.get(User, settings.get("user_id"))
    if user is None:
        raise ServiceError(_("The step's assigned user no longer exists."))
    return user


@check("create_task")
def _check_task(settings) -> None:
    from crm.tasks.models import PRIORITIES, TASK_TYPES

    if not str(settings.get("title") or "").strip():
        raise ServiceError(_("A create-task step needs a title."))
    _check_merge(settings.get("title"))
    _check_merge(settings.get("description"))
    if settings.get("priority", "essential") not in dict(PRIORITIES):
        raise ServiceError(
            _("The task priority must be critical, essential or non_essential.")
        )
    if settings.get("task_type", "other") not in dict(TASK_TYPES):
        raise ServiceError(_("The task type must be call, email, follow_up or other."))
    _whole_number(
        settings.get("due_in_days", 0),
        _("Due in days must be a whole number of days, 0 or more."),
    )
    _named_user(settings)


@action("create_task")
def create_task(run, contact, settings, now) -> Outcome:
    from crm.tasks import services as tasks
    from crm.tasks.models import Task

    _check_task(settings)
    user = _named_user(settings)
    days = _whole_number(settings.get("due_in_days", 0), "")
    task = Task(
        contact_id=contact.id,
        title=_merge(contact, settings.get("title")),
        description=_merge(contact, settings.get("description")) or None,
        task_type=settings.get("task_type", "other"),
        priority=settings.get("priority", "essential"),
        due_at=now + timedelta(days=days),
        # Keap assigns to the contact's owner unless the step names a user.
        assigned_to_id=user.id if user is not None else contact.owner_id,
    )
    tasks.save_task(task, None, is_new=True)
    return Outcome(
        DONE, _("Task %(title)s created.", title=task.title), f"task:{task.id}"
    )


@check("create_note")
def _check_note(settings) -> None:
    from crm.tasks.models import NOTE_TYPES

    if not str(settings.get("title") or "").strip():
        raise ServiceError(_("A create-note step needs a title."))
    _check_merge(settings.get("title"))
    _check_merge(settings.get("body"), html=True)
    if settings.get("note_type", "other") not in dict(NOTE_TYPES):
        raise ServiceError(
            _("The note type must be call, email, fax, letter, appointment or other.")
        )


@action("create_note")
def create_note(run, contact, settings, now) -> Outcome:
    from crm.tasks import services as tasks
    from crm.tasks.models import Note

    _check_note(settings)
    note = Note(
        contact_id=contact.id,
        note_type=settings.get("note_type", "other"),
        title=_merge(contact, settings.get("title")),
        body=_merge(contact, settings.get("body"), html=True) or None,
    )
    tasks.save_note(note, None, is_new=True)
    return Outcome(
        DONE, _("Note %(title)s added.", title=note.title), f"note:{note.id}"
    )
