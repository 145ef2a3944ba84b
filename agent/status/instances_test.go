package status

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// multiSnapshot is a running agent with two instances: snow-prod healthy,
// snow-emea refused by ServiceNow.
func multiSnapshot(now time.Time) *Snapshot {
	ok := TableStatus{Name: "incident", LastResult: ResultOK, LastPollStart: now.Add(-time.Minute), LastPollEnd: now}
	bad := TableStatus{Name: "incident", LastResult: ResultAuthError, LastError: "ServiceNow answered 401 Unauthorized"}
	return &Snapshot{
		Agent: Agent{ID: "edge-01", Running: true, Started: now.Add(-time.Hour)},
		Instances: []Instance{
			{Integration: "snow-prod", ServiceNow: ServiceNow{URL: "https://prod", AuthMethod: "basic", Tables: []TableStatus{ok}},
				Buffer: Buffer{PendingRecords: 3, PendingBatches: 1, MaxBytes: 100, Oldest: now.Add(-time.Minute)},
				Relay:  Relay{URL: "nats://relay", Connected: true, Confirmed: map[string]ConfirmedCursor{"incident": {UpdatedOn: "x"}}}},
			{Integration: "snow-emea", ServiceNow: ServiceNow{URL: "https://emea", AuthMethod: "basic", Tables: []TableStatus{bad}},
				Buffer: Buffer{PendingRecords: 4, PendingBatches: 2, MaxBytes: 100, Oldest: now.Add(-2 * time.Minute)},
				Relay:  Relay{URL: "nats://relay", Connected: true}},
		},
	}
}

// TestVerdictNamesFailingInstance: the agent's verdict is FAILING and its
// reason names snow-emea; snow-prod's own verdict stays OK; the
// single-instance fields summarise both.
func TestVerdictNamesFailingInstance(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	s := multiSnapshot(now)
	s.Finalize(Thresholds{}, now)
	if s.Verdict.Level != LevelFailing || len(s.Verdict.Reasons) != 1 || !strings.HasPrefix(s.Verdict.Reasons[0], "snow-emea: ServiceNow authentication failing") ||
		!strings.Contains(s.Verdict.Reasons[0], "401") {
		t.Fatalf("verdict = %+v", s.Verdict)
	}
	if s.Instances[0].Verdict.Level != LevelOK || s.Instances[1].Verdict.Level != LevelFailing {
		t.Errorf("instance verdicts = %+v, %+v", s.Instances[0].Verdict, s.Instances[1].Verdict)
	}
	if s.Buffer.PendingRecords != 7 || s.Buffer.PendingBatches != 3 || s.Buffer.MaxBytes != 200 || !s.Buffer.Oldest.Equal(now.Add(-2*time.Minute)) {
		t.Errorf("summary buffer = %+v", s.Buffer)
	}
	if !s.Relay.Connected || s.Relay.Confirmed != nil || len(s.ServiceNow.Tables) != 0 {
		t.Errorf("summary relay %+v, servicenow %+v", s.Relay, s.ServiceNow)
	}
	hb, err := Heartbeat(s)
	if err != nil || hb.Backlog != 7 || hb.Verdict != LevelFailing {
		t.Errorf("heartbeat = %+v, %v", hb, err)
	}
	// The JSON keeps the single-instance fields and adds instances.
	var doc map[string]any
	var out bytes.Buffer
	if err := RenderJSON(&out, s); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schema", "agent", "servicenow", "buffer", "relay", "verdict", "instances"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("status JSON lacks %s", k)
		}
	}
	var back Snapshot
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || len(back.Instances) != 2 || back.Instances[1].Integration != "snow-emea" {
		t.Errorf("round trip: %v %+v", err, back.Instances)
	}
	// One section per instance for people, each titled with it.
	out.Reset()
	if err := Render(&out, s, false); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, w := range []string{"instance snow-prod", "instance snow-emea", "servicenow (snow-emea)", "buffer (snow-prod)", "relay (snow-emea)", "https://emea", "- snow-emea: ServiceNow authentication failing"} {
		if !strings.Contains(text, w) {
			t.Errorf("render lacks %q:\n%s", w, text)
		}
	}
}

// TestStoppedInstanceFails: an instance whose pipeline stopped is FAILING
// under its name; an offline agent is named once, not per instance.
func TestStoppedInstanceFails(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	s := multiSnapshot(now)
	s.Instances[1].ServiceNow.Tables[0].LastResult = ResultOK
	s.Instances[0].Error = "open buffer: disk gone"
	s.Finalize(Thresholds{}, now)
	if s.Verdict.Level != LevelFailing || !strings.HasPrefix(s.Verdict.Reasons[0], "snow-prod: stopped") {
		t.Errorf("verdict = %+v", s.Verdict)
	}
	s = multiSnapshot(now)
	s.Agent.Running = false
	s.Finalize(Thresholds{}, now)
	n := 0
	for _, r := range s.Verdict.Reasons {
		n += strings.Count(r, "agent is not running")
	}
	if n != 1 {
		t.Errorf("not running named %d times: %v", n, s.Verdict.Reasons)
	}
}
