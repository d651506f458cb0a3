start =
    Hi, { $name }! I answer questions from this bot's knowledge base and show where each answer comes from.

    Just write your question. /help has examples.
help =
    <b>How to ask</b>
    Write your question in plain words, in Russian or English. I search the documents in the knowledge base, answer only from them and list the sources under the answer. You can ask follow-up questions: I remember what we talked about.
    The answer appears as I write it; press ⏹ to stop me, and you keep what is written so far. Marks like [1] show which source a paragraph comes from. Links stay clickable only when they are in the documents.

    <b>Commands</b>
    /help — this message
    /reset — start our conversation over (the knowledge base stays)
    /settings — answer language and sources
help-admin =
    <b>For administrators</b>
    Send a file to this chat — a PDF, Word document, PowerPoint presentation, Excel spreadsheet, EPUB e-book, HTML page, Markdown or text file, a scan or a photo (up to { $max_mb } MB) — and I will add it to the shared knowledge base that every chat sees.
    /add_url address — add a web page
    /add_site address [N] — add a website, up to N pages (50 by default, at most 500); I re-check web pages for changes
    /docs — list the documents, with buttons to open or delete each one
    /delete ID — remove a document (IDs are in /docs)
    /feedback — ratings of answers from all chats, as a CSV file
help-group =
    <b>How to ask me in this group</b>
    • /ask your question
    • or mention me: { $bot } your question
    • or reply to one of my messages
    I don't reply to other messages. I answer only from the knowledge base and list the sources. Rate answers with 👍 / 👎; after 👎 you can call a human.

    /help — this message
help-group-admin =
    <b>For this group's administrators</b>
    /upload — as the caption of a file, or in reply to a message with a file: adds it to this group's knowledge base (PDF, Word, PowerPoint, Excel, EPUB, HTML, Markdown, text file, a scan or a photo; up to { $max_mb } MB). Only this group sees it.
    /add_url address — add a web page to this group's knowledge base
    /add_site address [N] — add a website to this group's knowledge base, up to N pages (50 by default, at most 500)
    /docs — this group's documents, with buttons to open or delete each one
    /delete ID — remove a document (IDs are in /docs; I ask before deleting)
    /settings — answer language, sources, silence when there is no answer, the shared knowledge base, and answers shown as they are written
    /feedback — this group's ratings as a CSV file
    /reset — start this topic's conversation over
ask-usage = Ask like this: /ask your question. You can also mention me or reply to my message.
rate-limited = You are asking faster than I can answer{ $waiting ->
        [0] {""}
        [one] {""}: one of your questions is already waiting
       *[other] {""}: { $waiting } of your questions are already waiting
    }. Please ask this one again in { $seconds } s.
rate-limited-group = This group is asking faster than I can answer. Please ask again in { $seconds } s.
user-queued = You are asking faster than I can answer. This question is in line, and I will answer it in about { $seconds } s.
upload-usage = To add a file, send /upload as its caption, or reply with /upload to a message with a file.
upload-refused-group = Only this group's administrators can add documents. The file was not saved.
delete-confirm = Delete “{ $title }”? This can't be undone.
delete-confirm-yes = 🗑 Delete
delete-confirm-no = Cancel
delete-cancelled = OK, the document stays in the knowledge base.
button-expired = This button no longer works. Please send the command again.
admin-only-button = Only this chat's administrators can use this button.
settings-title-group = <b>Group settings</b>
    Tap a button to change a setting. Only this group's administrators can change them.
settings-title-private = <b>Settings</b>
    Tap a button to change a setting.
settings-refused = Only this group's administrators can change its settings.
settings-saved = Saved
settings-language-auto = Language: as the question
settings-language-ru = Русский
settings-language-en = English
settings-show-sources-on = Show sources: yes
settings-show-sources-off = Show sources: no
settings-reply-not-found-on = No answer found: say so
settings-reply-not-found-off = No answer found: stay silent
settings-use-global-on = Shared knowledge base: yes
settings-use-global-off = Shared knowledge base: no
feedback-thanks = Thanks for the rating!
feedback-empty = There are no ratings yet.
feedback-export = { $count ->
        [one] { $count } answer rating
       *[other] { $count } answer ratings
    }
