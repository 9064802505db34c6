"""Pure domain: evidence, features, scores and use cases. Imports no I/O library."""
