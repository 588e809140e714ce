"""Sitzungen in time: meetings and their agenda, the Gremien's deadlines, reminders."""
