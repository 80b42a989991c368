"""Admin screens: web forms with their fields, submissions and held ones, checkouts."""

import logging

from flask import abort, flash, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError
from wtforms import SelectChoice, SelectField
from wtforms.validators import Optional

from crm.access import policy
from crm.core.admin import SecuredModelView
from crm.core.errors import ServiceError
from crm.core.text import human_size
from crm.extensions import db
from crm.files import views as file_views
from crm.webforms import checkout as checkouts
from crm.webforms import fields as catalogue
from crm.webforms import services, uploads
from crm.webforms.models import (
    ProductCheckout,
    Submission,
    SubmissionFile,
    WebForm,
    WebFormField,
)

log = logging.getLogger(__name__)

CATEGORY = _l("Marketing")

DUPLICATE_LABELS = (
    ("email", _l("E-mail")),
    ("email_name", _l("E-mail and name")),
    ("email_name_company", _l("E-mail, name and company")),
    ("none", _l("None (always create a contact)")),
)
EXIT_LABELS = (
    ("message", _l("Show the thank-you message")),
    ("redirect", _l("Redirect to an allowed address")),
)


def _choices(pairs):
    return [SelectChoice(key, label) for key, label in pairs]


def _field_choices():
    return _choices(catalogue.key_choices())


STATE_LABELS = {
    "queued": _l("Queued"),
    "processing": _l("Processing"),
    "processed": _l("Processed"),
    "held": _l("Held for review"),
    "discarded": _l("Discarded"),
}


FILE_STATE_LABELS = {
    uploads.PENDING: _l("waiting for processing"),
    uploads.FILED: _l("in the file box"),
    uploads.DROPPED: _l("not kept"),
}


def _sent_files(view, context, model, name):
    """The files a submission carried: name, size and where they are now.

    Never shown inline: a waiting file is offered as a download only.
    """
    items = []
    for row in model.files:
        if row.state == uploads.PENDING:
            link = url_for("webform_submission.sent_file", file_id=row.id)
        elif row.state == uploads.FILED and row.contact_file_id:
            link = url_for("contact_files.download", file_id=row.contact_file_id)
        else:
            link = None
        shown = (
            Markup('<a href="{}" download>{}</a>').format(link, row.name)
            if link
            else Markup("{}").format(row.name)
        )
        items.append(
            Markup('<li class="sent-file" data-state="{}">{} ({}, {})</li>').format(
                row.state,
                shown,
                human_size(row.size),
                FILE_STATE_LABELS.get(row.state, row.state),
            )
        )
    if not items:
        return ""
    return Markup('<ul class="list-unstyled mb-0 sent-files">{}</ul>').format(
        Markup("").join(items)
    )


def _public_links(view, context, model, name):
    page = url_for("webforms.show_form", slug=model.slug, _external=True)
    script = url_for("webforms.embed_script", slug=model.slug, _external=True)
    snippet = f'<script src="{script}" async></script>'
    return Markup(
        '<a href="{}" target="_blank" rel="noopener">{}</a>'
        '<div class="small text-muted mt-1">{}</div>'
        '<code class="webform-embed">{}</code>'
    ).format(page, page, _("Embed on another site:"), snippet)


