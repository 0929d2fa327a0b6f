"""The implementations under test, the exact oracle, and the registry that names them."""
