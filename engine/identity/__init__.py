"""Who someone is: local accounts administered, OpenID Connect, login sessions, API tokens."""