human-button = 🙋 Ask a human
human-already = A human has already been called for this answer.
human-called = I have called the administrators. When one of them takes your question, I will tell you here.
human-nobody = I could not reach any administrator. Please try again later.
reset-done = Done, let's start over. The knowledge base is unchanged.
not-found = I could not find an answer to this in the knowledge base. Try rephrasing the question, or ask an administrator to add a document about it.
sources-heading = Sources
page-label = p.
llm-unavailable = The language model is not answering right now. Please try again in a minute.
error-generic = Something went wrong on my side. Please try again; if it happens again, tell an administrator.
not-a-question = Please send your question as text.
question-too-long = This question is too long: { $length ->
        [one] { $length } character
       *[other] { $length } characters
    }, and the limit is { $limit }. Please shorten it.
upload-refused = Only the bot's administrators can add documents. The file was not saved.
    Your Telegram user ID is <code>{ $user_id }</code>. To become an administrator, ask the bot's owner to add it to the ADMIN_IDS setting.
upload-too-large = This file is { $size_mb } MB, and the limit is { $max_mb } MB. The file was not saved: make it smaller or split it into parts.
upload-unsupported = I can't read this kind of file ({ $name }). Send a PDF, Word document, PowerPoint presentation, Excel spreadsheet, EPUB, HTML, Markdown or text file, or a PNG, JPEG or TIFF image. The file was not saved.
upload-empty = I found no text in { $name }. The file was not saved.
upload-scan-without-ocr = { $name } is a scan without a text layer, and text recognition (OCR) is not installed or is turned off on this server. Send a file with text, or ask whoever runs the bot to install Tesseract. The file was not saved.
upload-corrupt = I could not open { $name }: { $reason }. The file was not saved: check that it opens for you and send it again.
upload-done =
    Added “{ $title }” ({ $name }{ $pages ->
        [0] {""}
        [one] , { $pages } page
       *[other] , { $pages } pages
    }) in { $seconds ->
        [0] under a second
        [one] { $seconds } second
       *[other] { $seconds } seconds
    }. I can answer from it now.
upload-already = “{ $title }” is already in the knowledge base; there is no need to add it again.
admin-only = This command is for the bot's administrators.
docs-empty = The knowledge base has no documents yet. Send a file to add the first one.
docs-header = <b>Documents ({ $count })</b>
docs-item = <code>{ $doc_id }</code> — “{ $title }”
    { $name } · { $kind ->
        [pdf] PDF
        [docx] Word document
        [pptx] PowerPoint presentation
        [xlsx] Excel spreadsheet
        [epub] e-book
        [markdown] Markdown
        [html] web page
        [web] web page
        [text] text file
        [image] image
       *[other] { $kind }
    }{ $pages ->
        [0] {""}
        [one] {" "}· { $pages } page
       *[other] {" "}· { $pages } pages
    } · { $uploader }, { $date }
delete-usage = Tell me which document to delete: /delete ID. Every document's ID is in /docs.
delete-done = Deleted “{ $title }”. I will no longer answer from it.
delete-not-found = There is no document with the ID <code>{ $doc_id }</code> here. Check the ID in /docs.
unknown-command = I don't know this command. /help lists what I can do.
upload-download-failed = I could not download { $name } from Telegram. The file was not saved; please send it again.
upload-failed = I could not add { $name } because of an error on my side. The file was not saved. Please try again later; if it happens again, tell the bot's owner.
upload-stage-queued = ⏳ { $name }: in the queue…
upload-stage-downloading = ⏳ { $name }: downloading…
upload-stage-parsing = ⏳ { $name }: reading the text…
upload-stage-embedding = ⏳ { $name }: preparing for search ({ $done }/{ $total })…
upload-stage-storing = ⏳ { $name }: saving…
upload-interrupted = Processing { $name } was interrupted by bot restarts several times, so I stopped. The file was not saved; please send it again.
add-url-usage = Like this: /add_url https://example.com/page — I will add the page's main text, without menus and footers.
url-refused = I can't add this address: { $reason }.
url-fetch-failed = I could not load { $url }: { $reason }. Nothing was saved; check the address and try again.
upload-password = { $name } is password-protected. Remove the password and send the file again. The file was not saved.
upload-content-too-large = { $name } is too big for me to add ({ $reason }). Split it into several smaller files. The file was not saved.
upload-replaced = It replaces the previous version of this file, which is now deleted.

