"""Goals hear what happens to contacts: tags applied, links clicked, forms, orders.

Importing this module connects the listeners once. Tag goals hear the tags
domain's own signal (the place a tag is applied); lead-score goals hear the
scoring domain's ``score_changed``; the other kinds hear the shared activity
events.

Scores may change inside a flush (a tag's score is written by a flush hook),
where the session must not be used, so the contacts whose score changed are
noted on the session and their score goals are checked just before it
commits, in the same unit of work.
"""

import logging

from sqlalchemy import event
from sqlalchemy.orm import Session

from crm.activity import services as activity
from crm.automation import campaigns
from crm.extensions import db
from crm.scoring import services as scoring
from crm.tags import services as tags

logger = logging.getLogger(__name__)

# One achievement per order: when it is placed (its payment is not a second purchase).
PURCHASE_KINDS = ("order_created",)


def _on_tag_applied(contact, tag=None, actor=None, **extra):
    if tag is not None:
        campaigns.tag_applied(contact, tag)


def _on_event(event):
    if event.kind == "email_clicked":
        handler = _link_clicked
    elif event.kind == "form_submitted":
        handler = _form_submitted
    elif event.kind in PURCHASE_KINDS:
        handler = _purchase
    else:
        return
    from crm.contacts.models import Contact

    contact = db.session.get(Contact, event.contact_id)
    if contact is not None:
        handler(contact, event)


def _link_clicked(contact, event):
    url = (event.data or {}).get("url") or event.target or ""
    campaigns.link_clicked(contact, url, event.occurred_at)


def _form_submitted(contact, event):
    form = event.ref_id
    campaigns.achieve_matching(
        "form_submitted",
        contact,
        lambda goal: (goal.config or {}).get("form_id") in (None, form),
        "form_submitted",
        event.occurred_at,
    )


def _purchase(contact, event):
    campaigns.achieve_matching(
        "purchase", contact, lambda goal: True, event.kind, event.occurred_at
    )


SCORES_CHANGED = "crm_scores_changed"


def _on_score_changed(sender, contact_ids=(), now=None, **extra):
    pending = db.session.info.setdefault(SCORES_CHANGED, {})
    for contact_id in contact_ids:
        pending[contact_id] = now


def _check_scores(session, pending) -> None:
    from crm.contacts.models import Contact

    if not campaigns.live_goals("lead_score"):
        return
    for contact_id, now in sorted(pending.items()):
        contact = session.get(Contact, contact_id)
        if contact is not None:
            score = scoring.score_of(contact_id, now)
            campaigns.score_reached(contact, score, now)


@event.listens_for(Session, "before_commit")
def _scores_before_commit(session) -> None:
    if not session.info.get(SCORES_CHANGED):
        return
    # Flushing first lets the flush hooks that score (tags) add their
    # contacts; achieving a goal may flush and change scores again.
    session.flush()
    for _round in range(10):
        pending = session.info.pop(SCORES_CHANGED, None)
        if not pending:
            return
        _check_scores(session, pending)
        session.flush()
    logger.warning("score goals still changing after 10 rounds; stopped")


@event.listens_for(Session, "after_rollback")
def _scores_rolled_back(session) -> None:
    session.info.pop(SCORES_CHANGED, None)


tags.tag_applied.connect(_on_tag_applied, weak=False)
scoring.score_changed.connect(_on_score_changed, weak=False)
activity.listen(_on_event)
