"""softmax-claimcheck: the article's fact-check and a conformance suite for softmax, log-softmax
and attention implementations (`softmax-claimcheck conform MODULE:FUNCTION`)."""
