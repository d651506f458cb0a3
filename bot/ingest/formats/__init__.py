"""One module per container format (Office Open XML, EPUB, web pages) and the zip guard they share."""