# --- issue 14: small talk and an empty knowledge base ---
smalltalk-greeting = Hello! I answer questions from this chat's knowledge base and show where each answer comes from. Just ask your question.
smalltalk-thanks = You're welcome! Ask whenever you need something from the documents.
smalltalk-goodbye = Goodbye! Come back with any question about the documents.
smalltalk-ack = 👌 If you have a question about the documents, just ask.
smalltalk-about = I am a helpdesk bot: I answer questions only from the documents in this chat's knowledge base and list the sources under each answer. Ask in your own words, in Russian or English; /help shows more.
empty-base = There are no documents in the knowledge base yet, so I have nothing to answer from. An administrator needs to add some first.
empty-base-admin = The knowledge base is empty, so I have nothing to answer from yet. Send me a file (a PDF, Word document, presentation, Excel spreadsheet, web page, text file, scan or photo) or use /add_url with a web page address, and I will answer from it.
empty-base-group-admin = This group's knowledge base is empty, so I have nothing to answer from yet. Send a file with the caption /upload, or use /add_url with a web page address, and I will answer from it.

# --- issue 14: onboarding (/start and /help show the real knowledge base) ---
kb-topics =
    <b>What you can ask about</b>
    { $topics }
    For example: “What does ‘{ $first }’ say about …?”
kb-state =
    <b>Knowledge base</b>: { $count ->
        [one] one document
       *[other] { $count } documents
    }; the latest, “{ $title }”, added { $date }.
    Next: send another file (or /add_url with a web page), or ask a question here to see how I answer. /docs lists the documents.

## Issue 11: albums
upload-album-done = { $count ->
        [one] Album: { $count } file
       *[other] Album: { $count } files
    }
upload-album-privacy-hint = Only this file of the album reached me. If the album had more, Telegram did not show them to me (bots in groups see only captioned files in privacy mode): reply /upload to each of them, or make me an admin of the group.

## Issue 11: web sources
upload-stage-crawling = ⏳ { $name }: loading the site's pages, { $done } done (at most { $total })…
add-site-usage = Like this: /add_site https://example.com [N] — I will add up to N pages of the site ({ $default } by default, at most { $max }). I take the pages from its sitemap or follow its links, and I respect its robots.txt.
site-done =
    Site { $url }: { $indexed ->
        [one] { $indexed } page added
       *[other] { $indexed } pages added
    }, { $unchanged } unchanged, { $failed } could not be loaded{ $disallowed ->
        [0] {""}
       *[other] , { $disallowed } closed by the site's robots.txt
    }. I found the pages { $found_by ->
        [sitemap] in the sitemap
       *[other] by following links
    } and will re-check them for changes.
site-page-failed = • { $url }: { $reason }
docs-web-checked = 🔄 last checked for changes: { $checked }

# Issue 11: what a file held that could not be read, or was read only in part.
upload-warnings = ⚠️ Please check: { $items }.
upload-warning-image-without-text = { $count ->
        [one] { $count } image without text (pictures are not read)
       *[other] { $count } images without text (pictures are not read)
    }
upload-warning-embedded-object = { $count ->
        [one] { $count } embedded object not read
       *[other] { $count } embedded objects not read
    }
upload-warning-formula-without-value = { $count ->
        [one] { $count } formula without a saved value (the formula itself is searchable)
       *[other] { $count } formulas without saved values (the formulas themselves are searchable)
    }
upload-warning-hidden-sheet = { $count ->
        [one] { $count } hidden sheet, its text is added too
       *[other] { $count } hidden sheets, their text is added too
    }
upload-warning-page-without-text = { $count ->
        [one] { $count } page without text left unread (text recognition is not available)
       *[other] { $count } pages without text left unread (text recognition is not available)
    }
upload-warning-ocr-page = { $count ->
        [one] { $count } page read by text recognition (OCR), which can make mistakes
       *[other] { $count } pages read by text recognition (OCR), which can make mistakes
    }
