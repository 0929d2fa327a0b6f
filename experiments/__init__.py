"""Training experiments for the article's empirical claims (scaling, softmax alternatives,
learned temperatures): a small decoder-only transformer, data that ships with Python, a fair
grid (own learning-rate sweep per arm, several seeds) and the statistics the checks read.

Modules: `data` (corpus, associative recall), `model` (attention variants, transformer),
`train` (one run), `presets` (smoke / cpu / gpu), `grid` (the shared, cached experiment grid),
`stats` (intervals, steps to a target), `analysis` (the measurements and decisions the checks
read), `reporting` (what a check records), `plots` (training curves).
"""
