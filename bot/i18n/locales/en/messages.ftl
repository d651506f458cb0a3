start =
    Hi, { $name }! I answer questions from this bot's knowledge base and show the sources I used.

    Just write your question. /help shows examples.
help =
    <b>How to ask</b>
    Write a question in plain words, in Russian or English. I search the documents, answer only from them and list the sources under the answer. Follow-up questions understand the conversation.
    The answer appears as I write it; press ⏹ to stop me, and you keep what is written so far. Marks like [1] show which source a paragraph comes from. Links stay clickable only when they are in the documents.

    <b>Commands</b>
    /help — this message
    /reset — forget our conversation (the knowledge base stays)
    /settings — answer language, sources
help-admin =
    <b>For administrators</b>
    Send a file (PDF, DOCX, PPTX, XLSX, EPUB, HTML, Markdown, TXT, a scan or a photo; up to { $max_mb } MB) in this chat to add it to the global knowledge base, seen in every chat.
    /add_url URL — add a web page
    /add_site URL [N] — add a website, up to N pages (50 by default, at most 500); web pages are re-checked for changes
    /docs — list documents
    /delete ID — remove a document
    /feedback — ratings of answers from all chats, as a CSV file
help-group =
    <b>How to ask me in this group</b>
    • /ask your question
    • or mention me: { $bot } your question
    • or reply to one of my messages
    I stay silent otherwise. I answer only from the knowledge base and list the sources; rate answers with 👍 / 👎, and after 👎 you can call a human.

    /help — this message
help-group-admin =
    <b>For this group's administrators</b>
    /upload — as the caption of a file, or in reply to a file: adds it to this group's knowledge base (PDF, DOCX, PPTX, XLSX, EPUB, HTML, Markdown, TXT, a scan or a photo; up to { $max_mb } MB). Only this group sees it.
    /add_url URL — add a web page to this group's base
    /add_site URL [N] — add a website to this group's base, up to N pages (50 by default, at most 500)
    /docs — this group's documents
    /delete ID — remove one (after a confirmation)
    /settings — answer language, sources, silence when nothing is found, the global knowledge base, answers shown as they are written
    /feedback — this group's ratings as a CSV file
    /reset — forget this topic's conversation
ask-usage = Ask like this: /ask your question — or mention me, or reply to my message.
rate-limited = You are asking faster than I may answer{ $waiting ->
        [0] {""}
        [one] {""}, and one of your questions is already waiting
       *[other] {""}, and { $waiting } of your questions are already waiting
    }. Please ask this one again in { $seconds } s.
rate-limited-group = This group is asking faster than I may answer. Please ask again in { $seconds } s.
user-queued = You are asking faster than I may answer: this question is in line, and I will answer it in about { $seconds } s.
upload-usage = Send /upload as the caption of a file, or reply with /upload to a message with a file.
upload-refused-group = Only this group's administrators can add documents. Nothing was stored.
delete-confirm = Delete <b>{ $title }</b> and its { $chunks } chunks? This can't be undone.
delete-confirm-yes = 🗑 Delete
delete-confirm-no = Cancel
delete-cancelled = Deletion cancelled; the document stays.
button-expired = This button is no longer valid.
admin-only-button = Only this chat's administrators can use this button.
settings-title-group = <b>Settings of this group</b>
    Tap a button to change it. Only this group's administrators can.
settings-title-private = <b>Settings</b>
    Tap a button to change it.
settings-refused = Only this group's administrators can change its settings.
settings-saved = Saved
settings-language-auto = Language: auto
settings-language-ru = Русский
settings-language-en = English
settings-show-sources-on = Sources: shown
settings-show-sources-off = Sources: hidden
settings-reply-not-found-on = Nothing found: I say so
settings-reply-not-found-off = Nothing found: I stay silent
settings-use-global-on = Global knowledge base: used
settings-use-global-off = Global knowledge base: not used
feedback-thanks = Thanks for the feedback!
feedback-empty = There are no ratings yet.
feedback-export = Ratings of answers: { $count }
human-button = 🙋 Ask a human
human-already = Someone has already called a human for this answer.
human-called = I have called the administrators.
human-nobody = I could not reach any administrator.
human-group-call = { $admins }: { $asker } needs a human answer to this question.
human-private-call =
    🙋 { $asker } needs a human answer.
    <b>Question:</b> { $question }
    <b>My answer:</b> { $answer }
