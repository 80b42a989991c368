"""``flask scheduler run`` and ``flask campaigns ...``."""

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from crm.automation.models import (
    ACTIVE,
    SCHEDULED,
    Campaign,
    Enrollment,
    Sequence,
    StepRun,
)
from crm.core.db import utcnow
from crm.core.errors import ServiceError
from crm.extensions import db

scheduler_cli = AppGroup("scheduler", help="The process that runs sequence steps.")
campaigns_cli = AppGroup("campaigns", help="Campaigns and follow-up sequences.")


@scheduler_cli.command("run")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--interval",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.2, 3600),
    help="Seconds between scheduler beats.",
)
@click.option("--batch", default=50, show_default=True, type=click.IntRange(1, 1000))
def run_scheduler(workers, interval, batch):
    """Run the scheduler and N claiming workers until SIGTERM or Ctrl-C."""
    from crm.automation import scheduler

    scheduler.run(current_app._get_current_object(), workers, interval, batch)


def status_rows(now=None):
    """(campaign, sequence, contacts active, items due now, items planned) rows."""
    now = now or utcnow()
    active = (
        select(Enrollment.sequence_id, func.count().label("n"))
        .where(Enrollment.status == ACTIVE)
        .group_by(Enrollment.sequence_id)
        .subquery()
    )
    due = (
        select(Enrollment.sequence_id, func.count().label("n"))
        .join(StepRun, StepRun.enrollment_id == Enrollment.id)
        .where(StepRun.status == SCHEDULED, StepRun.due_at <= now)
        .group_by(Enrollment.sequence_id)
        .subquery()
    )
    planned = (
        select(Enrollment.sequence_id, func.count().label("n"))
        .join(StepRun, StepRun.enrollment_id == Enrollment.id)
        .where(StepRun.status == SCHEDULED)
        .group_by(Enrollment.sequence_id)
        .subquery()
    )
    query = (
        select(
            Campaign.name,
            Sequence.name,
            func.coalesce(active.c.n, 0),
            func.coalesce(due.c.n, 0),
            func.coalesce(planned.c.n, 0),
        )
        .select_from(Sequence)
        .outerjoin(Campaign, Campaign.id == Sequence.campaign_id)
        .outerjoin(active, active.c.sequence_id == Sequence.id)
        .outerjoin(due, due.c.sequence_id == Sequence.id)
        .outerjoin(planned, planned.c.sequence_id == Sequence.id)
        .order_by(Campaign.name.nulls_first(), Sequence.position, Sequence.name)
    )
    return db.session.execute(query).all()


@campaigns_cli.command("status")
def status():
    """Per campaign and sequence: contacts active, items due now, items planned."""
    rows = status_rows()
    if not rows:
        click.echo("No campaigns or sequences yet.")
        return
    click.echo(
        f"{'campaign':<24} {'sequence':<24} {'active':>7} {'due':>7} {'planned':>8}"
    )
    for campaign, sequence, active, due, planned in rows:
        click.echo(
            f"{(campaign or '(follow-up)')[:24]:<24} {sequence[:24]:<24} "
            f"{active:>7} {due:>7} {planned:>8}"
        )


@campaigns_cli.command("achieve")
@click.option("--contact", "contact_id", required=True, type=int)
@click.option("--call-name", required=True, help="The API goal's call name.")
def achieve(contact_id, call_name):
    """Achieve the API goals with CALL-NAME for a contact (the API achievement)."""
    from crm.automation import campaigns
    from crm.contacts.models import Contact

    contact = db.session.get(Contact, contact_id)
    if contact is None:
        raise click.ClickException(f"There is no contact {contact_id}.")
    try:
        count = campaigns.api_achieve(contact, call_name)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"{count} goal(s) achieved for contact {contact_id}.")
