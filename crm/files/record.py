"""The File box tab of the contact record and the endpoints behind it.

Users who may see the contact list and download its files; users who may
edit it upload (several files at once, with progress, from filebox.js),
publish, make private and remove them. Any other id answers 404, like a
file that does not exist.
"""

import logging

from flask import (
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select

from crm.access import policy
from crm.contacts import services as contacts
from crm.contacts import tabs
from crm.core.admin import SecuredView
from crm.extensions import db
from crm.files import services, views
from crm.files.models import ContactFile

log = logging.getLogger(__name__)

ENDPOINT = "contact_files"
SOURCE_LABELS = {
    "upload": _l("Uploaded"),
    "email": _l("E-mail attachment"),
    "form": _l("Web form"),
}


def public_link(row) -> str | None:
    if not row.is_public or not row.public_token:
        return None
    return url_for("files_public.public_file", token=row.public_token, _external=True)


@tabs.renderer("files")
def render_files_tab(contact, tab_key):
    """The contact's files with their details, the limits and the upload form."""
    per_file, per_box = services.limits()
    used = services.used_bytes(contact.id)
    can_edit = contacts.get_visible(contact.id, current_user, policy.EDIT) is not None
    return Markup(
        render_template(
            "files/tab.html",
            contact=contact,
            files=services.files_of(contact.id),
            can_edit=can_edit,
            per_file=per_file,
            per_box=per_box,
            used=used,
            human_size=services.human_size,
            public_link=public_link,
            source_labels=SOURCE_LABELS,
            endpoint=ENDPOINT,
        )
    )


class ContactFilesView(SecuredView):
    """Upload, download, publish and remove; not in the menu."""

    def __init__(self):
        super().__init__(
            name=_l("Contact files"), endpoint=ENDPOINT, url="/admin/filebox"
        )

    def is_visible(self):
        return False

    @expose("/")
    def index(self):
        return redirect(url_for("contact.index_view"))

    @expose("/file/<int:file_id>/download")
    def download(self, file_id):
        row = db.session.scalar(
            select(ContactFile).where(
                ContactFile.id == file_id, policy.scope(ContactFile, current_user)
            )
        )
        if row is None:
            abort(404)
        return views.download(row, private=True)

    @expose("/<int:contact_id>/upload", methods=("POST",))
    def upload(self, contact_id):
        contact = self._contact(contact_id)
        wants_json = request.accept_mimetypes.best == "application/json"
        uploads = [f for f in request.files.getlist("files") if f and f.filename]
        if not uploads:
            return self._answer(
                contact, wants_json, [], [_("Choose one or more files to upload.")]
            )

        kept, refused = [], []
        for upload in uploads:
            try:
                with db.session.begin_nested():
                    row = services.add_file(
                        contact,
                        name=upload.filename,
                        stream=upload.stream,
                        uploaded_by=current_user,
                    )
                kept.append(row.name)
            except services.FileRefused as exc:
                refused.append(exc.message)
        db.session.commit()
        return self._answer(contact, wants_json, kept, refused)

    @expose("/<int:contact_id>/public/<int:file_id>", methods=("POST",))
    def set_public(self, contact_id, file_id):
        contact = self._contact(contact_id)
        row = self._file(contact, file_id)
        public = request.form.get("public") == "1"
        services.set_public(row, public, actor=current_user)
        db.session.commit()
        if public:
            message = _(
                "%(name)s is public: anyone with its link may download it.",
                name=row.name,
            )
        else:
            message = _(
                "%(name)s is private again; its public link no longer works.",
                name=row.name,
            )
        flash(message, "success")
        return self._back(contact)

    @expose("/<int:contact_id>/delete/<int:file_id>", methods=("POST",))
    def delete(self, contact_id, file_id):
        contact = self._contact(contact_id)
        row = self._file(contact, file_id)
        name = row.name
        services.delete_file(row, actor=current_user)
        db.session.commit()
        flash(_("%(name)s was removed from the file box.", name=name), "success")
        return self._back(contact)

    def _contact(self, contact_id):
        contact = contacts.get_visible(contact_id, current_user, policy.EDIT)
        if contact is None:
            abort(404)
        return contact

    def _file(self, contact, file_id):
        row = db.session.scalar(
            select(ContactFile).where(
                ContactFile.id == file_id, ContactFile.contact_id == contact.id
            )
        )
        if row is None:
            abort(404)
        return row

    def _answer(self, contact, wants_json, kept, refused):
        if wants_json:
            code = 200 if kept or not refused else 422
            if kept:
                # The page reloads to list the new files: the messages wait
                # for it. Without a kept file the page says them in place.
                self._flash(kept, refused)
            return jsonify(kept=kept, refused=refused), code
        self._flash(kept, refused)
        return self._back(contact)

    @staticmethod
    def _flash(kept, refused):
        if kept:
            flash(
                ngettext(
                    "%(num)d file added: %(names)s.",
                    "%(num)d files added: %(names)s.",
                    len(kept),
                    names=", ".join(kept),
                ),
                "success",
            )
        for message in refused:
            flash(message, "error")

    def _back(self, contact):
        return redirect(url_for("contact.details_view", id=contact.id, tab="files"))
