"""Support code for the claim checks, one job per module: claims (claim access, comparisons), masking, sampling (intervals), costs (FLOP counts)."""
