"""Batch rescoring: sources, the parallel chunk runner, output files, resume, compare reports.

The library entry point is ``riskscore.rescore`` (``api.rescore``); the CLI is
``riskscore rescore`` (``adapters/cli/cmd_rescore.py``). Design notes: docs/rescoring.md.
"""
