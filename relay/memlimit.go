package main

import (
	"os"
	"runtime/debug"
)

// memLimit is the relay's soft memory limit for the Go runtime. Without one
// the garbage collector lets the heap grow to twice the live heap: ingesting
// into Badger, the live heap is about 100 MiB (two memtable arenas of
// 21 MiB, block and index caches of 16 MiB each, a compaction's table
// builder, batches being decoded, the embedded NATS server), so the
// anonymous RSS reached 230 MiB, which with the binary's mapped pages and
// the store's mapped files put the relay over 256 MiB. The limit keeps the
// heap near 160 MiB; the collector works harder only near the peaks. It is
// a soft limit: a live heap above it is never refused, the collector just
// runs more often (at most half the CPU, the runtime's cap). GOMEMLIMIT in
// the environment overrides it.
const memLimit = 160 << 20

// applyMemoryLimit sets memLimit unless GOMEMLIMIT is set, and returns the
// limit in force.
func applyMemoryLimit() int64 {
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		return debug.SetMemoryLimit(-1)
	}
	debug.SetMemoryLimit(memLimit)
	return memLimit
}
