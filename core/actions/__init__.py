"""The only writers. Each state change is a ``check_*`` (validate and
authorise, raising ``core.errors`` with one sentence) and a ``do_*`` (commit
through ``Database.write`` and publish named events after commit)."""
