#!/usr/bin/env bash
# From exchange data to a verified proof: a recording of ccxt results from Binance USDⓈ-M
# (examples/exchange/binanceusdm: markets, leverage tiers, mark prices, positions, balance;
# anonymised) becomes the venue's policy and market snapshot, the trader's private account, a
# proof, and the venue's verification. Exits non-zero as soon as a command's exit code is not the
# expected one.
#
#   examples/exchange/walkthrough.sh                          # uses the `zkmargin` command
#   ZKMARGIN="python -m zkmargin.cli" examples/exchange/walkthrough.sh
#   KEEP=1 examples/exchange/walkthrough.sh                   # keep the work folder
#
# Live instead of the recording: replace `--data binanceusdm` by `--live` (pip install
# 'zkmargin[ccxt]'; ZKMARGIN_BINANCE_API_KEY and ZKMARGIN_BINANCE_API_SECRET in the environment).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ZKMARGIN="${ZKMARGIN:-zkmargin}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/zkmargin-exchange.XXXXXX")"
if [ -z "${KEEP:-}" ]; then trap 'rm -rf "$WORK"' EXIT; fi
cd "$HERE"

zkmargin() { command $ZKMARGIN "$@"; }  # `command`: the program, not this function
step() { printf '\n== %s\n' "$*"; }
expect() {
    local want="$1"; shift
    local got=0
    "$@" || got=$?
    if [ "$got" != "$want" ]; then
        echo "exchange walkthrough: expected exit $want, got $got from: $*" >&2
        exit 1
    fi
    echo "   (exit $got, as expected)"
}

step "1. Venue: policy (from the leverage brackets) and market snapshot (from the marks)"
expect 0 zkmargin import-venue binanceusdm --data binanceusdm --symbols BTCUSDT,ETHUSDT,SOLUSDT \
    --policy-out "$WORK/policy.json" --market-out "$WORK/market.json"

step "2. Trader: the private account file (mode 0600) from balances and positions"
expect 0 zkmargin import-account binanceusdm --data binanceusdm --policy "$WORK/policy.json" \
    -o "$WORK/account.json"
expect 0 zkmargin reconcile binanceusdm "$WORK/account.json" --policy "$WORK/policy.json" \
    --data binanceusdm

step "3. Trader: prove against the venue's fresh challenge; venue: verify with its own files"
CHALLENGE="$(zkmargin challenge)"
expect 0 zkmargin prove "$WORK/account.json" --market "$WORK/market.json" \
    --policy "$WORK/policy.json" --threshold 1000 --challenge "$CHALLENGE" -o "$WORK/proof.json"
expect 0 zkmargin verify "$WORK/proof.json" --market "$WORK/market.json" \
    --policy "$WORK/policy.json" --threshold 1000 --challenge "$CHALLENGE"
expect 1 zkmargin verify "$WORK/proof.json" --market "$WORK/market.json" \
    --policy "$WORK/policy.json" --threshold 1000 --challenge "$(zkmargin challenge)"

echo
echo "exchange walkthrough: every step behaved as expected"
