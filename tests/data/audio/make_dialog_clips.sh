#!/bin/sh
# Regenerates the dialog tests' caller clips: 8 kHz G.711 mu-law WAV, as a phone sends.
# Needs espeak-ng and sox (Debian: apt-get install espeak-ng sox); -R -D keep the output
# stable for a given espeak-ng/sox version.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

say() {  # say NAME RATE TEXT
    espeak-ng -v en-us -s "$2" -w "$tmp/raw-$1.wav" "$3"
    sox -R -D "$tmp/raw-$1.wav" "$tmp/$1.wav" silence 1 0.01 1% reverse silence 1 0.01 1% reverse
}
say question 130 "When is the weekly meeting?"
say interrupt 140 "Wait, wait. I have another question."
say person 130 "Can I talk to a person please?"
say bye 130 "Thank you, goodbye."
say barge 125 "Can you tell me when the weekly meeting is and where it is?"
say saturday 135 "What time do you open on Saturday?"
say dog 135 "Can I bring my dog into the shop?"
say sunday 135 "What time are you open on Sunday?"
# 0.3 s before the words, 1.5 s of silence after (the caller waits for the answer)
sox -R -D "$tmp/question.wav" -r 8000 -c 1 -e mu-law dialog_question.wav pad 0.3 1.5
sox -R -D "$tmp/interrupt.wav" -r 8000 -c 1 -e mu-law dialog_interrupt.wav pad 0 1.5
sox -R -D "$tmp/person.wav" -r 8000 -c 1 -e mu-law dialog_person.wav pad 0.3 1.5
sox -R -D "$tmp/bye.wav" -r 8000 -c 1 -e mu-law dialog_bye.wav pad 0.3 1.5
sox -R -D "$tmp/saturday.wav" -r 8000 -c 1 -e mu-law dialog_saturday.wav pad 0.3 1.5
sox -R -D "$tmp/dog.wav" -r 8000 -c 1 -e mu-law dialog_dog.wav pad 0.3 1.5
sox -R -D "$tmp/sunday.wav" -r 8000 -c 1 -e mu-law dialog_sunday.wav pad 0.3 1.5
# 3.8 s of words from the first sample to the last: it barges in on the greeting, and the
# caller's turn ends only in the silence that `callcontrol call` streams after the file
sox -R -D "$tmp/barge.wav" -r 8000 -c 1 -e mu-law dialog_barge_question.wav
ls -l dialog_*.wav
