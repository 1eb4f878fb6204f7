from escape.world import world  # noqa: F401  (the fixture every escape test uses)
