#!/usr/bin/env bash
# Makes assets/fonts/DejaVuSans*-Symbols.ttf: the symbol ranges of DejaVu
# Sans and Sans Mono that egui's own fonts lack. Needs fonts-dejavu-core
# (apt) and fonttools (pip).
set -euo pipefail
cd "$(dirname "$0")/.."
ranges="U+00A0-00FF,U+2010-2027,U+2030-205E,U+2070-209F,U+20A0-20BF,U+2100-214F,U+2150-218F,U+2190-21FF,U+2200-22FF,U+2300-23FF,U+2460-24FF,U+2500-257F,U+2580-259F,U+25A0-25FF,U+2600-26FF,U+2700-27BF"
for f in DejaVuSans DejaVuSansMono; do
    pyftsubset "/usr/share/fonts/truetype/dejavu/$f.ttf" --unicodes="$ranges" \
        --output-file="assets/fonts/$f-Symbols.ttf" --no-hinting --desubroutinize
done
