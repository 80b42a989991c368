"""The file box's screens: the endpoints behind the File box tab."""

from crm.files.record import ContactFilesView


def views():
    yield ContactFilesView()
