"""Support code for the claim checks, one job per module: claims (comparisons), dtypes,
masking, sampling (intervals), costs (FLOP counts)."""
