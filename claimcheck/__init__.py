"""Claim-verification engine: claims as data, checks as pytest tests, verdicts as reports."""

from softmax_claimcheck.claimcheck.model import Claim, Reading, Verdict

__all__ = ("Claim", "Reading", "Verdict")
