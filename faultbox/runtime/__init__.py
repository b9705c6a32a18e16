"""faultbox.runtime"""
