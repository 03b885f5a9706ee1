"""``make loadtest``: Locust against a running Likefeed, a seeded graph, plots and a
correctness check. ``bench`` reuses the graph seeding (``loadtest.seed``) and the stack
launcher (``loadtest.stack``)."""
