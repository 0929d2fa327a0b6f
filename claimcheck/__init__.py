"""Claim-verification engine: claims as data, checks as pytest tests, verdicts as reports."""

from claimcheck.model import Claim, Reading, Verdict

__all__ = ["Claim", "Reading", "Verdict"]
