"""Runs kept as text: the trace's JSON Lines out and in, checked field by field.

Owns the trace format (one object a line, the same keys in the same order), the fast line
writer, recordings read back for replay, the checks every untrusted field passes, reading a
file the user named, and making text inert before it reaches a terminal.
"""
