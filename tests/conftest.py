"""Shared test configuration. Fixtures for the FreeSWITCH emulator live in tests/fakes."""

from __future__ import annotations
