"""faultbox.generate"""
