package buffer

import "time"

// Stats is a snapshot of the buffer for status and metrics. Pending means
// appended and not yet acked, whether leased or not.
type Stats struct {
	PendingBatches int64
	PendingRecords int64
	PendingBytes   int64     // sum of the pending batches' Data lengths
	MaxBytes       int64     // the bound on PendingBytes (Options.MaxBytes)
	Oldest         time.Time // Created of the oldest pending batch; zero when empty
	FreeDisk       uint64    // free bytes on the buffer's filesystem; 0 when unknown
	LastGC         time.Time // end of Run's last value-log GC pass; zero before the first
	LastSeq        uint64    // highest Seq ever assigned; the next Append gets a larger one
}

// Stats returns the current figures. It reads the in-memory index (rebuilt
// at Open) and asks the filesystem for its free space: cheap enough for
// every status request.
func (b *Buffer) Stats() Stats {
	free, err := b.statfs(b.opts.Dir)
	if err != nil {
		free = 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := Stats{
		PendingBatches: int64(len(b.queue)),
		PendingRecords: b.pendingRecords,
		PendingBytes:   b.pendingBytes,
		MaxBytes:       b.opts.MaxBytes,
		FreeDisk:       free,
		LastGC:         b.lastGC,
		LastSeq:        b.lastSeq,
	}
	if len(b.queue) > 0 {
		s.Oldest = b.queue[0].created
	}
	return s
}

// Empty reports whether no batch is pending (every appended batch is acked).
func (b *Buffer) Empty() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue) == 0
}
