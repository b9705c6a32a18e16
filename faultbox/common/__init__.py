"""Neutral helpers that any layer may import: binary lookup, the container-mode check and the
clients shared by step methods and event sources.

Nothing here imports another faultbox package, so the one-way flow
cli → runtime → (starlark_env, observe, intercept, trace) holds.
"""
