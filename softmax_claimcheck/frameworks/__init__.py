"""Other frameworks' softmax / log-softmax / attention kernels (JAX, SciPy, ONNX Runtime, with
torch as the reference) judged by the conformance properties and measured as values: the
table in docs/frameworks.md (`nox -s frameworks`). Optional: `pip install
'softmax-claimcheck[frameworks]'`; a framework that is not installed is not run, with its reason.
"""
