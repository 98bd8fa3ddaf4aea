"""What the pages share: the engine, previews, result cards, term rows, colours."""
