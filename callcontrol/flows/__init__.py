"""Scripted flows: a declarative conversation (say, ask, branch, answer questions, collect
DTMF, transfer, set fields, hang up) that a campaign call or an inbound number runs
instead of free question answering. ``model`` validates the document, ``render`` fills
its templates per language, ``intents`` reads an answer, ``engine`` walks the nodes (no
I/O), ``policy`` plays it on a call."""
