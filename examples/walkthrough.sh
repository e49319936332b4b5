#!/usr/bin/env bash
# Trader -> venue -> auditor, end to end: exactly the commands of examples/WALKTHROUGH.md.
# Exits non-zero as soon as any command's exit code is not the expected one.
#
#   examples/walkthrough.sh                         # uses the `zkmargin` command
#   ZKMARGIN="python -m zkmargin.cli" examples/walkthrough.sh
#   KEEP=1 examples/walkthrough.sh                  # keep the work folder (proofs, log)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ZKMARGIN="${ZKMARGIN:-zkmargin}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/zkmargin-walkthrough.XXXXXX")"
if [ -z "${KEEP:-}" ]; then trap 'rm -rf "$WORK"' EXIT; fi
cd "$HERE"

zkmargin() { command $ZKMARGIN "$@"; }  # `command`: the program, not this function

step() { printf '\n== %s\n' "$*"; }

# expect CODE COMMAND...: run COMMAND, fail the walkthrough unless it exits with CODE.
expect() {
    local want="$1"; shift
    local got=0
    "$@" || got=$?
    if [ "$got" != "$want" ]; then
        echo "walkthrough: expected exit $want, got $got from: $*" >&2
        exit 1
    fi
    echo "   (exit $got, as expected)"
}

VENUE=(--market cross/market.json --policy cross/policy.json --threshold 25000)

step "1. Trader A: clear-text margin report (private, on the trader's machine)"
expect 0 zkmargin check cross/account.json "${VENUE[@]}"

step "2. Venue: its log signing key (once; publish the public key), then a fresh challenge for trader A"
zkmargin venue-keygen -o "$WORK/venue.pem" > "$WORK/venue.pub"
VENUE_PUB="$(cat "$WORK/venue.pub")"
zkmargin challenge > "$WORK/challenge-a.txt"
CHALLENGE_A="$(cat "$WORK/challenge-a.txt")"
echo "   $CHALLENGE_A"

step "3. Trader A: prove (writes proof-a.json atomically)"
expect 0 zkmargin prove cross/account.json "${VENUE[@]}" --challenge "$CHALLENGE_A" \
    -o "$WORK/proof-a.json"

step "4. Anyone: what the bundle says (public statement and sizes only)"
expect 0 zkmargin inspect "$WORK/proof-a.json"

step "5. Venue: verify with its own policy, market, threshold and challenge; log the outcome"
expect 0 zkmargin verify "$WORK/proof-a.json" "${VENUE[@]}" --challenge "$CHALLENGE_A" \
    --log "$WORK/venue.log" --log-key "$WORK/venue.pem" --receipt-out "$WORK/receipt-a.json"
echo "   trader A checks the receipt offline, with the venue's public key only:"
expect 0 zkmargin receipt "$WORK/receipt-a.json" --venue-key "$VENUE_PUB" --bundle "$WORK/proof-a.json"

step "6. Venue: the same proof replayed (with its challenge, or to another one) is rejected (and logged)"
expect 1 zkmargin verify "$WORK/proof-a.json" "${VENUE[@]}" --challenge "$CHALLENGE_A" \
    --log "$WORK/venue.log" --log-key "$WORK/venue.pem"
expect 1 zkmargin verify "$WORK/proof-a.json" "${VENUE[@]}" --challenge "$(zkmargin challenge)" \
    --log "$WORK/venue.log" --log-key "$WORK/venue.pem"

step "7. Venue: a bundle edited to claim a lower threshold is rejected"
sed 's/"threshold": "25000"/"threshold": "0"/' "$WORK/proof-a.json" > "$WORK/edited.json"
expect 1 zkmargin verify "$WORK/edited.json" --market cross/market.json \
    --policy cross/policy.json --threshold 0 --challenge "$CHALLENGE_A"

step "8. Trader C, under-margined: check says no, prove refuses and writes nothing"
expect 1 zkmargin check cross/account_thin.json "${VENUE[@]}"
expect 1 zkmargin prove cross/account_thin.json "${VENUE[@]}" \
    --challenge "$(zkmargin challenge)" -o "$WORK/proof-c.json"
if [ -e "$WORK/proof-c.json" ]; then
    echo "walkthrough: prove refused but left $WORK/proof-c.json" >&2
    exit 1
fi
echo "   (no proof-c.json, as expected)"

