package main

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/sei-edge/servicenow-edge/relay/command"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// TestPreview runs `sei-agent preview` against the simulator over HTTP.
// Preview never contacts the relay: the relay block only has to be valid.
func TestPreview(t *testing.T) {
	sim := newSim(nil)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	cfg := vConfig{URL: srv.URL, Relay: vRelay{URL: "tls://" + closedAddr(t), Credentials: newSeedFile(t),
		Tenant: "acme", Integration: "servicenow"}}.write(t)
	ctx := context.Background()

	// Distinctive values of the excluded text fields on the instance
	// (caller_id is a reference: its sys_id also appears in other fields).
	var secrets []string
	for _, row := range sim.Records("incident") {
		for _, f := range excluded {
			if v, _ := row[f].(string); len(v) >= 20 {
				secrets = append(secrets, v)
			}
		}
	}
	if len(secrets) == 0 {
		t.Fatal("the simulator's incidents have no excluded values: the test proves nothing")
	}

	for _, args := range [][]string{
		{"preview", "-c", cfg, "incident", "-n", "2"},
		{"preview", "-c", cfg, "-n", "2", "incident"},
	} {
		t.Run(strings.Join(args[3:], " "), func(t *testing.T) {
			code, out, errOut := agentCmd(ctx, args...)
			if code != command.ExitOK {
				t.Fatalf("preview exited %d: %s", code, errOut)
			}
			if lines := strings.Count(out, "\n"); lines != 2 {
				t.Errorf("preview printed %d lines, want 2:\n%s", lines, out)
			}
			recs, err := wire.DecodeNDJSON([]byte(out))
			if err != nil {
				t.Fatalf("preview output is not NDJSON wire records: %v\n%s", err, out)
			}
			if len(recs) != 2 {
				t.Fatalf("preview printed %d records, want 2", len(recs))
			}
			for _, rec := range recs {
				if rec.Table != "incident" || rec.Op != wire.OpUpsert {
					t.Errorf("record %s: table %q op %q, want an incident upsert", rec.SysID, rec.Table, rec.Op)
				}
				for _, f := range slices.Concat(excluded, vIncidentExcluded) {
					if _, ok := rec.Fields[f]; ok {
						t.Errorf("record %s carries the excluded field %s", rec.SysID, f)
					}
				}
				// Every other field is the instance's value.
				row, ok := sim.Get("incident", rec.SysID)
				if !ok {
					t.Fatalf("record %s is not on the instance", rec.SysID)
				}
				if rec.SysUpdatedOn != row["sys_updated_on"] {
					t.Errorf("record %s: sys_updated_on %s, instance %v", rec.SysID, rec.SysUpdatedOn, row["sys_updated_on"])
				}
				for _, f := range []string{"number", "short_description", "state"} {
					var v string
					if err := json.Unmarshal(rec.Fields[f], &v); err != nil || v != row[f] {
						t.Errorf("record %s: %s is %s, instance %v", rec.SysID, f, rec.Fields[f], row[f])
					}
				}
			}
			// The first two of the lookback window, in poll order; the
			// instance was asked for no more than two rows a page.
			rows := sim.Records("incident")
			slices.SortFunc(rows, func(a, b map[string]any) int {
				return cmp.Or(cmp.Compare(a["sys_updated_on"].(string), b["sys_updated_on"].(string)),
					cmp.Compare(a["sys_id"].(string), b["sys_id"].(string)))
			})
			if recs[0].SysID != rows[0]["sys_id"] || recs[1].SysID != rows[1]["sys_id"] {
				t.Errorf("preview showed %s, %s; want the window's first %v, %v", recs[0].SysID, recs[1].SysID, rows[0]["sys_id"], rows[1]["sys_id"])
			}
			asked := 0
			for _, req := range sim.Requests() {
				if !strings.HasSuffix(req.Path, "/incident") {
					continue
				}
				asked++
				if l := req.Query.Get("sysparm_limit"); l != "2" {
					t.Errorf("preview asked for pages of %s rows", l)
				}
			}
			if asked == 0 {
				t.Error("the instance saw no incident request")
			}
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("preview printed a value of an excluded field: %q", s)
				}
			}
			if !strings.Contains(errOut, "excluded: [caller_id comments description work_notes]") {
				t.Errorf("preview does not say what it excluded: %q", errOut)
			}
		})
	}

	t.Run("table not synced", func(t *testing.T) {
		// cmdb_ci is not configured; sys_journal_field is a default table
		// dropped because comments and work_notes are both excluded.
		for _, table := range []string{"cmdb_ci", "sys_journal_field"} {
			code, out, errOut := agentCmd(ctx, "preview", "-c", cfg, table)
			if code != command.ExitUsage {
				t.Errorf("preview %s exited %d, want %d", table, code, command.ExitUsage)
			}
			if out != "" {
				t.Errorf("preview %s printed records:\n%s", table, out)
			}
			want := `table "` + table + `" is not synced by this configuration (synced: [` + strings.Join(vTables, " ") + `])`
			if !strings.Contains(errOut, want) {
				t.Errorf("preview %s: stderr %q lacks %q", table, errOut, want)
			}
		}
	})

	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{
			{"preview", "-c", cfg},
			{"preview", "-c", cfg, "incident", "change_request"},
			{"preview", "-c", cfg, "incident", "-n", "0"},
		} {
			if code, _, errOut := agentCmd(ctx, args...); code != command.ExitUsage || !strings.Contains(errOut, "sei-agent: ") {
				t.Errorf("%v exited %d (%q), want %d", args, code, errOut, command.ExitUsage)
			}
		}
	})
}
