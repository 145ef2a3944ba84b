package status

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

var ansiRE = regexp.MustCompile("\x1b\\[[0-9;]*m")

// checkLines fails when a line, ANSI escapes removed, is wider than Width,
// or when escapes appear without colour.
func checkLines(t *testing.T, out string, colour bool) {
	t.Helper()
	if !colour && strings.ContainsRune(out, '\x1b') {
		t.Errorf("escape code in output without colour:\n%s", out)
	}
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if n := utf8.RuneCountInString(ansiRE.ReplaceAllString(line, "")); n > Width {
			t.Errorf("line %d is %d columns wide: %q", i+1, n, line)
		}
	}
}

// troubled returns a snapshot with every section populated, long values
// and a non-OK verdict.
func troubled() *Snapshot {
	s := healthy()
	s.ServiceNow.URL = "https://" + strings.Repeat("very-long-instance-name-", 8) + ".service-now.com"
	s.Agent.ConfigFile = "/opt/" + strings.Repeat("deep/", 30) + "agent.yaml"
	s.ServiceNow.Tables[0].LastResult = ResultError
	s.ServiceNow.Tables[0].LastError = "fetch incident page 3: " + strings.Repeat("upstream said no; ", 20)
	s.ServiceNow.Tables[0].SourceNewest = "2026-11-28 15:59:59"
	s.ServiceNow.Tables[0].ExcludedFields = strings.Fields(strings.Repeat("description work_notes comments caller_id ", 6))
	s.ServiceNow.Tables = append(s.ServiceNow.Tables, TableStatus{
		Name: "a_table_name_that_is_far_too_long_for_its_column", FetchedTotal: 123_456_789_012,
		LastResult: ResultAuthError, LastError: "401 Unauthorized",
		ExcludedFields: []string{"description", "u_secret"},
	})
	s.ServiceNow.Tables[1].ExcludedFields = []string{"description"}
	s.Relay.Connected, s.Relay.Since = false, now.Add(-3*time.Hour)
	s.Relay.LastError = "dial tcp 10.0.0.1:4222: i/o timeout\x1b[31m injected"
	s.Buffer.PollingPaused = true
	s.ServiceNow.OffsetPages = 2
	s.Finalize(Thresholds{}, now)
	return s
}

