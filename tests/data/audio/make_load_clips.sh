#!/bin/sh
# Regenerates the speech clip of the sipp load test (tests/load): 8 kHz G.711 mu-law WAV.
# tests/load/wav2pcap.py turns it into the RTP pcap the "caller asks a question" scenario
# plays. Needs espeak-ng and sox (Debian: apt-get install espeak-ng sox); -R -D keep the
# output stable for a given espeak-ng/sox version.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# (tiny.en transcribes this sentence reliably at this speed; longer ones came out garbled)
espeak-ng -v en-us -s 110 -w "$tmp/raw.wav" "When do you open on Saturday?"
sox -R -D "$tmp/raw.wav" "$tmp/trimmed.wav" silence 1 0.01 1% reverse silence 1 0.01 1% reverse
# 0.5 s of silence before the question and 2 s after it (the caller waits for the answer)
sox -R -D "$tmp/trimmed.wav" -r 8000 -c 1 -e mu-law load_question.wav pad 0.5 2.0
