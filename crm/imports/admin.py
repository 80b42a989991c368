"""Admin screens of this domain."""


def views():
    return iter(())
