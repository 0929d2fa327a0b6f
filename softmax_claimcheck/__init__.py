"""softmax-claimcheck: the article's fact-check and a conformance suite for softmax, log-softmax
and attention implementations (`softmax-claimcheck conform MODULE:FUNCTION`).

Layout (docs/design.md, "Layout"): a module's import name is its path. The design card's folders
claimcheck/ (the engine), impl/ and experiments/ stay at the repository's top level;
softmax_claimcheck/claimcheck, softmax_claimcheck/impl and softmax_claimcheck/experiments are
links to them, so `softmax_claimcheck.impl.registry` is the file
softmax_claimcheck/impl/registry.py.
"""
