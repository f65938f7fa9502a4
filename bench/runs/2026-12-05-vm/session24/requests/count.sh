#!/usr/bin/env bash
# count.sh CASE (BIN=binaries directory, default /var/tmp/binQ): session23's count with the
# interrupts in the window and the per-request summary (IRQ=1 SUMMARY=1); ws-*-{Q,R}.txt are
# its output.
BIN=${BIN:-/var/tmp/binQ} IRQ=1 SUMMARY=1 exec "$(dirname "$0")/../../session23/requests/count.sh" "$@"
