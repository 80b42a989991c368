"""What happened to a contact, dated: the feed behind the history tabs."""
