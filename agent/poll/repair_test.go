package poll

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

func repairPoller(t *testing.T, src *fakeSource, buf *buffer.Buffer, confirmed map[string]wire.Version, tables ...string) *Poller {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	var ts []servicenow.Table
	for _, name := range tables {
		ts = append(ts, servicenow.Table{Name: name, Field: "sys_updated_on"})
	}
	return New(Config{Tables: ts, Lookback: 24 * time.Hour, Overlap: 2 * time.Minute, Lag: 5 * time.Second,
		Now: clk.Now, Logger: zerolog.Nop(),
		Confirmed: func(table string) (wire.Version, bool) { v, ok := confirmed[table]; return v, ok },
	}, src, buf)
}

func cursorJSON(c servicenow.Cursor) string { raw, _ := json.Marshal(c); return string(raw) }

// TestBatchesRecordTheirRange: each batch covers its table from the
// cursor before its page to the page's own cursor.
func TestBatchesRecordTheirRange(t *testing.T) {
	pages := []servicenow.Page{page(1, "2026-10-31 13:00:00", 2), page(2, "2026-10-31 14:00:00", 2)}
	src := &fakeSource{pages: pages}
	buf := openBuffer(t, 1<<30)
	p := repairPoller(t, src, buf, nil, "incident")
	if err := p.PollOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := leaseNow(buf, 10)
	want := []buffer.Range{
		{Table: "incident", From: cursorJSON(servicenow.Cursor{Time: "2026-10-31 11:59:55"}), To: cursorJSON(pages[0].Cursor)},
		{Table: "incident", From: cursorJSON(pages[0].Cursor), To: cursorJSON(pages[1].Cursor)},
	}
	if len(got) != 2 || got[0].Range != want[0] || got[1].Range != want[1] {
		t.Fatalf("batch ranges = %+v, want %+v", got, want)
	}
}

// TestRepairRereadsRange: a repair of a batch's range moves its table's
// next start back to the range's lower bound (minus the overlap), and is
// resolved once that poll succeeded. Overlapping repairs merge into the
// one earliest start.
func TestRepairRereadsRange(t *testing.T) {
	ctx := context.Background()
	pages := []servicenow.Page{page(1, "2026-10-31 13:00:00", 2), page(2, "2026-10-31 14:00:00", 2), page(3, "2026-10-31 15:00:00", 2)}
	src := &fakeSource{pages: pages}
	buf := openBuffer(t, 1<<30)
	p := repairPoller(t, src, buf, nil, "incident")
	if err := p.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := leaseNow(buf, 10)
	// The second and third batches are found damaged (as Lease would).
	for _, b := range got[1:] {
		if _, err := buf.AddRepair(ctx, buffer.Repair{Range: b.Range, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	src.froms = nil
	if err := p.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	want := servicenow.Cursor{Time: "2026-10-31 12:58:00"} // page 1's cursor minus the overlap
	if len(src.froms) != 1 || src.froms[0] != want {
		t.Errorf("repair poll started at %v, want one scan from %v", src.froms, want)
	}
	if r := buf.Repairs(); len(r) != 0 {
		t.Errorf("repairs left after a successful re-read: %+v", r)
	}
}

// TestRepairKeptWhenPollFails: a repair stays pending (and the table keeps
// restarting there) until a poll of its table succeeds.
func TestRepairKeptWhenPollFails(t *testing.T) {
	ctx := context.Background()
	src := &fakeSource{pages: []servicenow.Page{page(1, "2026-10-31 13:00:00", 2)}}
	buf := openBuffer(t, 1<<30)
	p := repairPoller(t, src, buf, nil, "incident")
	if err := p.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	from := servicenow.Cursor{Time: "2026-10-30 08:00:00"}
	buf.AddRepair(ctx, buffer.Repair{Range: buffer.Range{Table: "incident", From: cursorJSON(from)}})
	src.err = fmt.Errorf("instance down")
	if err := p.PollOnce(ctx); err == nil {
		t.Fatal("PollOnce: no error")
	}
	if len(buf.Repairs()) != 1 {
		t.Fatal("a failed poll resolved the repair")
	}
	src.err, src.froms = nil, nil
	if err := p.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if want := from.Rewind(2 * time.Minute); len(src.froms) != 1 || src.froms[0] != want {
		t.Errorf("started at %v, want %v", src.froms, want)
	}
	if len(buf.Repairs()) != 0 {
		t.Error("repair not resolved by the successful poll")
	}
}

// TestUnreadableCursor: a cursor that cannot be read no longer fails the
// table for good; the table restarts from the relay's confirmation (minus
// the overlap), or from the lookback where none exists, and the repair is
// visible until the re-read succeeded.
func TestUnreadableCursor(t *testing.T) {
	for _, tc := range []struct {
		name      string
		confirmed map[string]wire.Version
		want      servicenow.Cursor
	}{
		{"confirmed", map[string]wire.Version{"incident": {UpdatedOn: "2026-10-31 09:30:00", ModCount: 2}}, servicenow.Cursor{Time: "2026-10-31 09:28:00"}},
		{"lookback", nil, servicenow.Cursor{Time: "2026-10-31 11:59:55"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			src := &fakeSource{pages: []servicenow.Page{page(1, "2026-10-31 13:00:00", 2)}}
			buf := openBuffer(t, 1<<30)
			if err := buf.Set(ctx, cursorKey("incident"), []byte(`{"time":"2026-1`)); err != nil {
				t.Fatal(err)
			}
			p := repairPoller(t, src, buf, tc.confirmed, "incident")
			if err := p.PollOnce(ctx); err != nil {
				t.Fatalf("PollOnce with an unreadable cursor: %v", err)
			}
			if len(src.froms) != 1 || src.froms[0] != tc.want {
				t.Errorf("started at %v, want %v", src.froms, tc.want)
			}
			st := buf.RepairStats()
			if st.Total != 1 || st.Pending != 0 || st.Last.Range.Table != "incident" {
				t.Errorf("RepairStats = %+v, want one resolved repair of incident", st)
			}
			if c, err := p.cursor("incident"); err != nil || c == nil || c.Time != "2026-10-31 13:00:00" {
				t.Errorf("cursor after the re-read = %v, %v", c, err)
			}
		})
	}
}

// TestRepairOfEveryTable: a repair with no table (a buffer moved aside,
// metadata lost) restarts every table from its confirmation and is
// resolved only when every table was read again.
func TestRepairOfEveryTable(t *testing.T) {
	ctx := context.Background()
	src := &fakeSource{pages: []servicenow.Page{page(1, "2026-10-31 13:00:00", 1)}}
	buf := openBuffer(t, 1<<30)
	conf := map[string]wire.Version{"incident": {UpdatedOn: "2026-10-31 10:00:00"}}
	p := repairPoller(t, src, buf, conf, "incident", "sys_user")
	buf.Set(ctx, cursorKey("incident"), []byte(`{"time":"2026-10-31 11:00:00"}`))
	buf.Set(ctx, cursorKey("sys_user"), []byte(`{"time":"2026-10-31 11:00:00"}`))
	buf.AddRepair(ctx, buffer.Repair{Reason: "moved aside"})
	if err := p.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	// sys_user has no confirmation: the lookback, unless its cursor is earlier.
	want := []servicenow.Cursor{{Time: "2026-10-31 09:58:00"}, {Time: "2026-10-31 10:58:00"}}
	if fmt.Sprint(src.froms) != fmt.Sprint(want) {
		t.Errorf("started at %v, want %v", src.froms, want)
	}
	if len(buf.Repairs()) != 0 {
		t.Error("repair of every table not resolved")
	}
}
