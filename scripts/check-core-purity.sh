#!/usr/bin/env bash
# Architecture invariant: the pure core (sentientiq-core) has no runtime, database, RPC or cloud
# crate anywhere in its dependency tree (normal and build dependencies). Fails loudly if one
# appears, naming it and the path that pulled it in.
set -euo pipefail
cd "$(dirname "$0")/.."
forbidden='^(glommio|tokio|tokio-[a-z-]+|async-std|smol|mio|futures|futures-[a-z-]+|rocksdb|librocksdb-sys|tonic|tonic-[a-z-]+|prost|prost-[a-z-]+|hyper|h2|quinn|quinn-[a-z-]+|aws-[a-z0-9-]+|reqwest|parquet|arrow|arrow-[a-z-]+|rand|rand_core|getrandom)$'
tree=$(cargo tree -p sentientiq-core -e normal,build --prefix none --format '{p}' 2>/dev/null | awk '{print $1}' | sort -u)
if [ -z "$tree" ]; then
  echo "check-core-purity: cargo tree printed nothing" >&2
  exit 1
fi
bad=$(printf '%s\n' "$tree" | grep -E "$forbidden" || true)
if [ -n "$bad" ]; then
  echo "check-core-purity: sentientiq-core must stay pure, but its tree holds:" >&2
  for c in $bad; do
    echo "  $c, via:" >&2
    cargo tree -p sentientiq-core -e normal,build -i "$c" 2>&1 | sed 's/^/    /' >&2
  done
  exit 1
fi
echo "check-core-purity: ok ($(printf '%s\n' "$tree" | wc -l) crates, none forbidden)"
