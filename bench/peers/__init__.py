"""Peers riskscore is measured against, in the same run on the same machine."""