reset-done = Done: I forgot our conversation. The knowledge base is unchanged.
not-found = I could not find an answer to this in the knowledge base. Try rephrasing the question, or ask an administrator to add a document about it.
sources-heading = Sources
page-label = p.
llm-unavailable = The language model is not answering right now. Please try again in a minute.
error-generic = Something went wrong on my side while handling this. Please try again; if it repeats, tell an administrator.
not-a-question = Send me your question as text.
question-too-long = This question is too long ({ $length } characters, the limit is { $limit }). Please shorten it.
upload-refused = Only the bot's administrators can add documents. Nothing was stored.
    Your Telegram id is <code>{ $user_id }</code>: to become an administrator, ask the bot's owner to add it to ADMIN_IDS.
upload-too-large = This file is { $size_mb } MB; the limit is { $max_mb } MB. Nothing was stored.
upload-unsupported = I can't read this file type ({ $name }). Send PDF, DOCX, PPTX, XLSX, EPUB, HTML, Markdown, TXT or a PNG, JPEG or TIFF image. Nothing was stored.
upload-empty = I found no text in { $name }. If it is a scan, it needs text recognition (OCR) first. Nothing was stored.
upload-corrupt = I could not open { $name }: { $reason }. Nothing was stored.
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
docs-item = <code>{ $doc_id }</code> — <b>{ $title }</b>
    { $name } · { $kind }{ $pages ->
        [0] {""}
       *[other] {" "}· { $pages } pages
    } · { $chunks } chunks · { $uploader }, { $date }
delete-usage = Usage: /delete ID (ids are in /docs).
delete-done = Deleted <b>{ $title }</b> and its { $chunks } chunks.
delete-not-found = There is no document with id <code>{ $doc_id }</code> here. See /docs.
unknown-command = I don't know this command. /help lists what I can do.
upload-download-failed = I could not download { $name } from Telegram. Please send it again. Nothing was stored.
upload-failed = Indexing { $name } failed on my side. Nothing was stored; please try again later or tell the bot's operator.
upload-stage-queued = ⏳ { $name }: in the queue…
upload-stage-downloading = ⏳ { $name }: downloading…
upload-stage-parsing = ⏳ { $name }: reading the text…
upload-stage-embedding = ⏳ { $name }: indexing, { $done } of { $total } chunks…
upload-stage-storing = ⏳ { $name }: saving…
upload-interrupted = Indexing { $name } was interrupted by restarts several times, so I stopped. Nothing was stored; please send it again.
add-url-usage = Usage: /add_url https://example.com/page — adds the page's main text (menus and footers are left out).
url-refused = I can't add this address: { $reason }.
url-fetch-failed = I could not load { $url }: { $reason }. Nothing was stored.
upload-password = { $name } is password-protected. Remove the password and send it again. Nothing was stored.
upload-content-too-large = { $name } is too big to index ({ $reason }). Split it into smaller files. Nothing was stored.
upload-replaced = It replaces the previous version of this file (<code>{ $doc_id }</code>, { $chunks } chunks), now deleted.

# --- issue 14: small talk and an empty knowledge base ---
smalltalk-greeting = Hello! I answer questions from this chat's knowledge base and show where each answer comes from. Just ask your question.
smalltalk-thanks = You're welcome! Ask whenever you need something from the documents.
smalltalk-goodbye = Goodbye! Come back with any question about the documents.
smalltalk-ack = 👌 If you have a question about the documents, just ask.
smalltalk-about = I am a helpdesk bot: I answer questions only from the documents in this chat's knowledge base and list the sources under each answer. Ask in your own words, in Russian or English; /help shows more.
empty-base = There are no documents in the knowledge base yet, so I have nothing to answer from. An administrator needs to add some first.
empty-base-admin = The knowledge base is empty, so I have nothing to answer from yet. Send me a file (PDF, DOCX, PPTX, XLSX, EPUB, HTML, Markdown or TXT) or use /add_url with a web page address, and I will answer from it.
empty-base-group-admin = This group's knowledge base is empty, so I have nothing to answer from yet. Send a file with the caption /upload, or use /add_url with a web page address, and I will answer from it.

