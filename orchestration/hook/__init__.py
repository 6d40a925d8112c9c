"""The Claude Code hook: classifies each prompt an engineer sends and queues it for the warehouse.

`classify` holds the rules, `main` the `vault-claude-hook` command Claude Code runs on every
prompt, `spool` the local queue it appends to, `sender` the background process that empties
the queue into `raw.claude_code_hook_events`, and `override` the `vault classify` command. The
hook's path (`main`, `classify`, `spool`) imports only small standard modules, so it adds a few
milliseconds to a prompt; the database driver is imported by the sender alone.
"""

# Written into every event. Raise it when the rules or the event's fields change, so the
# warehouse can tell which rules classified a prompt.
HOOK_VERSION = "1"
