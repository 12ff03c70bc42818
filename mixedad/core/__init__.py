"""The engine: traced values, the reverse tape, dual-number regions and dispatch.

Nothing in this package knows about specific NumPy functions; the rule tables in
``mixedad.rules`` teach it those through the public ``Primitive`` API.
"""
