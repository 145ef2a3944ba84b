package poll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// commitPage encodes a page's records into batches of at most
// wire.MaxPayload, one table per batch (a sys_audit page also carries
// deletions of incidents, which travel on the incident subject), and appends
// them; the last append also moves the scanned table's cursor. A crash
// between the parts of a page re-reads the page, which only repeats records
// the relay ignores.
//
// Every batch records the range it covers, table t from prev (the cursor
// before the page) to the page's cursor: a batch later found damaged is
// read again from there.
func (p *Poller) commitPage(ctx context.Context, t servicenow.Table, pg servicenow.Page, prev servicenow.Cursor) error {
	cur, err := json.Marshal(pg.Cursor)
	if err != nil {
		return err
	}
	from, err := json.Marshal(prev)
	if err != nil {
		return err
	}
	rng := buffer.Range{Table: t.Name, From: string(from), To: string(cur)}
	var chunks []chunk
	for _, g := range byTable(pg.Records) {
		for len(g) > 0 { // at most IndexedPerBatch, so the batch and its index rows fit one transaction
			n := min(len(g), IndexedPerBatch)
			cs, err := encodeChunks(g[:n])
			if err != nil {
				return fmt.Errorf("encode %s page %d: %w", t.Name, pg.Number, err)
			}
			chunks, g = append(chunks, cs...), g[n:]
		}
	}
	for i, c := range chunks {
		var state map[string][]byte
		if i == len(chunks)-1 {
			state = map[string][]byte{cursorKey(t.Name): cur}
		}
		state = indexState(state, c.recs, p.indexed)
		b := buffer.Batch{Label: c.label, Records: c.records, Data: c.data, Range: rng}
		if err := p.append(ctx, b, state); err != nil {
			return fmt.Errorf("buffer %s page %d: %w", t.Name, pg.Number, err)
		}
	}
	if len(chunks) == 0 { // every row hidden or filtered: still move the cursor
		if err := p.buf.Set(ctx, cursorKey(t.Name), cur); err != nil {
			return fmt.Errorf("save cursor of %s: %w", t.Name, err)
		}
	}
	now := p.cfg.Now()
	p.update(t.Name, func(s *TableStats) {
		if s.Cursor.Less(pg.Cursor) {
			s.CursorAdvanced = now
		}
		s.Cursor = pg.Cursor
		s.LastRecords += len(pg.Records)
		s.TotalRecords += int64(len(pg.Records))
		s.Pages++
	})
	return nil
}

// byTable splits records by their table, keeping their order within each
// and the tables in order of first appearance.
func byTable(recs []wire.Record) [][]wire.Record {
	var order []string
	groups := map[string][]wire.Record{}
	for _, r := range recs {
		if _, ok := groups[r.Table]; !ok {
			order = append(order, r.Table)
		}
		groups[r.Table] = append(groups[r.Table], r)
	}
	out := make([][]wire.Record, 0, len(order))
	for _, t := range order {
		out = append(out, groups[t])
	}
	return out
}

// append retries while the buffer is full or the disk nearly so: the
// forwarder is draining it. The cursor is not moved meanwhile.
func (p *Poller) append(ctx context.Context, b buffer.Batch, state map[string][]byte) error {
	for {
		_, err := p.buf.Append(ctx, b, state)
		full := errors.Is(err, buffer.ErrFull) || errors.Is(err, buffer.ErrDiskFull)
		p.setPaused(full, err)
		if !full {
			return err
		}
		t := time.NewTimer(p.cfg.RetryFull)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

type chunk struct {
	label   string // the table, or wire.PartLabel for a part
	records int
	data    []byte
	recs    []wire.Record // the records it completes (for the index); none for all parts but the last
}

// encodeChunks encodes records of one table as one batch, halving the record count until
// each encoded part fits wire.MaxPayload and the relay's decoded limits
// (wire.MaxDecoded, wire.MaxRecords). A single record whose body passes
// wire.MaxPayload travels as a part set (wire.Split): one chunk per part,
// each its own batch, so it never blocks its table. Only the last part
// counts the record.
func encodeChunks(recs []wire.Record) ([]chunk, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	data, err := wire.Encode(recs)
	tooBig := errors.Is(err, wire.ErrTooLarge) || errors.Is(err, wire.ErrTooManyRecords)
	if err != nil && (!tooBig || len(recs) == 1) {
		return nil, fmt.Errorf("encode record %s/%s: %w", recs[0].Table, recs[0].SysID, err)
	}
	if !tooBig && len(data) <= wire.MaxPayload {
		return []chunk{{recs[0].Table, len(recs), data, recs}}, nil
	}
	if len(recs) == 1 {
		return encodeParts(recs[0], data)
	}
	half := len(recs) / 2
	a, err := encodeChunks(recs[:half])
	if err != nil {
		return nil, err
	}
	b, err := encodeChunks(recs[half:])
	if err != nil {
		return nil, err
	}
	return append(a, b...), nil
}

// encodeParts cuts the body of one record into a part set.
func encodeParts(r wire.Record, data []byte) ([]chunk, error) {
	set, parts, err := wire.Split(data)
	if err != nil {
		return nil, fmt.Errorf("record %s/%s: %w", r.Table, r.SysID, err)
	}
	out := make([]chunk, len(parts))
	for i, d := range parts {
		p := wire.Part{Set: set, Index: i + 1, Count: len(parts)}
		out[i] = chunk{label: wire.PartLabel(r.Table, p), data: d}
	}
	out[len(out)-1].records = 1
	out[len(out)-1].recs = []wire.Record{r}
	return out, nil
}
