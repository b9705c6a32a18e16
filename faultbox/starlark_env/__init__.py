"""faultbox.starlark_env"""
