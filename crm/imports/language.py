"""Which language an import writes in.

Problems are stored in English, whoever runs the dry run or the steps, and
read back in each reader's language (``stored_message``). The few words an
import adds to a contact ("PO Box 12" in an address, "Birthday: circa 1800"
in the notes) are data, read as written: they stay in the language of the
user who imports, as they were before problems were stored in English.
"""

from contextlib import contextmanager, nullcontext
from contextvars import ContextVar

from flask_babel import force_locale

from crm.core.i18n import reader_locale

_contact_locale: ContextVar[str | None] = ContextVar("contact_locale", default=None)


@contextmanager
def problems_in_english():
    """Write the problems of the work inside in English, and note the reader's
    language for the words it adds to contacts."""
    token = _contact_locale.set(reader_locale())
    try:
        with force_locale("en"):
            yield
    finally:
        _contact_locale.reset(token)


def contact_language():
    """The language of the words an import adds to a contact (a context manager)."""
    locale = _contact_locale.get()
    return force_locale(locale) if locale else nullcontext()