func TestRender(t *testing.T) {
	tests := []struct {
		name   string
		snap   func() *Snapshot
		colour bool
		want   []string // substrings, in order
	}{
		{
			name: "healthy",
			snap: func() *Snapshot { s := healthy(); s.Finalize(Thresholds{}, now); return s },
			want: []string{
				"agent\n", "  id          agent01, version 1.2.3\n", "  state       running (pid 4242), up 26h00m\n",
				"  config      /etc/sei-agent/agent.yaml\n",
				"servicenow\n", "  url         https://acme.service-now.com\n",
				"  auth        oauth, token expires 2027-02-26 16:00 UTC (in 90d0h)\n",
				"  rate limit  4 requests held back by servicenow.rate_limit, 12s in all\n",
				"TABLE", "CURSOR", "NEXT",
				"  incident             2026-11-28 15:00:01 1h00m ago 12s   ok          120    45,012    3 in 59m",
				"  sysapproval_approver 2026-11-28 14:59:00 1h00m ago 2s    ok            0 1,234,567    0 in 59m",
				"  incident: http errors 429×1 503×2\n",
				"  incident excludes: description, work_notes\n",
				"buffer\n", "  pending     2 batches, 340 records, 120.0 KiB of 1.0 GiB (0.0%)\n",
				"  oldest      3m old (since 2026-11-28 15:57 UTC)\n", "  free disk   40.0 GiB\n",
				"relay\n", "  url         tls://relay.example.com:4222\n",
				"  connected   yes, since 2026-11-27 15:00 UTC (25h00m ago), rtt 23ms\n",
				"  last ack    2026-11-28 15:59 UTC (1m ago), batch incident-000042\n",
				"  errors      0 publish errors, 2 reconnects\n",
				"  cloud holds everything up to:\n",
				"    incident             2026-11-28 15:00:01 (mod 3), confirmed 1m ago\n",
				"verdict       OK\n",
			},
		},
		{
			name: "troubled",
			snap: troubled,
			want: []string{
				"https://very-long-instance-name-", "…",
				"  acl paging  2 pages read by offset past rows hidden by ACLs: a row moving meanwhile may be missed\n",
				"  a_table_name_that_i… -", "AUTH", "123.5G",
				"  all tables exclude: description\n",
				"  incident error: fetch incident page 3: upstream said no;",
				"  incident also excludes: work_notes, comments, caller_id\n",
				"  a_table_name_that_is_far_too_long_for_its_column also excludes: u_secret\n",
				"  polling     PAUSED: buffer full",
				"  connected   no, since 2026-11-28 13:00 UTC (3h00m ago)",
				"  last error  dial tcp 10.0.0.1:4222: i/o timeout [31m injected",
				"verdict       FAILING\n",
				"  - relay tls://relay.example.com:4222 unreachable for 3h00m",
				"  - ServiceNow authentication failing",
			},
		},
		{
			name: "paused for disk",
			snap: func() *Snapshot {
				s := healthy()
				s.Buffer.PollingPaused, s.Buffer.FreeDisk = true, 1<<20
				s.Buffer.PauseReason = "append batch: disk almost full: 1048576 bytes free in " +
					"/var/lib/sei-agent/buffer, a write of 4096 must leave 268435456"
				s.Finalize(Thresholds{}, now)
				return s
			},
			want: []string{
				"  free disk   1.0 MiB\n",
				"  polling     PAUSED: append batch: disk almost full: 1048576 bytes free in\n",
				"              /var/lib/sei-agent/buffer, a write of 4096 must leave 268435456\n",
				"verdict       DEGRADED\n", "  - polling paused, cursors held: append batch: disk almost full:",
				"  - free disk of the data dir is low: 1.0 MiB",
			},
		},
		{
			name: "offline",
			snap: func() *Snapshot {
				s := &Snapshot{Time: now, Agent: Agent{ServiceState: "stopped", DataDir: "/var/lib/sei-agent",
					Note: "read from disk"}, Buffer: Buffer{Error: "buffer is locked by another process"}}
				s.Finalize(Thresholds{}, now)
				return s
			},
			want: []string{
				"  state       NOT RUNNING: figures below are what could be read from disk\n",
				"  service     stopped\n", "  note        read from disk\n",
				"  tables      none known\n",
				"  error       buffer is locked by another process\n",
				"  oldest      nothing pending\n",
				"  confirmed   no confirmation from the relay yet\n",
				"verdict       FAILING\n", "  - agent is not running (service state: stopped)\n",
			},
		},
	}
	for _, tt := range tests {
		for _, colour := range []bool{false, true} {
			name := tt.name
			if colour {
				name += " colour"
			}
			t.Run(name, func(t *testing.T) {
				var buf bytes.Buffer
				if err := Render(&buf, tt.snap(), colour); err != nil {
					t.Fatalf("Render: %v", err)
				}
				out := buf.String()
				checkLines(t, out, colour)
				if colour {
					if !strings.Contains(out, ansiBold+"verdict") {
						t.Errorf("no colour in output:\n%s", out)
					}
					out = ansiRE.ReplaceAllString(out, "")
				}
				rest := out
				for _, w := range tt.want {
					i := strings.Index(rest, w)
					if i < 0 {
						t.Fatalf("output lacks %q (in order); output:\n%s", w, out)
					}
					rest = rest[i+len(w):]
				}
			})
		}
	}
}

