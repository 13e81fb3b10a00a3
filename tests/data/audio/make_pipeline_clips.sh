#!/usr/bin/env bash
# Regenerate the pipeline test clips: 8 kHz mono mu-law WAV, like a phone call.
# Needs espeak-ng and sox (apt-get install -y espeak-ng sox).
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

speak() { # name, voice, text
  espeak-ng -v "$2" -s 150 -w "$tmp/$1.wav" "$3"
  # 0.3 s of silence either side, like an utterance cut by the VAD.
  sox "$tmp/$1.wav" -r 8000 -c 1 -e mu-law "pipeline_$1.wav" pad 0.3 0.3
}

speak question en-us "When is the weekly meeting?"
speak parking en-us "Where can I park my car?"
speak spanish es "¿Cuándo es la reunión semanal?"
# 3 s of digital silence, and 3 s of low hiss (no speech at all).
sox -n -r 8000 -c 1 -e mu-law pipeline_silence.wav trim 0 3
sox -n -r 8000 -c 1 -e mu-law pipeline_noise.wav synth 3 whitenoise vol 0.05
# A cough-like burst in silence: energy but no words.
sox -n -r 8000 -c 1 -e mu-law pipeline_click.wav synth 0.15 brownnoise vol 0.5 pad 1.2 1.6
