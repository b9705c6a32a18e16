"""faultbox: find the ways a distributed system breaks."""

__version__ = "0.1.0"
