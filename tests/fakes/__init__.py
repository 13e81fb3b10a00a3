"""Test doubles: the FreeSWITCH emulator (``freeswitch``) and its pytest fixtures."""
