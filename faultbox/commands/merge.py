"""``faultbox merge RESULTS.json...``: the result files of one spec's shards as one result set."""

from faultbox.scale_cli import merge_cmd as command

__all__ = ["command"]