step "9. Trader B: challenge, proof, verification (logged)"
CHALLENGE_B="$(zkmargin challenge)"
expect 0 zkmargin prove cross/account_b.json "${VENUE[@]}" --challenge "$CHALLENGE_B" \
    -o "$WORK/proof-b.json"
expect 0 zkmargin verify "$WORK/proof-b.json" "${VENUE[@]}" --challenge "$CHALLENGE_B" \
    --log "$WORK/venue.log" --log-key "$WORK/venue.pem" --json

step "10. Other venues: isolated and portfolio margin"
CHALLENGE_I="$(zkmargin challenge)"
expect 0 zkmargin prove isolated/account.json --market isolated/market.json \
    --policy isolated/policy.json --challenge "$CHALLENGE_I" -o "$WORK/proof-iso.json"
expect 0 zkmargin verify "$WORK/proof-iso.json" --market isolated/market.json \
    --policy isolated/policy.json --challenge "$CHALLENGE_I"
expect 1 zkmargin check isolated/account_thin.json --market isolated/market.json \
    --policy isolated/policy.json
CHALLENGE_P="$(zkmargin challenge)"
expect 0 zkmargin prove portfolio/account.json --market portfolio/market.json \
    --policy portfolio/policy.json --challenge "$CHALLENGE_P" -o "$WORK/proof-pf.json"
expect 0 zkmargin verify "$WORK/proof-pf.json" --market portfolio/market.json \
    --policy portfolio/policy.json --challenge "$CHALLENGE_P"

step "11. Auditor: the venue's log is intact, only grew since the head and receipt kept, and every accepted proof re-verifies"
zkmargin log-head "$WORK/venue.log" --venue-key "$VENUE_PUB" --json > "$WORK/head.json"
expect 0 zkmargin audit "$WORK/venue.log" --venue-key "$VENUE_PUB" --sth "$WORK/head.json" \
    --receipt "$WORK/receipt-a.json"

step "12. Auditor: re-verify the accepted bundles in one batch from the files"
expect 0 zkmargin verify-batch "$WORK/proof-a.json" "$WORK/proof-b.json" "${VENUE[@]}" \
    --challenge "$CHALLENGE_A" --challenge "$CHALLENGE_B"

step "13. A venue whose policy lists a custodian (custodian/; EXAMPLE-ONLY key)"
NOW="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
sed "s/\"as_of\": \"[^\"]*\"/\"as_of\": \"$NOW\"/" custodian/market.json > "$WORK/market-now.json"
CUSTODY=(--market "$WORK/market-now.json" --policy custodian/policy.json)
CHALLENGE_K="$(zkmargin challenge)"
expect 0 zkmargin attest custodian/account.json --policy custodian/policy.json \
    --key custodian/EXAMPLE-ONLY-custodian.key --subject trader-42 --challenge "$CHALLENGE_K" \
    -o "$WORK/att.json" --openings "$WORK/openings.json"
expect 0 zkmargin prove custodian/account.json "${CUSTODY[@]}" --challenge "$CHALLENGE_K" \
    --attestation "$WORK/att.json" --openings "$WORK/openings.json" -o "$WORK/proof-k.json"
expect 0 zkmargin verify "$WORK/proof-k.json" "${CUSTODY[@]}" --challenge "$CHALLENGE_K" \
    --subject trader-42 --log "$WORK/custody.log" --log-key "$WORK/venue.pem"
expect 1 zkmargin verify "$WORK/proof-k.json" "${CUSTODY[@]}" --challenge "$CHALLENGE_K" \
    --subject trader-43
expect 2 zkmargin verify "$WORK/proof-k.json" "${CUSTODY[@]}" --challenge "$CHALLENGE_K"
CHALLENGE_S="$(zkmargin challenge)"
expect 0 zkmargin prove custodian/account.json "${CUSTODY[@]}" --challenge "$CHALLENGE_S" \
    -o "$WORK/proof-self.json"
expect 1 zkmargin verify "$WORK/proof-self.json" "${CUSTODY[@]}" --challenge "$CHALLENGE_S" \
    --subject trader-42 --log "$WORK/custody.log" --log-key "$WORK/venue.pem"
expect 0 zkmargin audit "$WORK/custody.log" --venue-key "$VENUE_PUB"

echo
echo "walkthrough: every step behaved as expected${KEEP:+ (files kept in $WORK)}"
