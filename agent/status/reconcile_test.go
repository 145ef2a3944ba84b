package status

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestReconcileContract: a table's reconcile object carries the figures
// under their contract names, and the human status shows them, a table
// still differing in a warning.
func TestReconcileContract(t *testing.T) {
	s := healthy()
	s.ServiceNow.Tables[0].Reconcile = &ReconcileStatus{Integration: "servicenow", Interval: Duration(24 * time.Hour),
		LastSweep: now.Add(-time.Hour), ServiceNow: 1200, Forwarded: 1199, Repaired: 3, Deleted: 1,
		Mismatch: []string{"created 2026-03"}, NextSweep: now.Add(23 * time.Hour)}
	s.Finalize(Thresholds{}, now)
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ServiceNow struct {
			Tables []map[string]json.RawMessage `json:"tables"`
		} `json:"servicenow"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	got := string(doc.ServiceNow.Tables[0]["reconcile"])
	for _, want := range []string{`"integration":"servicenow"`, `"interval_seconds":86400`, `"last_sweep":"2026-11-28T15:00:00Z"`,
		`"servicenow_count":1200`, `"forwarded":1199`, `"repaired":3`, `"deleted":1`, `"mismatch":["created 2026-03"]`} {
		if !strings.Contains(got, want) {
			t.Errorf("reconcile JSON %s lacks %s", got, want)
		}
	}
	if _, ok := doc.ServiceNow.Tables[1]["reconcile"]; ok {
		t.Error("a table never reconciled has a reconcile object")
	}
	var out bytes.Buffer
	if err := Render(&out, s, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"incident reconcile: last sweep", "ServiceNow 1200, forwarded 1199, repaired 3, deleted 1", "STILL DIFFERING: created 2026-03"} {
		if !strings.Contains(strings.Join(strings.Fields(out.String()), " "), want) { // lines wrap
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	if s.Verdict.Level != LevelDegraded {
		t.Errorf("verdict %s, want DEGRADED", s.Verdict.Level)
	}
}