# --- issue 14: onboarding (/start and /help show the real knowledge base) ---
kb-topics =
    <b>What you can ask about</b>
    { $topics }
    For example: “What does “{ $first }” say about …?”
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
upload-stage-crawling = ⏳ { $name }: page { $done } of at most { $total }…
add-site-usage = Usage: /add_site https://example.com [N] — adds up to N pages of the site (from its sitemap, or by following its links; { $default } by default, at most { $max }), honouring its robots.txt.
site-done =
    Site { $url }: { $indexed } pages indexed, { $unchanged } already current, { $failed } failed{ $disallowed ->
        [0] {""}
       *[other] , { $disallowed } left out by robots.txt
    }. Pages found { $found_by ->
        [sitemap] from the sitemap
       *[other] by following links
    }; they are re-checked for changes.
site-page-failed = • { $url }: { $reason }
docs-web-checked = 🔄 checked { $checked }

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
        [one] { $count } formula without a saved value (indexed as its formula)
       *[other] { $count } formulas without saved values (indexed as formulas)
    }
upload-warning-hidden-sheet = { $count ->
        [one] { $count } hidden sheet, indexed too
       *[other] { $count } hidden sheets, indexed too
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
actions-limited = Too many commands in a short time. Please wait { $seconds } s.
upload-queued-behind = ⏳ { $name }: in the queue, { $ahead ->
    [one] one upload runs first…
   *[other] { $ahead } uploads run first…
}
upload-queue-full = { $name } was not added: this chat already has { $limit } uploads waiting. Send it again when some of them are done.

## Issue 10: streamed answers, stop button, streaming in groups
answer-stopped = ⏹ Stopped: the answer above is incomplete.
settings-stream-in-groups-on = Answers appear as they are written: on
settings-stream-in-groups-off = Answers appear as they are written: off

# issue 14: groups, hand-off, /docs and /settings
admin-only-group = Only this group's administrators can use this command.
handoff-take = ✋ I'll take it
handoff-group =
    🙋 { $asker } would like a person to answer this question.
    <b>Question:</b> { $question }
    <b>My answer:</b> { $answer }
    { $admins }: press “I'll take it” and reply to this message; I will pass your reply on under the question.
handoff-private =
    🙋 { $asker } would like a person to answer.
    <b>Question:</b> { $question }
    <b>My answer:</b> { $answer }
    Press “I'll take it” and reply to this message; I will send your reply to { $asker }.
handoff-taken-by = ✋ Taken by { $admin }.
handoff-already-taken = { $admin } has already taken this question.
handoff-you-took = The question is yours. Reply to the hand-off message, and I will pass your reply on.
handoff-taken-asker = { $asker }, { $admin } will answer your question. The reply will come here.
handoff-answer =
    💬 Answer from { $admin }:
    { $text }
handoff-delivered = ✅ Sent to { $asker }.
handoff-text-only = I can pass on only text. Please reply with text, or with a caption.
settings-state-language = Answer language
settings-state-language-auto = as asked
settings-state-language-ru = Russian
settings-state-language-en = English
settings-state-show-sources = Sources
settings-state-show-sources-on = shown
settings-state-show-sources-off = hidden
settings-state-reply-not-found = When nothing is found
settings-state-reply-not-found-on = say so
settings-state-reply-not-found-off = stay silent
settings-state-use-global = Global knowledge base
settings-state-use-global-on = used
settings-state-use-global-off = not used
docs-back = ◀ Back to the list
docs-page = Page { $page } of { $pages }. Tap a title for details, 🗑 to delete.
settings-state-stream-in-groups = Answers appear as they are written
settings-state-stream-in-groups-on = on
settings-state-stream-in-groups-off = off