class WebFormView(SecuredModelView):
    required_role = "admin"
    column_list = ("name", "public", "active", "duplicate_rule", "created_at")
    column_details_list = (
        "name",
        "public",
        "active",
        "title",
        "duplicate_rule",
        "double_opt_in",
        "min_fill_seconds",
        "exit",
        "thank_you",
        "redirect_url",
        "allowed_urls",
        "tags",
        "notify_user",
        "submissions",
    )
    column_labels = {
        "name": _l("Name"),
        "public": _l("Public address"),
        "slug": _l("Public address (slug)"),
        "active": _l("Active"),
        "title": _l("Title"),
        "intro": _l("Introduction"),
        "submit_label": _l("Button label"),
        "duplicate_rule": _l("Duplicate check"),
        "double_opt_in": _l("Double opt-in"),
        "min_fill_seconds": _l("Minimum fill time (seconds)"),
        "exit": _l("After submitting"),
        "thank_you": _l("Thank-you message"),
        "redirect_url": _l("Redirect address"),
        "allowed_urls": _l("Allowed addresses"),
        "tags": _l("Apply tags"),
        "notify_user": _l("Notify user"),
        "fields": _l("Fields"),
        "created_at": _l("Created"),
        "submissions": _l("Submissions"),
    }
    column_formatters = {
        "public": _public_links,
        "duplicate_rule": lambda v, c, m, n: dict(DUPLICATE_LABELS).get(
            m.duplicate_rule, m.duplicate_rule
        ),
        "exit": lambda v, c, m, n: dict(EXIT_LABELS).get(m.exit, m.exit),
        "submissions": lambda v, c, m, n: Markup('<a href="{}">{}</a>').format(
            url_for("webform_submission.index_view", flt0_form_equals=m.id),
            _("Submissions of this form"),
        ),
    }
    column_searchable_list = ("name",)
    column_default_sort = "name"
    form_columns = (
        "name",
        "slug",
        "active",
        "title",
        "intro",
        "submit_label",
        "fields",
        "duplicate_rule",
        "double_opt_in",
        "min_fill_seconds",
        "tags",
        "notify_user",
        "exit",
        "thank_you",
        "redirect_url",
        "allowed_urls",
    )
    form_overrides = {"duplicate_rule": SelectField, "exit": SelectField}
    form_args = {
        "duplicate_rule": {
            "choices": _choices(DUPLICATE_LABELS),
            "label": _l("Duplicate check"),
        },
        "exit": {"choices": _choices(EXIT_LABELS), "label": _l("After submitting")},
        "slug": {
            "validators": [Optional()],
            "description": _l("Left empty, an address nobody can guess is made up."),
        },
        "allowed_urls": {
            "description": _l(
                "One address a line, such as https://www.example.com/ : the sites "
                "that may embed the form and the only places it may redirect to."
            )
        },
        "min_fill_seconds": {
            "description": _l(
                "Submissions sent sooner after the page opened are held for review."
            )
        },
    }
    inline_models = (
        (
            WebFormField,
            {
                "form_columns": (
                    "id",
                    "position",
                    "key",
                    "label",
                    "required",
                    "hidden",
                    "fixed_value",
                    "overwrite",
                    "multiple",
                ),
                "form_overrides": {"key": SelectField},
                "form_args": {
                    "key": {"choices": _field_choices, "label": _l("Field")},
                    "position": {"label": _l("Order")},
                    "label": {"label": _l("Label")},
                    "required": {"label": _l("Required")},
                    "hidden": {"label": _l("Hidden")},
                    "fixed_value": {"label": _l("Value of a hidden field")},
                    "overwrite": {
                        "label": _l("May overwrite"),
                        "description": _l(
                            "Unticked, a submission only fills the value when the "
                            "contact has none."
                        ),
                    },
                    "multiple": {
                        "label": _l("Several files"),
                        "description": _l(
                            "File uploads only: the visitor may send several files "
                            "at once."
                        ),
                    },
                },
            },
        ),
    )

    def __init__(self):
        super().__init__(
            WebForm, name=_l("Web forms"), endpoint="webform", category=CATEGORY
        )

    def on_model_change(self, form, model, is_created):
        services.check_form(model)


