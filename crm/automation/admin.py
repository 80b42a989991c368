"""Admin screens of campaigns and follow-up sequences."""

from crm.automation import listeners  # noqa: F401  (goals hear tags and events)


def views():
    return []
