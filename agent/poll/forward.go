package poll

import (
	"context"
	"fmt"
	"sync"

	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// IndexedPerBatch bounds the records of one batch: with their index rows
// (about 60 bytes each as Badger counts a transaction) the batch's data
// (at most wire.MaxPayload) still fits one buffer transaction.
const IndexedPerBatch = 2000

// indexed reports whether the upserts of table are kept in the forwarded
// index: the configured tables incremental on sys_updated_on, the ones a
// reconciliation sweep compares with ServiceNow.
func (p *Poller) indexed(table string) bool {
	for _, t := range p.cfg.Tables {
		if t.Name == table {
			return t.Field == servicenow.FieldUpdatedOn
		}
	}
	return false
}

// tableLocks serialise the writers of one table's cursor and index rows.
type tableLocks struct {
	mu    sync.Mutex // guards locks
	locks map[string]*sync.Mutex
}

func (l *tableLocks) of(table string) *sync.Mutex {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.locks == nil {
		l.locks = map[string]*sync.Mutex{}
	}
	m := l.locks[table]
	if m == nil {
		m = &sync.Mutex{}
		l.locks[table] = m
	}
	return m
}

// LockTable waits until no poll of table runs and keeps the next from
// starting until the returned unlock is called: a reconciliation sweep
// holds it while it compares and repairs a window, so the poll and the
// sweep never write the same table's index rows at once.
func (p *Poller) LockTable(table string) (unlock func()) {
	m := p.locks.of(table)
	m.Lock()
	return m.Unlock
}

// Forward commits records of table that a reconciliation sweep found
// missing, changed or gone (deletes) in the cloud: batches like a poll's,
// each with the index rows of its records in the same transaction, and no
// cursor move. The caller holds LockTable(table). A batch found damaged
// later is re-read from the relay's confirmation of the table (its range
// has no cursors), and the next sweep compares again.
func (p *Poller) Forward(ctx context.Context, table string, recs []wire.Record) error {
	for _, g := range byTable(recs) {
		for len(g) > 0 {
			n := min(len(g), IndexedPerBatch)
			cs, err := encodeChunks(g[:n])
			if err != nil {
				return fmt.Errorf("encode %s repairs: %w", table, err)
			}
			g = g[n:]
			for _, c := range cs {
				b := buffer.Batch{Label: c.label, Records: c.records, Data: c.data, Range: buffer.Range{Table: table}}
				if err := p.append(ctx, b, indexState(nil, c.recs, p.indexed)); err != nil {
					return fmt.Errorf("buffer %s repairs: %w", table, err)
				}
			}
		}
	}
	return nil
}
