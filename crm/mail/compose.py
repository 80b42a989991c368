"""Writing an e-mail from the contact record.

Only users who may edit the contact may send. To is one of the contact's
addresses; the copy goes to an address of a linked contact the user may see.
Merge fields are rendered at send time, with the copied (or first linked)
contact as ``linked``.
"""

import logging
from io import BytesIO

from flask import abort, current_app, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from crm.access import policy
from crm.contacts import services as contacts
from crm.contacts.models import Contact
from crm.core.admin import SecuredView
from crm.core.errors import ServiceError
from crm.core.text import as_id
from crm.extensions import db
from crm.files import services as filebox
from crm.links import services as links
from crm.mail import bodies, merge, services, statuses, transport
from crm.mail.forms import ComposeForm
from crm.mail.models import EmailTemplate

logger = logging.getLogger(__name__)


def _linked_contacts(contact) -> list[Contact]:
    others = [row.other(contact.id) for row in links.links_of(contact)]
    if not others:
        return []
    visible = set(
        db.session.scalars(
            select(Contact.id).where(
                Contact.id.in_([o.id for o in others]),
                policy.scope(Contact, current_user),
            )
        )
    )
    return [o for o in others if o.id in visible]


def _address_label(email) -> str:
    row = services.find_status(email.address)
    status = row.status if row else statuses.NON_MARKETABLE
    return f"{email.address} ({statuses.label(status)})"


class ComposeView(SecuredView):
    """The compose screen, opened from a record with ``?contact_id=``."""

    def __init__(self):
        super().__init__(
            name=_l("Write e-mail"), endpoint="mail_compose", url="/admin/mail/compose"
        )

    def is_visible(self):
        return False

    @expose("/", methods=("GET", "POST"))
    def index(self):
        contact = contacts.get_visible(
            request.args.get("contact_id"), current_user, policy.EDIT
        )
        if contact is None:
            abort(404)
        linked = _linked_contacts(contact)
        form = ComposeForm()
        form.to.choices = [
            SelectChoice(str(e.id), _address_label(e)) for e in contact.emails
        ]
        cc_choices = [SelectChoice("", _("No copy"))]
        cc_owner = {}
        for other in linked:
            for email in other.emails:
                cc_choices.append(
                    SelectChoice(
                        str(email.id), f"{other.display_name} <{email.address}>"
                    )
                )
                cc_owner[str(email.id)] = (other, email)
        form.cc.choices = cc_choices
        templates = db.session.scalars(
            select(EmailTemplate).order_by(EmailTemplate.name)
        ).all()

        if request.method == "GET" and request.args.get("template_id"):
            self._fill_from_template(form, request.args.get("template_id"))
        if request.method == "POST" and form.validate_on_submit():
            sent = self._send(contact, form, cc_owner, linked)
            if sent is not None:
                return sent
        elif request.method == "POST":
            db.session.rollback()

        return self.render(
            "mail/compose.html",
            contact=contact,
            form=form,
            templates=templates,
            per_file=services.human_size(
                current_app.config["MAIL_ATTACHMENT_MAX_BYTES"]
            ),
            per_message=services.human_size(
                current_app.config["MAIL_ATTACHMENTS_MAX_BYTES"]
            ),
            can_send=bool(contact.emails),
            mode=self._mode(),
        )

    def _mode(self):
        try:
            return transport.mode()
        except transport.NotConfigured as exc:
            return exc.message

    def _fill_from_template(self, form, template_id) -> None:
        found = as_id(template_id)
        template = db.session.get(EmailTemplate, found) if found is not None else None
        if template is None:
            flash(_("That template no longer exists."), "error")
            return
        form.template_id.data = str(template.id)
        form.subject.data = template.subject
        form.body.data = template.html
        form.purpose.data = template.purpose

    def _send(self, contact, form, cc_owner, linked):
        to = next(e for e in contact.emails if str(e.id) == form.to.data)
        copied = cc_owner.get(form.cc.data)
        merge_with = copied[0] if copied else (linked[0] if linked else None)
        files = [
            (f.filename, f.read(), f.mimetype)
            for f in request.files.getlist(form.attachments.name)
            if f and f.filename
        ]
        template_id = self._template_id(form.template_id.data)
        try:
            context = merge.context_for(contact, merge_with)
            subject = merge.render(form.subject.data, context, html=False)
            html, text = self._bodies(form.body.data, context)
            message = services.send_message(
                contact_id=contact.id,
                address=to.address,
                subject=subject,
                html=html,
                text=text,
                purpose=form.purpose.data,
                actor_id=current_user.id,
                cc=[copied[1].address] if copied else (),
                attachments=files,
                template_id=template_id,
            )
        except services.MailFailed as exc:
            # Keep the failed message on the record, and the draft on screen.
            db.session.commit()
            flash(
                _("Not sent: %(reason)s Your draft is below.", reason=exc.message),
                "error",
            )
            return None
        except ServiceError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return None
        not_kept = self._keep_in_file_box(contact, files)
        db.session.commit()
        for reason in not_kept:
            flash(reason, "warning")
        if message.state == "outbox":
            flash(
                _("Demo mode: the e-mail to %(to)s is in the outbox.", to=to.address),
                "success",
            )
        else:
            flash(_("E-mail sent to %(to)s.", to=to.address), "success")
        return redirect(url_for("message.details_view", id=message.id))

    @staticmethod
    def _bodies(body, context) -> tuple[str, str | None]:
        """The HTML part and the text part (None: taken from the HTML).

        A body typed as plain text is sent as typed in the text part, and as
        escaped paragraphs with its line breaks and links in the HTML part.
        """
        if bodies.is_html(body):
            return merge.render(merge.sanitise(body), context, html=True), None
        text = merge.render(bodies.plain(body), context, html=False)
        return bodies.text_to_html(text), text

    def _keep_in_file_box(self, contact, files) -> list[str]:
        """Copy the sent attachments to the contact's file box; the reasons
        for those that did not fit (the e-mail is sent either way)."""
        not_kept = []
        for name, content, _type in files:
            try:
                with db.session.begin_nested():
                    filebox.add_file(
                        contact,
                        name=name,
                        stream=BytesIO(content),
                        uploaded_by=current_user,
                        source="email",
                    )
            except filebox.FileRefused as exc:
                not_kept.append(
                    _("Not kept in the file box: %(reason)s", reason=exc.message)
                )
        return not_kept

    def _template_id(self, raw):
        template_id = as_id(raw)
        if template_id is None:
            return None
        return template_id if db.session.get(EmailTemplate, template_id) else None
