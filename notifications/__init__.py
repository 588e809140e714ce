"""The scheduler process (APScheduler), reminder rules, outbox and delivery."""
