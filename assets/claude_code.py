"""Claude Code session transcripts: tokens per message, with model, session, project and branch."""

from orchestration.clients.claude_code import ClaudeCodeTranscripts, message_key
from orchestration.collectors.framework import Window, collector


@collector(source="claude_code", table="claude_code_messages", natural_key=message_key)
def claude_code_messages(window: Window, claude_code: ClaudeCodeTranscripts):
    """Assistant messages with token usage from local Claude Code transcripts."""
    yield from claude_code.messages(window)
