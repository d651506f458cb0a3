"""Services of the group helpdesk: who is an admin, chat preferences, abuse limits, feedback."""
