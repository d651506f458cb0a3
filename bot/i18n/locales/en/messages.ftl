start =
    Hi, { $name }! I answer questions from this bot's knowledge base and show the sources I used.

    Just write your question. /help shows examples.
help =
    <b>How to ask</b>
    Write a question in plain words, in Russian or English. I search the documents, answer only from them and list the sources under the answer. Follow-up questions understand the conversation.

    <b>Examples</b>
    • How do I reset my password?
    • What is the refund period for electronics?
    • Какие документы нужны для возврата?

    <b>Commands</b>
    /help — this message
    /reset — forget our conversation (the knowledge base stays)
help-admin =
    <b>For administrators</b>
    Send a file (PDF, DOCX, HTML, Markdown, TXT; up to { $max_mb } MB) in this chat to add it to the knowledge base.
    /docs — list documents
    /delete ID — remove a document
reset-done = Done: I forgot our conversation. The knowledge base is unchanged.
not-found = I could not find an answer to this in the knowledge base. Try rephrasing the question, or ask an administrator to add a document about it.
sources-heading = Sources
page-label = p.
llm-unavailable = The language model is not answering right now. Please try again in a minute.
error-generic = Something went wrong on my side while handling this. Please try again; if it repeats, tell an administrator.
not-a-question = Send me your question as text.
question-too-long = This question is too long ({ $length } characters, the limit is { $limit }). Please shorten it.
upload-refused = Only the bot's administrators can add documents. Nothing was stored.
upload-too-large = This file is { $size_mb } MB; the limit is { $max_mb } MB. Nothing was stored.
upload-unsupported = I can't read this file type ({ $name }). Send PDF, DOCX, HTML, Markdown or TXT. Nothing was stored.
upload-empty = I found no text in { $name }. If it is a scan, it needs text recognition (OCR) first. Nothing was stored.
upload-corrupt = I could not open { $name }: { $reason }. Nothing was stored.
upload-working = Indexing { $name }…
upload-done =
    Indexed <b>{ $title }</b> ({ $name })
    { $pages ->
        [0] { $chunks } chunks
       *[other] { $pages } pages, { $chunks } chunks
    } in { $seconds } s. Document id: <code>{ $doc_id }</code>
upload-already = <b>{ $title }</b> is already in the knowledge base (id <code>{ $doc_id }</code>); nothing was added.
admin-only = This command is for the bot's administrators.
docs-empty = The knowledge base has no documents yet. Send a file to add one.
docs-header = <b>Documents ({ $count })</b>
docs-item = <code>{ $doc_id }</code> — { $title } ({ $name }, { $chunks } chunks, { $date })
delete-usage = Usage: /delete ID (ids are in /docs).
delete-done = Deleted <b>{ $title }</b> and its { $chunks } chunks.
delete-not-found = There is no document with id <code>{ $doc_id }</code> here. See /docs.
unknown-command = I don't know this command. /help lists what I can do.
upload-download-failed = I could not download { $name } from Telegram. Please send it again. Nothing was stored.
upload-failed = Indexing { $name } failed on my side. Nothing was stored; please try again later or tell the bot's operator.
