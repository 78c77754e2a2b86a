#!/usr/bin/env bash
# bench/libraries.sh: retrieval quality and cost of the knowledge libraries' embedded index
# (crates/knowledge), on a generated corpus with known answers.
#
# Builds the `retrieval_bench` example and runs it: FACTS passages, each one fact about a company
# among the company's other facts and other companies' same fact, with French synonyms for each
# attribute so that about half the questions share no attribute word with their answer. It
# prints recall@10 and nDCG@10 of hybrid search (BM25 and vectors, fused by reciprocal rank)
# against BM25 alone, filtered recall for a reader of 1 % of the library against the same
# questions unfiltered, ingestion into the index (passages a second, one writer thread,
# embeddings excluded) and search latency p50/p99, hybrid and BM25 alone. The embeddings are a
# stand-in that knows the corpus's synonyms and weighs words by inverse document frequency (see
# the example's docs): the figures measure the index and the fusion.
#
# With SYNC=1 it builds and runs the `sync_bench` example instead: what a replica's index sync
# costs with DOCUMENTS documents of CHUNKS chunks stored, reading the change log after its cursor
# against comparing every stored document (see the example's docs).
#
# With INGEST=1 it builds and runs the `ingest_bench` example instead: what ingestion costs per
# page of generated PDF and DOCX documents (the crate's readers, chunking and the index, one
# commit a document, embeddings excluded), pages a second on the pinned core, per format.
#
# Usage, from anywhere:  bash bench/libraries.sh      SYNC=1 bash bench/libraries.sh
#                        INGEST=1 bash bench/libraries.sh
# Knobs (environment):
#   SYNC=1   DOCUMENTS=20000   CHUNKS=50   ROUNDS=20   the sync bench (DATABASE_URL: an empty
#                     store to fill instead of a temporary SQLite file)
#   INGEST=1   PAGES=300   PAGES_PER_DOCUMENT=10   the ingestion bench (pages a format)
#   FACTS=20000   passages       QUESTIONS=1000   questions asked
#   DIMENSIONS=384   the stand-in embedding's size
#   PROFILE=release   the cargo profile (`dev` for a debug build: quality figures are the same,
#                     timings are not)
#   CPU=0         core to pin to with taskset when available (empty: no pinning)
#   CARGO_TARGET_DIR   honoured as cargo honours it
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
FACTS=${FACTS:-20000}
QUESTIONS=${QUESTIONS:-1000}
PROFILE=${PROFILE:-release}
CPU=${CPU-0}

EXAMPLE=retrieval_bench
ARGS=("$FACTS" "$QUESTIONS" "${DIMENSIONS:-384}")
if [[ "${SYNC:-}" == 1 ]]; then
  EXAMPLE=sync_bench
  ARGS=("${DOCUMENTS:-20000}" "${CHUNKS:-50}" "${ROUNDS:-20}")
elif [[ "${INGEST:-}" == 1 ]]; then
  EXAMPLE=ingest_bench
  ARGS=("${PAGES:-300}" "${PAGES_PER_DOCUMENT:-10}" "${DIMENSIONS:-384}")
fi

cd "$REPO_ROOT"
cargo build --profile "$PROFILE" -p knowledge --features samples --example "$EXAMPLE"
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
case $PROFILE in
  dev) OUT=debug ;;
  *) OUT=$PROFILE ;;
esac
BIN="$TARGET_DIR/$OUT/examples/$EXAMPLE"

PIN=()
if [[ -n "$CPU" ]] && command -v taskset >/dev/null; then
  PIN=(taskset -c "$CPU")
fi
"${PIN[@]}" "$BIN" "${ARGS[@]}"
