"""The package version, in a module of its own so nothing imports upward from the root."""

__version__ = "0.1.0"
# The distribution's name on PyPI: `usage-cli` there is someone else's (another
# `usage` command), so `usage --version` names this one.
DISTRIBUTION = "chatbotkit-usage"
VERSION_LINE = f"usage {__version__} ({DISTRIBUTION})\n"
# `schemaVersion` of the JSON documents usage defines (summary, compare, check,
# prices, manifests, verify's report): raised when one changes other than by a new
# field (usage_cli.verify.schemas).
SCHEMA_VERSION = 1
