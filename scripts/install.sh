#!/usr/bin/env bash
# Idempotent set-up: Debian packages, a virtual environment in .venv, and idsight with its
# dependencies. Each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

# The fonts are the generators' typefaces: every family that prints Hangul or Latin is drawn (two are
# held out of training; idsight.data.synth.compose.fontpool).
APT_PKGS=(tesseract-ocr tesseract-ocr-eng tesseract-ocr-kor chromium dataset-fashion-mnist
          fonts-nanum fonts-unfonts-core fonts-unfonts-extra fonts-baekmuk fonts-alee fonts-lexi-gulim
          fonts-lexi-saebom fonts-dejavu-core fonts-ocr-b fonts-liberation fonts-freefont-ttf
          fonts-roboto-unhinted fonts-open-sans fonts-lato fonts-crosextra-carlito fonts-crosextra-caladea
          fonts-sil-gentium fonts-linuxlibertine fonts-ebgaramond fonts-cantarell)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[install] apt: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[install] creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.idsight-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  # torch's CUDA build and its libraries take about 6.5 GB installed, plus about 3 GB of
  # downloads while pip runs; pip's wheel cache would keep a third copy, so it is off.
  free_mb=$(df -Pm . | awk 'NR==2 {print $4}')
  echo "[install] pip install -e .[dev] (first time: downloads torch, several GB; ${free_mb} MB free here)"
  if [ "$free_mb" -lt 10000 ]; then
    echo "[install] warning: the first install needs about 10 GB free disk; ${free_mb} MB is free" >&2
  fi
  export PIP_NO_CACHE_DIR=1
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
  echo "$want" > "$stamp"
fi
