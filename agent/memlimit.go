package main

import (
	"os"
	"runtime/debug"
	"sync/atomic"
)

// The agent's soft memory limit for the Go runtime: memLimitBase plus
// memLimitPerBuffer for each open buffer. Without one the garbage collector
// lets the heap grow to twice the live heap, and a backfill's live heap
// peaks (memtable arena, table builder, one decoded page: about 46 MiB) put
// the peak RSS of a 100k-record backfill at 105 MiB; with the limit it is
// 74 MiB at the same CPU (the collector only works harder near the peaks).
// It is a soft limit: a live heap above it is never refused, the collector
// just runs more often. GOMEMLIMIT in the environment overrides it.
const (
	memLimitBase      = 24 << 20 // decoded pages, zstd, NATS, HTTP, runtime
	memLimitPerBuffer = 28 << 20 // memtable arena (~11 MiB) and level-0 table builder (~12 MiB)
)

// applyMemoryLimit sets the soft memory limit for an agent with buffers
// open buffers, unless GOMEMLIMIT is set. It returns the limit in force.
func applyMemoryLimit(buffers int) int64 {
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		return debug.SetMemoryLimit(-1)
	}
	limit := int64(memLimitBase + max(buffers, 1)*memLimitPerBuffer)
	debug.SetMemoryLimit(limit)
	return limit
}

// hostedBuffers counts the buffers a hosted agent's pipelines hold open.
var hostedBuffers atomic.Int64

// hostedBuffersOpened adjusts the memory limit when a hosted agent opens
// (n = 1) or closes (n = -1) a pipeline's buffer: the limit must follow
// the number of pipelines, or the collector would run without pause once
// their live heaps pass a limit sized for one.
func hostedBuffersOpened(n int) {
	applyMemoryLimit(int(hostedBuffers.Add(int64(n))))
}
