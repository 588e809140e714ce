"""The ratsflow core: council domain, workflow runtime, audit. Knows nothing of HTTP."""