func TestRenderJSONRoundTrip(t *testing.T) {
	for _, s := range []*Snapshot{troubled(), {}} {
		var buf bytes.Buffer
		if err := RenderJSON(&buf, s); err != nil {
			t.Fatal(err)
		}
		var got Snapshot
		d := json.NewDecoder(&buf)
		d.DisallowUnknownFields()
		if err := d.Decode(&got); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if diff := cmp.Diff(s, &got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}

// TestJSONContract pins the documented field names and forms.
func TestJSONContract(t *testing.T) {
	s := healthy()
	s.Finalize(Thresholds{}, now)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	at := func(path ...string) any {
		var v any = doc
		for _, p := range path {
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[p]
		}
		return v
	}
	table := at("servicenow", "tables").([]any)[0].(map[string]any)
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"schema", at("schema"), 1.0},
		{"time", at("time"), "2026-11-28T16:00:00Z"},
		{"agent.running", at("agent", "running"), true},
		{"agent.uptime_seconds", at("agent", "uptime_seconds"), 93600.0},
		{"agent.service_state", at("agent", "service_state"), "running"},
		{"servicenow.auth_method", at("servicenow", "auth_method"), "oauth"},
		{"servicenow.cert_expiry omitted", at("servicenow", "cert_expiry"), nil},
		{"table.cursor", table["cursor"], "2026-11-28 15:00:01"},
		{"table.http_errors", table["http_errors"], map[string]any{"429": 1.0, "503": 2.0}},
		{"servicenow.limiter_wait_seconds", at("servicenow", "limiter_wait_seconds"), 12.5},
		{"servicenow.offset_pages omitted", at("servicenow", "offset_pages"), nil},
		{"table.rate_limit_waits", table["rate_limit_waits"], 1.0},
		{"table.fetched_last_run", table["fetched_last_run"], 120.0},
		{"table.last_result", table["last_result"], "ok"},
		{"buffer.pending_records", at("buffer", "pending_records"), 340.0},
		{"buffer.oldest_pending_age_seconds", at("buffer", "oldest_pending_age_seconds"), 180.0},
		{"buffer.polling_paused", at("buffer", "polling_paused"), false},
		{"relay.rtt_seconds", at("relay", "rtt_seconds"), 0.023},
		{"relay.publish_errors", at("relay", "publish_errors"), 0.0},
		{"relay.confirmed", at("relay", "confirmed", "incident", "sys_updated_on"), "2026-11-28 15:00:01"},
		{"verdict.level", at("verdict", "level"), "OK"},
		{"verdict.reasons omitted", at("verdict", "reasons"), nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestDurationJSON(t *testing.T) {
	var d Duration
	for _, bad := range []string{`"1s"`, `1e300`, `null x`} {
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("Unmarshal(%s) accepted", bad)
		}
	}
	if err := json.Unmarshal([]byte(`1.5`), &d); err != nil || d.D() != 1500*time.Millisecond {
		t.Errorf("Unmarshal(1.5) = %v, %v", d.D(), err)
	}
}

func TestHeartbeat(t *testing.T) {
	s := troubled()
	hb, err := Heartbeat(s)
	if err != nil {
		t.Fatal(err)
	}
	if hb.Agent != "agent01" || hb.Version != "1.2.3" || !hb.Time.Equal(now) || hb.Verdict != LevelFailing ||
		hb.Backlog != 340 || len(hb.Reasons) != len(s.Verdict.Reasons) {
		t.Errorf("Heartbeat = %+v", hb)
	}
	var got Snapshot
	if err := json.Unmarshal(hb.Status, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, &got); diff != "" {
		t.Errorf("heartbeat status (-want +got):\n%s", diff)
	}
}

// FuzzRender feeds arbitrary status JSON (as a hostile or corrupt agent
// could serve) to the decoder and the renderer: no panic, no line wider
// than Width, no escape code that did not come from Render.
func FuzzRender(f *testing.F) {
	var buf bytes.Buffer
	RenderJSON(&buf, troubled())
	f.Add(buf.Bytes())
	f.Add([]byte(`{"agent":{"id":"\u001b[2J"},"servicenow":{"tables":[{"name":"x","http_errors":{"-1":9}}]}}`))
	f.Add([]byte(`{"relay":{"rtt_seconds":-1e9,"confirmed":{"":{}}},"buffer":{"max_bytes":-1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Snapshot
		if err := json.Unmarshal(b, &s); err != nil {
			return
		}
		var out bytes.Buffer
		if err := Render(&out, &s, false); err != nil {
			t.Fatal(err)
		}
		checkLines(t, out.String(), false)
	})
}

func ExampleRender() {
	s := healthy()
	s.Finalize(Thresholds{}, now)
	Render(os.Stdout, s, false)
	// Output:
	// agent
	//   id          agent01, version 1.2.3
	//   state       running (pid 4242), up 26h00m
	//   service     running
	//   config      /etc/sei-agent/agent.yaml
	//   data dir    /var/lib/sei-agent
	//
	// servicenow
	//   url         https://acme.service-now.com
	//   auth        oauth, token expires 2027-02-26 16:00 UTC (in 90d0h)
	//   rate limit  4 requests held back by servicenow.rate_limit, 12s in all
	//   TABLE                CURSOR              POLLED    TOOK  RESULT  FETCHED     TOTAL ERRS NEXT
	//   incident             2026-11-28 15:00:01 1h00m ago 12s   ok          120    45,012    3 in 59m
	//   sysapproval_approver 2026-11-28 14:59:00 1h00m ago 2s    ok            0 1,234,567    0 in 59m
	//   incident: http errors 429×1 503×2
	//   incident excludes: description, work_notes
	//
	// buffer
	//   pending     2 batches, 340 records, 120.0 KiB of 1.0 GiB (0.0%)
	//   oldest      3m old (since 2026-11-28 15:57 UTC)
	//   free disk   40.0 GiB
	//   last gc     2026-11-28 15:30 UTC (30m ago)
	//
	// relay
	//   url         tls://relay.example.com:4222
	//   connected   yes, since 2026-11-27 15:00 UTC (25h00m ago), rtt 23ms
	//   last ack    2026-11-28 15:59 UTC (1m ago), batch incident-000042
	//   errors      0 publish errors, 2 reconnects
	//   cloud holds everything up to:
	//     incident             2026-11-28 15:00:01 (mod 3), confirmed 1m ago
	//
	// verdict       OK
}

func TestColourForNonTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ColourFor(f) {
		t.Error("ColourFor(regular file) = true")
	}
	t.Setenv("NO_COLOR", "1")
	if ColourFor(os.Stdout) {
		t.Error("ColourFor with NO_COLOR set = true")
	}
}

// TestRepairsContract: the repair fields of the JSON contract and their
// lines in the text form.
func TestRepairsContract(t *testing.T) {
	s := healthy()
	s.Buffer.Repairs, s.Buffer.RepairsPending, s.Buffer.RepairTables = 2, 1, []string{"sys_user"}
	s.Buffer.LastRepair = &Repair{Table: "sys_user", From: `{"time":"2026-11-28 10:00:00"}`, To: `{"time":"2026-11-28 11:00:00"}`,
		Reason: "batch 7 failed its checksum", Time: now.Add(-time.Minute)}
	s.Buffer.MovedAside = []string{"/var/lib/sei-agent/buffer.damaged-20261128T150000Z"}
	s.Finalize(Thresholds{}, now)
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Buffer map[string]any `json:"buffer"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{
		"repairs": 2.0, "repairs_pending": 1.0, "repair_tables": []any{"sys_user"},
		"moved_aside": []any{"/var/lib/sei-agent/buffer.damaged-20261128T150000Z"},
	} {
		if diff := cmp.Diff(want, doc.Buffer[key]); diff != "" {
			t.Errorf("buffer.%s (-want +got):\n%s", key, diff)
		}
	}
	last, _ := doc.Buffer["last_repair"].(map[string]any)
	if last["table"] != "sys_user" || last["reason"] != "batch 7 failed its checksum" || last["from"] == nil {
		t.Errorf("buffer.last_repair = %v", last)
	}
	if s.Verdict.Level != LevelDegraded {
		t.Errorf("verdict %s with a pending repair, want DEGRADED", s.Verdict.Level)
	}
	var out bytes.Buffer
	if err := Render(&out, s, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"  repairs     2 since the buffer was made, 1 pending (re-reading sys_user)\n",
		"batch 7 failed its checksum",
		"buffer.damaged-20261128T150000Z (damaged buffer kept for support)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, out.String())
		}
	}
}
