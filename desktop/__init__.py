"""Caseload: the client roster for therapists and small clinics."""

__version__ = "0.1.0"
