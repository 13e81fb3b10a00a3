#!/bin/sh
# Regenerates the scripted-flow tests' callee answers: 8 kHz G.711 mu-law WAV, as a phone
# sends. Needs espeak-ng and sox (Debian: apt-get install espeak-ng sox).
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

say() {  # say NAME VOICE RATE TEXT
    espeak-ng -v "$2" -s "$3" -w "$tmp/raw-$1.wav" "$4"
    sox -R -D "$tmp/raw-$1.wav" "$tmp/$1.wav" silence 1 0.01 1% reverse silence 1 0.01 1% reverse
    # 0.3 s before the words, 1.5 s of silence after (the callee waits for the bot)
    sox -R -D "$tmp/$1.wav" -r 8000 -c 1 -e mu-law "flow_$1.wav" pad 0.3 1.5
}
say yes en-us 140 "Yes, I can."
say no en-us+m3 140 "No, I can't."
say friday en+f3 140 "Next Friday."
say four_digits en-us 140 "One, two, three, four."
