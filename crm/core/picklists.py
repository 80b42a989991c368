"""Pick-lists whose values are stored in English and read in the reader's language.

A pick-list's values come from a setting (``PHONE_TYPES``, ``TITLE_TYPES``...).
What is stored is always the value itself, so imports, exports, web forms and
the values other systems send keep working whatever language the interface
speaks. Only the label is translated: the defaults have catalog entries, and a
value an administrator configured (or an import brought) reads as stored.
"""

from flask import current_app


class PickList:
    """The values of one setting, with labels for the defaults."""

    def __init__(self, setting: str, labels: dict):
        self.setting = setting
        self.labels = labels

    def label(self, value: str | None) -> str:
        """The value in the reader's language when it is a default, else as stored."""
        if not value:
            return ""
        return str(self.labels.get(value, value))

    def options(self) -> list[tuple[str, str]]:
        """(stored value, label) of the configured values, read on each call."""
        values = current_app.config[self.setting]
        return [(value, self.label(value)) for value in values]

    def __call__(self) -> list[tuple[str, str]]:
        return self.options()
