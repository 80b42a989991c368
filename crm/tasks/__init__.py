"""Tasks, appointments and dated notes on a contact, with their reminders."""
