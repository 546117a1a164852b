"""The pure domain: the statechart, the case and order aggregates, their
events, deadlines, rule sets, money and errors.

Nothing here imports another layer of the package, touches a store or reads
the clock: every instant comes from a command or a deadline.
"""
