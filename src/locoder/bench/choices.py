"""The names ``locoder bench`` accepts, listed once for the command line and the runner (no imports: the
CLI reads them while building its parser)."""

AGENTS = ("locoder", "aider", "mini-swe-agent")
SUITES = ("bugfix", "bugfix-removed", "humaneval")
