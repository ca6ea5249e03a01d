"""Generated workspaces: the demo a fresh install opens on, and the benchmark workspaces.

Not the product: nothing in ``core`` imports this package (the runtime is
handed the demo builder by ``app.py``'s caller, see ``core.runtime``). It
writes straight into a migrated database, in bulk, data that obeys the
domain rules so every page shows something true.
"""
