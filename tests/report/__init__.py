"""Tests of faultbox/report: console blocks, matrix table, JUnit, output excerpts."""
