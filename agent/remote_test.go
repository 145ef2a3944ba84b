package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/buffer"
)

// TestResyncSection: a resync the cloud asked for is listed as such and
// leaves the damage counts (and so the verdict) alone; real damage of the
// same table still counts.
func TestResyncSection(t *testing.T) {
	resync := buffer.Repair{Range: buffer.Range{Table: "incident"}, Reason: resyncReason + "incident from 2026-01-01 00:00:00, asked by admin (request r1)"}
	damage := buffer.Repair{Range: buffer.Range{Table: "sys_user"}, Reason: "batch 7 failed its checksum"}
	for _, tc := range []struct {
		name    string
		pending []buffer.Repair
		want    status.Buffer
	}{
		{"resync only", []buffer.Repair{resync}, status.Buffer{ResyncTables: []string{"incident"}}},
		{"resync and damage", []buffer.Repair{resync, damage}, status.Buffer{RepairsPending: 1, RepairTables: []string{"sys_user"}, ResyncTables: []string{"incident"}}},
		{"damage of the resynced table", []buffer.Repair{resync, {Range: buffer.Range{Table: "incident"}, Reason: "decode"}},
			status.Buffer{RepairsPending: 1, RepairTables: []string{"incident"}, ResyncTables: []string{"incident"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b status.Buffer
			for _, r := range tc.pending {
				b.RepairsPending++
				if !slices.Contains(b.RepairTables, r.Range.Table) {
					b.RepairTables = append(b.RepairTables, r.Range.Table)
				}
			}
			resyncSection(&b, tc.pending)
			if diff := cmp.Diff(tc.want, b); diff != "" {
				t.Errorf("buffer section (-want +got):\n%s", diff)
			}
			s := &status.Snapshot{Buffer: b}
			s.Finalize(status.DefaultThresholds(), time.Now())
			damaged := slices.ContainsFunc(s.Verdict.Reasons, func(r string) bool { return strings.Contains(r, "buffer damage") })
			if damaged != (tc.want.RepairsPending > 0) {
				t.Errorf("verdict %s %v: says damage %v, want %v", s.Verdict.Level, s.Verdict.Reasons, damaged, tc.want.RepairsPending > 0)
			}
		})
	}
}

func TestParseResyncFrom(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{
		"2026-01-02":                "2026-01-02T00:00:00Z",
		"2026-01-02 15:04:05":       "2026-01-02T15:04:05Z",
		"2026-01-02T15:04:05+02:00": "2026-01-02T13:04:05Z",
		"2026-12-03 12:00:01":       "error",
		"yesterday":                 "error",
		"":                          "error",
	} {
		got, err := parseResyncFrom(in, now)
		s := got.Format(time.RFC3339)
		if err != nil {
			s = "error"
		}
		if s != want {
			t.Errorf("parseResyncFrom(%q) = %s (%v), want %s", in, s, err, want)
		}
	}
}
