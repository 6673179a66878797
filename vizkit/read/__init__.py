"""The read side: what the pages and the CLI ask of a store — typed rows instead of stored
strings, one query and one search, and the lookups the pages share. Read only."""
