package poll

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// largePage is a page of n incidents, each with a description of size
// bytes of hex noise: every one is larger than one message.
func largePage(n, size int, at string) servicenow.Page {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(size)))
	p := servicenow.Page{Table: "incident", Number: 1, Cursor: servicenow.Cursor{Time: at, SysID: fmt.Sprintf("%032x", n)}}
	for i := range n {
		b := make([]byte, size/2)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		p.Records = append(p.Records, wire.Record{Op: wire.OpUpsert, Table: "incident", SysID: fmt.Sprintf("%032x", i),
			SysUpdatedOn: at, SysModCount: 1, Fields: map[string]json.RawMessage{"description": json.RawMessage(strconv.Quote(hex.EncodeToString(b)))}})
	}
	return p
}

// leased is what the buffer held: whole batches' records, and the parts
// of part sets by set id and index.
type leased struct {
	records []wire.Record
	parts   map[string]map[int][]byte
	counts  map[string]int
}

// drainParts leases and acks everything in buf, checking each batch as
// the relay would: a whole batch decodes and fits one message, a part's
// label names its table and part and fits one message.
func drainParts(t *testing.T, buf *buffer.Buffer) leased {
	t.Helper()
	out := leased{parts: map[string]map[int][]byte{}, counts: map[string]int{}}
	for {
		bs, err := leaseNow(buf, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) == 0 {
			return out
		}
		for _, b := range bs {
			if len(b.Data) > wire.MaxPayload {
				t.Errorf("batch %s of %d bytes, more than one message (%d)", b.ID, len(b.Data), wire.MaxPayload)
			}
			table, p, isPart, err := wire.ParseLabel(b.Label)
			if err != nil || table != "incident" {
				t.Fatalf("batch %s label %q: table %q, %v", b.ID, b.Label, table, err)
			}
			if isPart {
				if out.parts[p.Set] == nil {
					out.parts[p.Set] = map[int][]byte{}
				}
				if old, ok := out.parts[p.Set][p.Index]; ok && string(old) != string(b.Data) {
					t.Errorf("part %d of set %s buffered twice with different bytes", p.Index, p.Set)
				}
				out.parts[p.Set][p.Index] = b.Data
				out.counts[p.Set] = p.Count
			} else {
				rs, err := wire.Decode(b.Data)
				if err != nil {
					t.Fatalf("batch %s: %v", b.ID, err)
				}
				out.records = append(out.records, rs...)
			}
			if err := buf.Ack(context.Background(), b.Seq); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// join reassembles every complete set as the relay does and returns its
// records after the whole batches' ones.
func (l leased) join(t *testing.T) []wire.Record {
	t.Helper()
	recs := l.records
	for set, parts := range l.parts {
		var data [][]byte
		for i := 1; i <= l.counts[set]; i++ {
			d, ok := parts[i]
			if !ok {
				t.Fatalf("set %s lacks part %d of %d", set, i, l.counts[set])
			}
			data = append(data, d)
		}
		body, err := wire.Join(set, data)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := wire.Decode(body)
		if err != nil {
			t.Fatalf("set %s: %v", set, err)
		}
		recs = append(recs, rs...)
	}
	return recs
}

// TestPageOfLargeRecordsTravelsInParts: a page made only of records larger
// than one message is buffered as part sets, one per record, and the cursor
// moves past it. Before part sets, the page failed at every poll.
func TestPageOfLargeRecordsTravelsInParts(t *testing.T) {
	pg := largePage(3, 5<<20, "2026-10-31 10:00:00")
	buf := openBuffer(t, 1<<30)
	clk := &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	p := New(Config{Tables: []servicenow.Table{{Name: "incident", Field: "sys_updated_on"}}, Lookback: 48 * time.Hour,
		Now: clk.Now, Logger: zerolog.Nop()}, &fakeSource{pages: []servicenow.Page{pg}}, buf)
	if err := p.PollOnce(context.Background()); err != nil {
		t.Fatalf("PollOnce: %v", err)
	}
	cur, err := buf.Get(cursorKey("incident"))
	if err != nil || !json.Valid(cur) {
		t.Fatalf("cursor after the page = %s, %v", cur, err)
	}
	var got servicenow.Cursor
	if err := json.Unmarshal(cur, &got); err != nil || got != pg.Cursor {
		t.Errorf("cursor = %+v, want the page's %+v", got, pg.Cursor)
	}
	l := drainParts(t, buf)
	if len(l.parts) != 3 || len(l.records) != 0 {
		t.Errorf("buffered %d part sets and %d whole records, want 3 sets", len(l.parts), len(l.records))
	}
	sameRecords(t, pg.Records, l.join(t))
	if s := p.Stats().Tables; len(s) != 1 || s[0].TotalRecords != 3 {
		t.Errorf("stats = %+v, want 3 records of incident", s)
	}
}

// crashingBuffer fails Appends after ok of them succeeded: the agent dies
// between the parts of a page.
type crashingBuffer struct {
	*buffer.Buffer
	ok int
}

func (c *crashingBuffer) Append(ctx context.Context, b buffer.Batch, st map[string][]byte) (buffer.Batch, error) {
	if c.ok == 0 {
		return buffer.Batch{}, errors.New("killed")
	}
	c.ok--
	return c.Buffer.Append(ctx, b, st)
}

// TestCrashBetweenPartsLosesNothing: the agent stops after buffering some
// parts of a page; its cursor has not moved, so the next poll reads the
// page again and sends the same part sets (same ids, same bytes): the relay
// stores the repeated parts once and applies every record.
func TestCrashBetweenPartsLosesNothing(t *testing.T) {
	pg := largePage(2, 5<<20, "2026-10-31 10:00:00")
	buf := openBuffer(t, 1<<30)
	clk := &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	cfg := Config{Tables: []servicenow.Table{{Name: "incident", Field: "sys_updated_on"}}, Lookback: 48 * time.Hour, Now: clk.Now, Logger: zerolog.Nop()}
	src := &fakeSource{pages: []servicenow.Page{pg}}
	crash := &crashingBuffer{Buffer: buf, ok: 4}
	if err := New(cfg, src, crash).PollOnce(context.Background()); err == nil {
		t.Fatal("PollOnce succeeded through a crash")
	}
	if _, err := buf.Get(cursorKey("incident")); !errors.Is(err, buffer.ErrNotFound) {
		t.Fatalf("cursor stored by a page cut short: %v", err)
	}
	if err := New(cfg, src, buf).PollOnce(context.Background()); err != nil {
		t.Fatalf("PollOnce after the crash: %v", err)
	}
	if _, err := buf.Get(cursorKey("incident")); err != nil {
		t.Fatalf("cursor after the page: %v", err)
	}
	l := drainParts(t, buf) // fails on a part id reused for other bytes
	if len(l.parts) != 2 {
		t.Errorf("%d part sets, want 2: a re-read must reuse the set ids", len(l.parts))
	}
	sameRecords(t, pg.Records, l.join(t))
}

// sameRecords checks that got holds exactly want's records, in any order
// (compared as NDJSON: cmp on megabytes of fields is slow).
func sameRecords(t *testing.T, want, got []wire.Record) {
	t.Helper()
	sorted := func(rs []wire.Record) []byte {
		rs = slices.Clone(rs)
		slices.SortFunc(rs, func(a, b wire.Record) int { return strings.Compare(a.SysID, b.SysID) })
		nd, err := wire.EncodeNDJSON(rs)
		if err != nil {
			t.Fatal(err)
		}
		return nd
	}
	if w, g := sorted(want), sorted(got); !bytes.Equal(w, g) {
		t.Errorf("reassembled %d records (%d bytes of NDJSON), want the %d sent (%d bytes)", len(got), len(g), len(want), len(w))
	}
}
