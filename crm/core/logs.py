"""Logging handlers, configured in this one place."""

import logging


def configure(app) -> None:
    """Send the project's loggers to stderr unless a handler is already set."""
    root = logging.getLogger("crm")
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if app.debug else logging.INFO)
