"""Lead scoring: rules that give points for what happens to a contact."""
