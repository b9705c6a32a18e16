"""faultbox.trace"""
