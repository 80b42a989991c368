"""The demo campaign: applying the tag "Demo: Welcome series" starts a welcome.

The campaign's one goal is that tag; its sequence sends a welcome e-mail at
once, a day later creates a task for the contact's owner and sends a second
e-mail. Beside it, the stand-alone sequence "After a sales call" is there to
be started by hand from a contact's Follow-up sequences tab. Both are built
(and the campaign published) through the automation and mail domains' own
models and services, and looked up by name so loading twice makes each once.
The sample contacts' primary addresses are opted in to marketing with a
stated reason, because consent is checked when each e-mail is sent.
"""

import logging

from sqlalchemy import select

from crm.automation import campaigns
from crm.automation.models import Campaign, Goal, Sequence, Step
from crm.contacts.models import Contact
from crm.extensions import db
from crm.mail import merge, statuses
from crm.mail import services as mail
from crm.mail.models import EmailTemplate
from crm.tags import services as tags

log = logging.getLogger(__name__)

CAMPAIGN = "Demo: Welcome series"
TAG = "Demo: Welcome series"
TAG_CATEGORY = "Marketing"
CONSENT_REASON = "Demo data: the sample contacts agreed to marketing e-mail"

WELCOME = (
    "Demo: Welcome",
    "Welcome, ~Contact.FirstName~",
    "<p>Hello ~Contact.FirstName~,</p><p>thank you for your interest. "
    "~Owner.Name~ will be in touch to help you get started.</p>",
)
AFTER_CALL = (
    "Demo: After the call",
    "Thank you for your time, ~Contact.FirstName~",
    "<p>Hello ~Contact.FirstName~,</p><p>thank you for the call yesterday. "
    "As promised, ~Owner.Name~ will send you the details this week; reply to "
    "this e-mail with any question in the meantime.</p>",
)
SALES_CALL_SEQUENCE = "After a sales call"
GETTING_STARTED = (
    "Demo: Getting started",
    "~Contact.FirstName~, three tips to get started",
    "<p>Hello ~Contact.FirstName~,</p><ol><li>Tell us what you need.</li>"
    "<li>Book a call with ~Owner.Name~.</li><li>Reply to this e-mail with "
    "any question.</li></ol>",
)


def ensure_template(name: str, subject: str, html: str) -> EmailTemplate:
    """A marketing template of the demo by name, created when missing."""
    template = db.session.scalar(
        select(EmailTemplate).where(EmailTemplate.name == name)
    )
    if template is None:
        merge.check(subject, html)
        template = EmailTemplate(
            name=name, subject=subject, html=html, purpose=statuses.MARKETING
        )
        db.session.add(template)
        db.session.flush()
    return template


def _steps(welcome: EmailTemplate, tips: EmailTemplate) -> list[Step]:
    one_day = {"amount": 1, "unit": "days"}
    return [
        Step(
            position=1,
            name="Welcome e-mail",
            timer_kind="none",
            action_kind="send_email",
            action={"template_id": welcome.id},
        ),
        Step(
            position=2,
            name="Owner calls",
            timer_kind="delay",
            timer=one_day,
            action_kind="create_task",
            action={
                "title": "Call ~Contact.FirstName~ ~Contact.LastName~",
                "description": "They received the welcome e-mail yesterday.",
                "task_type": "call",
                "priority": "essential",
                "due_in_days": 1,
            },
        ),
        Step(
            position=3,
            name="Getting started e-mail",
            timer_kind="none",
            action_kind="send_email",
            action={"template_id": tips.id},
        ),
    ]


def ensure_campaign() -> Campaign:
    """The published demo campaign, built when missing; the caller commits."""
    campaign = db.session.scalar(select(Campaign).where(Campaign.name == CAMPAIGN))
    if campaign is not None:
        return campaign

    tag = tags.get_or_create_tag(TAG, TAG_CATEGORY)
    welcome = ensure_template(*WELCOME)
    tips = ensure_template(*GETTING_STARTED)
    campaign = Campaign(name=CAMPAIGN, time_zone="UTC")
    sequence = Sequence(name="Welcome", campaign=campaign, position=2)
    sequence.steps.extend(_steps(welcome, tips))
    campaign.goals.append(
        Goal(
            name="Tag applied: " + TAG,
            kind="tag_applied",
            position=1,
            config={"tag_id": tag.id},
            sequence=sequence,
        )
    )
    db.session.add(campaign)
    db.session.flush()
    campaigns.publish(campaign)
    log.info("demo campaign %s published", campaign.id)
    return campaign


def ensure_sales_call_sequence() -> Sequence:
    """The stand-alone demo sequence, started by hand from a contact's record.

    A task for the owner at once, then a thank-you e-mail a day later. Built
    when missing (looked up by name); the caller commits.
    """
    sequence = db.session.scalar(
        select(Sequence).where(
            Sequence.name == SALES_CALL_SEQUENCE, Sequence.campaign_id.is_(None)
        )
    )
    if sequence is not None:
        return sequence

    thanks = ensure_template(*AFTER_CALL)
    sequence = Sequence(name=SALES_CALL_SEQUENCE)
    sequence.steps.extend(
        [
            Step(
                position=1,
                name="Owner writes up the call",
                timer_kind="none",
                action_kind="create_task",
                action={
                    "title": "Write up the call with ~Contact.FirstName~ "
                    "~Contact.LastName~",
                    "description": "Note what was agreed and send the details.",
                    "task_type": "call",
                    "priority": "essential",
                    "due_in_days": 1,
                },
            ),
            Step(
                position=2,
                name="Thank-you e-mail",
                timer_kind="delay",
                timer={"amount": 1, "unit": "days"},
                action_kind="send_email",
                action={"template_id": thanks.id},
            ),
        ]
    )
    db.session.add(sequence)
    db.session.flush()
    log.info("demo sequence %s created", sequence.id)
    return sequence


def opt_in_sample_contacts() -> int:
    """Opt the contacts' primary addresses in, where no choice was made yet."""
    opted = 0
    for contact in db.session.scalars(select(Contact).order_by(Contact.id)):
        address = contact.primary_email
        if not address:
            continue
        row = mail.find_status(address)
        if row is not None and row.status != statuses.NON_MARKETABLE:
            continue
        if mail.opt_in(address, CONSENT_REASON):
            opted += 1
    return opted
