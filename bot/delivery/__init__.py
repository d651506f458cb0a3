"""Getting an answer to a person: rich or classic messages, streamed drafts, notices (issue 10)."""