class SubmissionView(SecuredModelView):
    required_role = "admin"
    allow_create = False
    allow_edit = False
    column_list = (
        "created_at",
        "form",
        "state",
        "hold_reason",
        "contact",
        "email",
        "files",
        "ip",
        "utm",
    )
    column_details_list = (
        "created_at",
        "form",
        "state",
        "hold_reason",
        "hold_detail",
        "contact",
        "email",
        "data",
        "files",
        "ip",
        "user_agent",
        "page_url",
        "utm",
        "visitor_id",
        "processed_at",
    )
    column_labels = {
        "created_at": _l("Received"),
        "form": _l("Form"),
        "form_id": _l("Form"),
        "state": _l("State"),
        "hold_reason": _l("Why held"),
        "hold_detail": _l("What went wrong"),
        "files": _l("Files"),
        "contact": _l("Contact"),
        "email": _l("E-mail"),
        "data": _l("Values"),
        "ip": _l("IP address"),
        "user_agent": _l("Browser"),
        "page_url": _l("Page"),
        "utm": _l("UTM parameters"),
        "visitor_id": _l("Visitor id"),
        "processed_at": _l("Processed"),
    }
    column_formatters = {
        "state": lambda v, c, m, n: STATE_LABELS.get(m.state, m.state),
        "hold_reason": lambda v, c, m, n: services.HOLD_REASONS.get(
            m.hold_reason, m.hold_reason
        ),
        "utm": lambda v, c, m, n: ", ".join(
            f"{k}={val}" for k, val in sorted((m.utm or {}).items())
        ),
        "data": lambda v, c, m, n: "; ".join(
            f"{k}: {val}" for k, val in (m.data or {}).items()
        ),
        "files": _sent_files,
    }
    column_filters = ("form_id", "state", "email")
    column_searchable_list = ("email",)
    column_default_sort = ("created_at", True)

    def __init__(self):
        super().__init__(
            Submission,
            name=_l("Form submissions"),
            endpoint="webform_submission",
            category=CATEGORY,
        )

    @expose("/file/<int:file_id>")
    def sent_file(self, file_id):
        """A file waiting with its submission, as a download (never inline)."""
        row = db.session.scalar(
            select(SubmissionFile).where(
                SubmissionFile.id == file_id,
                policy.scope(SubmissionFile, current_user),
            )
        )
        if row is None or row.state != uploads.PENDING or not row.stored_name:
            abort(404)
        path = uploads.path_of(row)
        if not path.is_file():
            log.error(
                "pending file %s of submission %s has no bytes (%s)",
                row.id,
                row.submission_id,
                row.stored_name,
            )
            abort(404)
        return file_views.send_attachment(
            path, row.name, row.content_type, private=True
        )

    @action("approve", _l("Approve"), _l("Process the selected held submissions?"))
    def action_approve(self, ids):
        done = 0
        for submission_id in self.get_action_ids(ids):
            submission = db.session.get(Submission, submission_id)
            try:
                outcome = services.approve(submission, current_user)
                db.session.commit()
            except ServiceError as exc:
                db.session.rollback()
                services.record_failure(submission_id, exc.message)
                db.session.commit()
                flash(exc.message, "error")
                return
            except StaleDataError:
                # Someone saved the matched contact meanwhile; all is undone.
                db.session.rollback()
                flash(
                    _(
                        "Submission %(id)s crossed a change to its contact; nothing "
                        "was done. Approve it again.",
                        id=submission_id,
                    ),
                    "error",
                )
                return
            services.run_after_commit(outcome.after_commit)
            done += 1
        flash(_("%(count)s submission(s) approved.", count=done), "success")

    @action("discard", _l("Discard"), _l("Discard the selected held submissions?"))
    def action_discard(self, ids):
        done = 0
        for submission_id in self.get_action_ids(ids):
            try:
                services.discard(
                    db.session.get(Submission, submission_id), current_user
                )
            except ServiceError as exc:
                db.session.rollback()
                flash(exc.message, "error")
                return
            done += 1
        db.session.commit()
        flash(_("%(count)s submission(s) discarded.", count=done), "success")


def _buy_link(view, context, model, name):
    page = url_for("webforms.buy", slug=model.slug, _external=True)
    return Markup('<a href="{}" target="_blank" rel="noopener">{}</a>').format(
        page, page
    )


class CheckoutView(SecuredModelView):
    required_role = "admin"
    column_list = ("product", "public", "active", "max_quantity", "ask_shipping")
    column_labels = {
        "product": _l("Product"),
        "public": _l("Order page"),
        "slug": _l("Public address (slug)"),
        "active": _l("Active"),
        "max_quantity": _l("Largest quantity"),
        "ask_shipping": _l("Ask for a shipping address"),
    }
    column_formatters = {"public": _buy_link}
    form_columns = ("product", "slug", "active", "max_quantity", "ask_shipping")
    form_args = {
        "slug": {
            "validators": [Optional()],
            "description": _l("Left empty, an address nobody can guess is made up."),
        }
    }

    def __init__(self):
        super().__init__(
            ProductCheckout,
            name=_l("Online order pages"),
            endpoint="checkout",
            category=CATEGORY,
        )

    def on_model_change(self, form, model, is_created):
        checkouts.check_checkout(model)


def views():
    yield WebFormView()
    yield SubmissionView()
    yield CheckoutView()
