"""riskscore: real-time underwriting risk scoring from MIB and Rx-history evidence."""

__version__ = "0.1.0"
