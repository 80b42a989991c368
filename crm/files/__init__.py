"""The file box: files kept on a contact, served only as attachments."""
