package servicenow

import (
	"context"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
)

// TestIDsStepOverHiddenRows: an id sweep returns every readable row once,
// in sys_id order, even when whole pages are hidden by ACLs, and Count
// agrees with it.
func TestIDsStepOverHiddenRows(t *testing.T) {
	s, hs := sim(t, snowtest.Options{Seed: 3, Incidents: 500, Now: newClock().Now})
	s.HideRows("incident", 0.8)
	c, _, _ := testClient(t, hs.URL, nil)
	tb := Table{Name: "incident", Field: FieldUpdatedOn}
	var want []string
	for _, r := range s.Records("incident") {
		if id := r["sys_id"].(string); !s.Hidden("incident", id) {
			want = append(want, id)
		}
	}
	slices.Sort(want)
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		rows, more, err := c.IDs(context.Background(), tb, "", after, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			got = append(got, r.SysID)
			if r.UpdatedOn == "" {
				t.Errorf("row %s without sys_updated_on", r.SysID)
			}
		}
		if len(rows) > 0 {
			after = rows[len(rows)-1].SysID
		}
		if !more || pages > 1000 {
			break
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	n, err := c.Count(context.Background(), tb, "")
	if err != nil || n.Rows != int64(len(want)) || n.ModCountSum <= 0 {
		t.Errorf("Count = %+v, %v; want %d rows and a sum", n, err, len(want))
	}
	recs, err := c.Fetch(context.Background(), tb, append([]string{"0000000000000000000000000000dead"}, want[:3]...))
	if err != nil || len(recs) != 3 {
		t.Fatalf("Fetch = %d records, %v; want the 3 that exist", len(recs), err)
	}
	if _, ok := recs[0].Fields["sys_created_on"]; !ok {
		t.Error("a fetched record has no sys_created_on")
	}
	if _, _, err := c.IDs(context.Background(), tb, "active=true^NQactive=false", "", 10); err == nil {
		t.Error("a window condition with ^NQ: no error")
	}
}

func TestDecodeCount(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       Counts
		bad        bool
	}{
		{"strings", `{"result":{"stats":{"count":"42","sum":{"sys_mod_count":"7"}}}}`, Counts{42, 7}, false},
		{"numbers", `{"result":{"stats":{"count":42,"sum":{"sys_mod_count":7.0}}}}`, Counts{42, 7}, false},
		{"no sum", `{"result":{"stats":{"count":"3"}}}`, Counts{3, -1}, false},
		{"no count", `{"result":{"stats":{}}}`, Counts{}, true},
		{"negative", `{"result":{"stats":{"count":"-1"}}}`, Counts{}, true},
		{"cut off", `{"result":{"stats":{"cou`, Counts{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeCount("application/json", []byte(tc.body))
			if (err != nil) != tc.bad || got != tc.want {
				t.Errorf("decodeCount = %+v, %v; want %+v (error %v)", got, err, tc.want, tc.bad)
			}
		})
	}
}

func FuzzDecodeCount(f *testing.F) {
	f.Add([]byte(`{"result":{"stats":{"count":"42","sum":{"sys_mod_count":"7"}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := decodeCount("application/json", body)
		if err == nil && (c.Rows < 0 || c.ModCountSum < -1) {
			t.Errorf("decodeCount(%q) = %+v", body, c)
		}
	})
}
