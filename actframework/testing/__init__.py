"""Test support that actframework ships for backend authors (needs pytest):
:mod:`actframework.testing.storage_contract`."""
