package forward

import (
	"strings"
	"testing"

	"github.com/sei-edge/servicenow-edge/buffer"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// TestPartMessageHeaders: a buffered part (its label names the table and
// the part) goes out on its table's subject with the part headers and its
// own scoped id; a whole batch carries no part header.
func TestPartMessageHeaders(t *testing.T) {
	f := newForwarder(t, "nats://127.0.0.1:1", openBuffer(t), 0)
	set := strings.Repeat("0f", 32)
	p := wire.Part{Set: set, Index: 2, Count: 3}
	m := f.message(buffer.Batch{ID: "inst-0000000000000007", Label: wire.PartLabel("incident", p), Records: 0, Data: []byte("piece")})
	if m.Subject != "sei.ingest.acme.sn.incident" {
		t.Errorf("subject %q, want the table's", m.Subject)
	}
	for h, want := range map[string]string{wire.HeaderPart: "2/3", wire.HeaderPartSet: set,
		wire.HeaderMsgID: wire.ScopedMsgID("acme", "inst-0000000000000007"), wire.HeaderRecords: "0", wire.HeaderSchema: "1"} {
		if got := m.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	got, ok, err := wire.ParsePart(m.Header.Get(wire.HeaderPart), m.Header.Get(wire.HeaderPartSet))
	if err != nil || !ok || got != p {
		t.Errorf("ParsePart = %+v, %v, %v; want %+v", got, ok, err, p)
	}
	whole := f.message(buffer.Batch{ID: "inst-0000000000000008", Label: "incident", Records: 1, Data: []byte("x")})
	if whole.Header.Get(wire.HeaderPart) != "" || whole.Header.Get(wire.HeaderPartSet) != "" || whole.Subject != m.Subject {
		t.Errorf("whole batch: subject %q, headers %v", whole.Subject, whole.Header)
	}
}