upload-stage-ocr = ⏳ { $name }: recognising text (OCR), page { $done }{ $total ->
        [0] {""}
       *[other] {" "}of { $total }
    }…

# Issue 9: the line in front of the model.
queued-position = Many questions at once: yours is number { $position } in line. I will answer as soon as its turn comes.
line-full = Too many questions at once: I already have { $waiting } in hand, so I cannot take yours now. Please ask again in about { $seconds } s.

# issue 12: reliability
answer-cut-off = ✂️ *The answer was cut off here: it is longer than I may write in one reply. Ask about the rest in a follow-up question.*
actions-limited = Too many commands in a row. Please wait { $seconds } s and try again.
upload-queued-behind = ⏳ { $name }: in the queue, { $ahead ->
    [one] one upload runs first…
   *[other] { $ahead } uploads run first…
}
upload-queue-full = { $name } was not added: this chat already has { $limit } uploads waiting. Send it again when some of them are done.

## Issue 10: streamed answers, stop button, streaming in groups
answer-stopped = ⏹ Stopped: the answer above is incomplete.
settings-stream-in-groups-on = Show answers as they are written: yes
settings-stream-in-groups-off = Show answers as they are written: no

# issue 14: groups, hand-off, /docs and /settings
admin-only-group = Only this group's administrators can use this command.
handoff-take = ✋ I'll take it
handoff-group =
    🙋 { $asker } would like a person to answer this question.
    <b>Question:</b> { $question }
    <b>My answer:</b> { $answer }
    { $admins }: press “I'll take it” and reply to this message; I will post your reply under the question.
handoff-private =
    🙋 { $asker } would like a person to answer.
    <b>Question:</b> { $question }
    <b>My answer:</b> { $answer }
    Press “I'll take it” and reply to this message; I will send your reply to { $asker }.
handoff-taken-by = ✋ { $admin } is answering this question.
handoff-already-taken = { $admin } is already answering this question.
handoff-you-took = The question is yours. Reply to the message with the question, and I will pass your answer on.
handoff-taken-asker = { $asker }, { $admin } will answer your question. The answer will come here.
handoff-answer =
    💬 Answer from { $admin }:
    { $text }
handoff-delivered = ✅ Sent to { $asker }.
handoff-text-only = I can pass on text only. Please reply with text, or add a caption to your file.
settings-state-language = Answer language
settings-state-language-auto = same as the question
settings-state-language-ru = Russian
settings-state-language-en = English
settings-state-show-sources = Sources
settings-state-show-sources-on = shown
settings-state-show-sources-off = hidden
settings-state-reply-not-found = No answer found
settings-state-reply-not-found-on = say so
settings-state-reply-not-found-off = stay silent
settings-state-use-global = Shared knowledge base
settings-state-use-global-on = used
settings-state-use-global-off = not used
docs-back = ◀ Back to the list
docs-page = { $pages ->
        [1] Tap a title to see the document, or 🗑 to delete it.
       *[other] Page { $page } of { $pages }. Tap a title to see the document, or 🗑 to delete it.
    }
settings-state-stream-in-groups = Answers shown as they are written
settings-state-stream-in-groups-on = yes
settings-state-stream-in-groups-off = no

# breaker: refusals of /upload, /add_url, /add_site sent without a file (nothing to "not save")
add-refused = Only the bot's administrators can add documents.
    Your Telegram user ID is <code>{ $user_id }</code>. To become an administrator, ask the bot's owner to add it to the ADMIN_IDS setting.
add-refused-group = Only this group's administrators can add documents.

# breaker: why a web address was refused or not loaded, in the admin's language
web-reason-not-http = only addresses starting with http:// or https:// can be added
web-reason-private = { $host } is an address of a private or reserved network
web-reason-http-status = the site answered with error { $status }
web-reason-too-large = the page is larger than { $max_mb } MB
web-reason-unreachable = the site does not answer, or the address has a typo
web-reason-redirects = too many redirects
web-reason-no-text = the page has no text
web-reason-unreadable = the page could not be read

# breaker: the parsers' reasons are English, so Russian says it in its own words
upload-corrupt-reason = { $reason }
upload-content-too-large-reason = { $reason }
