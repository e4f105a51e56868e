"""A local, seeded emulator of `/api/v1/usage/list` for demos and tests."""

from usage_cli.sandbox.data import generate_records
from usage_cli.sandbox.emulator import Answer, Emulator
from usage_cli.sandbox.server import DEFAULT_TOKEN, Sandbox

__all__ = ["DEFAULT_TOKEN", "Answer", "Emulator", "Sandbox", "generate_records"]
