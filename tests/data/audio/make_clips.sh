#!/bin/sh
# Regenerates the small telephone-quality clips the media tests use (8 kHz G.711 μ-law WAV,
# 8 KB/s). Needs espeak-ng and sox (Debian: apt-get install espeak-ng sox).
# sox runs with -R (repeatable) and -D (no dither), so the output is byte-for-byte stable
# for a given espeak-ng/sox version.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# say NAME TEXT: speak, then trim espeak's leading/trailing silence
say() {
    espeak-ng -v en-us -s 150 -w "$tmp/raw-$1.wav" "$2"
    sox -R -D "$tmp/raw-$1.wav" "$tmp/$1.wav" \
        silence 1 0.01 1% reverse silence 1 0.01 1% reverse
}
# ulaw IN OUT [effects…]
ulaw() {
    in=$1 out=$2
    shift 2
    sox -R -D "$in" -r 8000 -c 1 -e mu-law "$out" "$@"
}

say question "When is the weekly meeting?"
say hello "Hello there."
say ask "I have a question about my invoice."
say yes "yes"

# a question with 0.5 s of silence before and 1.2 s after
ulaw "$tmp/question.wav" speech_question.wav pad 0.5 1.2
# two phrases 0.35 s apart (a pause that is not the end of the turn), then 1.2 s of silence
sox -R -D "$tmp/hello.wav" "$tmp/h.wav" pad 0.5 0.35
sox -R -D "$tmp/ask.wav" "$tmp/a.wav" pad 0 1.2
sox -R -D "$tmp/h.wav" "$tmp/a.wav" "$tmp/turn.wav"
ulaw "$tmp/turn.wav" speech_turn.wav
# a short backchannel ("yes", ~0.3 s) with silence around it
ulaw "$tmp/yes.wav" backchannel.wav pad 0.5 1.0
# 2 s of silence and 2 s of white noise at -20 dBFS-ish
sox -R -D -n -r 8000 -c 1 -e mu-law silence.wav trim 0 2
sox -R -D -n -r 8000 -c 1 -e mu-law noise.wav synth 2 whitenoise vol 0.1
ls -l speech_question.wav speech_turn.wav backchannel.wav silence.wav noise.wav
