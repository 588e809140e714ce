"""The way of a Vorlage and a Sitzung: the verbs, the effects and rules models name, timers."""
