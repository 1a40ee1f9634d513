"""Alembic migrations for the ledger (shipped as a package so installed copies find them)."""
