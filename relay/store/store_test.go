package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func rec(tenant, id, at string, mod int64, fields string) store.Record {
	return store.Record{Tenant: tenant, Integration: "sn", Table: "incident", SysID: id, SysUpdatedOn: at, SysModCount: mod, Fields: []byte(fields)}
}

func TestPrepare(t *testing.T) {
	const t1, t2 = "2026-01-01 00:00:01", "2026-01-01 00:00:02"
	d := rec("acme", "b", t2, 0, `{"dropped":true}`)
	d.Deleted = true
	in := []store.Record{
		rec("acme", "c", t1, 0, `{}`),
		rec("acme", "a", t1, 1, `{"v":1}`),
		rec("acme", "a", t2, 0, `{"v":2}`),
		rec("acme", "a", t1, 5, `{"v":3}`),
		rec("acme", "b", t1, 0, `{}`),
		d,
		rec("acme", "c", t1, 0, `{"equal, later":true}`),
		rec("aaa", "z", t1, 0, `{}`),
	}
	orig := append([]store.Record(nil), in...)
	got, dropped, err := store.Prepare(in)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	dWant := d
	dWant.Fields = nil
	want := []store.Record{rec("aaa", "z", t1, 0, `{}`), rec("acme", "a", t2, 0, `{"v":2}`), dWant, rec("acme", "c", t1, 0, `{}`)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Prepare (-want +got):\n%s", diff)
	}
	if dropped != 4 {
		t.Errorf("dropped = %d, want 4", dropped)
	}
	if diff := cmp.Diff(orig, in); diff != "" {
		t.Errorf("Prepare modified its input:\n%s", diff)
	}
	if _, _, err := store.Prepare([]store.Record{rec("acme", "a", "yesterday", 0, `{}`)}); !errors.Is(err, store.ErrInvalidRecord) {
		t.Errorf("Prepare of a bad time: err = %v, want ErrInvalidRecord", err)
	}
}

func TestPlanQuery(t *testing.T) {
	cur := store.EncodeCursor(store.Cursor{Tenant: "acme", Integration: "sn", Table: "incident", SysID: "x"})
	tests := []struct {
		name string
		q    store.Query
		want store.Plan
		err  error
	}{
		{"defaults", store.Query{Tenant: "acme"}, store.Plan{Tenant: "acme", Limit: store.DefaultLimit}, nil},
		{"filters and cursor", store.Query{Tenant: "acme", Integration: "sn", Table: "incident", After: cur, Limit: 5},
			store.Plan{Tenant: "acme", Integration: "sn", Table: "incident", Limit: 5, After: &store.Cursor{Tenant: "acme", Integration: "sn", Table: "incident", SysID: "x"}}, nil},
		{"max limit", store.Query{Tenant: "acme", Limit: store.MaxLimit}, store.Plan{Tenant: "acme", Limit: store.MaxLimit}, nil},
		{"no tenant", store.Query{}, store.Plan{}, store.ErrBadQuery},
		{"limit too big", store.Query{Tenant: "acme", Limit: store.MaxLimit + 1}, store.Plan{}, store.ErrBadQuery},
		{"negative limit", store.Query{Tenant: "acme", Limit: -1}, store.Plan{}, store.ErrBadQuery},
		{"bad table", store.Query{Tenant: "acme", Table: "a b"}, store.Plan{}, store.ErrBadQuery},
		{"other tenant's cursor", store.Query{Tenant: "globex", After: cur}, store.Plan{}, store.ErrBadCursor},
		{"garbage cursor", store.Query{Tenant: "acme", After: "zzz"}, store.Plan{}, store.ErrBadCursor},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := store.PlanQuery(tc.q)
			if !errors.Is(err, tc.err) || (err != nil) != (tc.err != nil) {
				t.Fatalf("PlanQuery: err = %v, want %v", err, tc.err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("PlanQuery (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []store.Cursor{
		{Tenant: "acme", Integration: "sn", Table: "incident", SysID: "0123456789abcdef0123456789abcdef"},
		{Tenant: "a", Integration: "b-c_d", Table: "x_1", SysID: "Ünïcode \"quoted\" / ?&="},
	} {
		s := store.EncodeCursor(c)
		if strings.ContainsAny(s, "+/=&? ") {
			t.Errorf("cursor %q is not URL-safe", s)
		}
		got, err := store.DecodeCursor(s)
		if err != nil || got != c {
			t.Errorf("DecodeCursor(EncodeCursor(%+v)) = %+v, %v", c, got, err)
		}
	}
}

// FuzzDecodeCursor feeds DecodeCursor what a client may send: it must never
// panic, must fail only with ErrBadCursor, and a cursor it accepts must
// re-encode to one that decodes the same.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(store.EncodeCursor(store.Cursor{Tenant: "acme", Integration: "sn", Table: "incident", SysID: "x"}))
	f.Add("c1.")
	f.Add("c1.WyIiLCIiLCIiLCIiXQ")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := store.DecodeCursor(s)
		if err != nil {
			if !errors.Is(err, store.ErrBadCursor) {
				t.Fatalf("DecodeCursor(%q): err %v does not wrap ErrBadCursor", s, err)
			}
			return
		}
		again, err := store.DecodeCursor(store.EncodeCursor(c))
		if err != nil || again != c {
			t.Fatalf("re-encoded cursor %+v decodes to %+v, %v", c, again, err)
		}
	})
}

func TestCheckAgentAndQuarantineID(t *testing.T) {
	for _, tc := range []struct {
		a  store.Agent
		ok bool
	}{
		{store.Agent{Tenant: "acme", Agent: "dc-1"}, true},
		{store.Agent{Tenant: "acme", Agent: "bad name"}, false},
		{store.Agent{Tenant: "Acme", Agent: "dc1"}, false},
		{store.Agent{Tenant: "acme"}, false},
	} {
		if err := store.CheckAgent(&tc.a); (err == nil) != tc.ok {
			t.Errorf("CheckAgent(%+v) = %v, want ok %v", tc.a, err, tc.ok)
		}
	}
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"batch-1", true},
		{"seq-7", true},
		{strings.Repeat("x", 255), true},
		{strings.Repeat("x", 256), false},
		{"", false},
		{"a\x00b", false},
	} {
		if err := store.CheckQuarantineID("acme", tc.id); (err == nil) != tc.ok {
			t.Errorf("CheckQuarantineID(%.20q) = %v, want ok %v", tc.id, err, tc.ok)
		}
	}
	if store.CheckQuarantineID("", "x") != nil || store.CheckQuarantineID("Bad.T", "x") == nil {
		t.Error("CheckQuarantineID: tenant \"\" is allowed (no valid tenant), an invalid one is not")
	}
	for subject, want := range map[string]string{"sei.ingest.acme.sn.incident": "acme", "sei.ingest.Acme.sn.x": "", "foo.bar.acme": "", "sei.ingest": ""} {
		if got := store.QuarantineTenant(subject); got != want {
			t.Errorf("QuarantineTenant(%q) = %q, want %q", subject, got, want)
		}
	}
}
