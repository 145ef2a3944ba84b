package main

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/servicenow"
	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// The exclusion property: for any exclusion configuration, global and per
// table, a value of an excluded (table, field), or a copy of it in
// sys_audit, sys_journal_field or a sys_audit_delete payload, never
// reaches the buffer, the wire, a log, status, preview or the support
// bundle. The simulator plants a unique sentinel (snowtest.SentinelPrefix)
// in every such value; every output is searched for it. Fields whose
// value the instance's model needs (snowtest.Structural) carry no
// sentinel: they are checked by their absence from every record instead.
//
// TestExclusionProperty runs fixed seeds in-process (the agent's own
// poller, buffer, status and preview and bundle commands);
// FuzzExclusions explores further; TestExclusionPropertyEndToEnd runs one
// draw through the real CLI and a real sei-relay.

// specialFields are drawn more often: the copy tables' identifying and
// copied columns, and the fields an exclusion may not name.
var specialFields = []string{"name", "element", "element_id", "tablename", "fieldname", "value",
	"oldvalue", "newvalue", "documentkey", "payload", "display_value", "work_notes", "comments",
	"description", "short_description", "number", "sys_id", "sys_created_on", "sys_updated_on", "sys_mod_count"}

// copiedFields are fields of incident and change_request that the
// simulator's history copies into sys_audit, sys_journal_field or
// sys_audit_delete: the per-table exclusions that copies must honour.
var copiedFields = []string{"work_notes", "comments", "description", "short_description", "state",
	"priority", "assigned_to", "category", "close_code", "impact", "number", "risk"}

// exclusionDraw is one exclusion configuration.
type exclusionDraw struct {
	global []string
	tables map[string][]string // per-table exclude_fields
	fields map[string][]string // per-table include lists
	wide   bool                // sys_audit and sys_journal_field read every field and element
}

// drawExclusions turns bytes into a configuration: each pair picks a
// scope (global, or one table's exclusions or include list) and a field.
func drawExclusions(picks []byte, sim *snowtest.Server) exclusionDraw {
	tables := sim.Tables()
	pool := slices.Clone(specialFields)
	for _, tb := range tables {
		pool = append(pool, sim.Fields(tb)...)
	}
	slices.Sort(pool)
	pool = slices.Compact(pool)
	d := exclusionDraw{tables: map[string][]string{}, fields: map[string][]string{}}
	if len(picks) > 0 {
		d.wide = picks[0]&1 == 1
	}
	for i := 1; i+1 < len(picks) && i < 64; i += 2 {
		scope, pick := int(picks[i]), int(picks[i+1])
		field := pool[pick%len(pool)]
		if pick&0xc0 != 0 { // three in four: a field that matters most
			field = specialFields[pick%len(specialFields)]
		}
		tb := tables[(scope>>3)%len(tables)]
		switch scope & 7 {
		case 0, 1, 2:
			d.global = appendNew(d.global, field)
		case 3, 4, 5:
			d.tables[tb] = appendNew(d.tables[tb], field)
		case 6: // an include list of real fields of that table
			own := sim.Fields(tb)
			d.fields[tb] = appendNew(d.fields[tb], own[pick%len(own)])
		case 7: // one record table's field that has copies elsewhere
			tb := []string{"incident", "change_request"}[scope>>3&1]
			d.tables[tb] = appendNew(d.tables[tb], copiedFields[pick%len(copiedFields)])
		}
	}
	return d
}

func appendNew(l []string, s string) []string {
	if slices.Contains(l, s) {
		return l
	}
	return append(l, s)
}

// exclusions is d as the client sees it.
func (d exclusionDraw) exclusions() servicenow.Exclusions {
	return servicenow.Exclusions{Global: d.global, Tables: d.tables}
}

// yaml renders d's servicenow.exclude_fields and servicenow.tables.
func (d exclusionDraw) yaml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  exclude_fields: [%s]\n  tables:\n", strings.Join(d.global, ", "))
	names := map[string]bool{}
	for tb := range d.tables {
		names[tb] = true
	}
	for tb := range d.fields {
		names[tb] = true
	}
	if d.wide {
		names["sys_audit"], names["sys_journal_field"] = true, true
	}
	sorted := make([]string, 0, len(names))
	for tb := range names {
		sorted = append(sorted, tb)
	}
	sort.Strings(sorted)
	for _, tb := range sorted {
		fmt.Fprintf(&b, "    %s:\n      exclude_fields: [%s]\n", tb, strings.Join(d.tables[tb], ", "))
		if len(d.fields[tb]) > 0 {
			fmt.Fprintf(&b, "      fields: [%s]\n", strings.Join(d.fields[tb], ", "))
		}
		if d.wide && tb == "sys_audit" {
			b.WriteString("      filter: tablenameINincident,change_request,sys_user,sys_user_group,sysapproval_approver\n")
		}
		if d.wide && tb == "sys_journal_field" {
			b.WriteString("      filter: nameINincident,change_request\n")
		}
	}
	return b.String()
}

var refusalRE = regexp.MustCompile(`^servicenow\.(exclude_fields|tables\.([a-z0-9_]+)\.exclude_fields): cannot exclude "([a-z0-9_]+)": `)

// dropRefused checks that every problem of err is an exclusion refused
// with its key, and removes those exclusions from d.
func (d *exclusionDraw) dropRefused(t *testing.T, err error) {
	t.Helper()
	var invalid *config.Error
	if !errors.As(err, &invalid) {
		t.Fatalf("config: %v", err)
	}
	for _, p := range invalid.Problems {
		m := refusalRE.FindStringSubmatch(p)
		if m == nil {
			t.Fatalf("a configuration problem that is not a refused exclusion naming its key: %s", p)
		}
		if m[2] == "" {
			if !slices.Contains(d.global, m[3]) {
				t.Fatalf("refused %q, which servicenow.exclude_fields does not hold: %s", m[3], p)
			}
			d.global = slices.DeleteFunc(d.global, func(s string) bool { return s == m[3] })
			continue
		}
		if !slices.Contains(d.tables[m[2]], m[3]) {
			t.Fatalf("refused %q, which %s does not hold: %s", m[3], m[1], p)
		}
		d.tables[m[2]] = slices.DeleteFunc(d.tables[m[2]], func(s string) bool { return s == m[3] })
	}
}

// exclusionEnv is a small instance with history in every copy table and
// an agent configuration for one draw.
type exclusionEnv struct {
	sim     *snowtest.Server
	draw    exclusionDraw
	cfgPath string
	dataDir string
	planted int
}

// newExclusionEnv builds the instance, applies the draw (dropping and
// checking what the configuration refuses) and plants the sentinels.
// relayBlock is the relay: block of the configuration.
func newExclusionEnv(t *testing.T, picks []byte, relayBlock string) *exclusionEnv {
	t.Helper()
	seed := int64(len(picks))
	for _, b := range picks {
		seed = seed*31 + int64(b)
	}
	return newDrawEnv(t, seed, func(sim *snowtest.Server) exclusionDraw { return drawExclusions(picks, sim) }, relayBlock)
}

// newDrawEnv is newExclusionEnv with the draw given.
func newDrawEnv(t *testing.T, seed int64, draw func(*snowtest.Server) exclusionDraw, relayBlock string) *exclusionEnv {
	t.Helper()
	sim := snowtest.New(snowtest.Options{Seed: seed, Incidents: 16, Changes: 4, Users: 6, Groups: 3,
		Now: func() time.Time { return time.Now().Add(-time.Minute) }})
	mutate(t, sim)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	env := &exclusionEnv{sim: sim, draw: draw(sim)}
	dir := t.TempDir()
	env.cfgPath, env.dataDir = filepath.Join(dir, "agent.yaml"), filepath.Join(dir, "data")
	if err := os.WriteFile(filepath.Join(dir, "sn-password"), []byte("admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for attempt := 0; ; attempt++ {
		cfg := fmt.Sprintf("agent:\n  id: edge-prop\n  data_dir: data\nservicenow:\n  url: %s\n"+
			"  auth: {method: basic, username: admin, password_file: sn-password}\n  lookback: 365d\n  page_size: 7\n%s%s\nlog: {level: debug}\n",
			srv.URL, env.draw.yaml(), relayBlock)
		if err := os.WriteFile(env.cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := config.Load(env.cfgPath)
		if err == nil {
			break
		}
		if attempt > 0 {
			t.Fatalf("configuration still refused after dropping the refused exclusions: %v\n%s", err, cfg)
		}
		env.draw.dropRefused(t, err)
	}
	env.planted = sim.PlantSentinels(env.draw.exclusions().Excluded)
	return env
}

// mutate gives every copy table rows about many fields: updates (audit
// rows, journal entries) and deletions of records of every table.
func mutate(t *testing.T, sim *snowtest.Server) {
	t.Helper()
	users := sim.Records("sys_user")
	for i, r := range sim.Records("incident")[:6] {
		err := sim.Update("incident", r["sys_id"].(string), map[string]string{
			"work_notes": fmt.Sprintf("note %d", i), "comments": fmt.Sprintf("comment %d", i),
			"description": fmt.Sprintf("text %d", i), "state": "2", "category": "network", "close_code": "fixed",
			"assigned_to": users[i%len(users)]["sys_id"].(string), "short_description": fmt.Sprintf("short %d", i),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range sim.Records("change_request")[:2] {
		if err := sim.Update("change_request", r["sys_id"].(string), map[string]string{"work_notes": "chg note", "risk": "3"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tb := range []string{"incident", "incident", "change_request", "sys_user", "sys_user_group", "sysapproval_approver"} {
		r := sim.Records(tb)[1]
		if err := sim.Delete(tb, r["sys_id"].(string)); err != nil {
			t.Fatal(err)
		}
	}
}

// outputs are what one run produced, by where it went.
type outputs map[string][]byte

// check fails t for any sentinel in any output, and for an excluded field
// present as a key in any record (records holds every record sent).
func (env *exclusionEnv) check(t *testing.T, out outputs, records []wire.Record) {
	t.Helper()
	for where, raw := range out {
		if i := bytes.Index(raw, []byte(snowtest.SentinelPrefix)); i >= 0 {
			tb, f, _ := snowtest.SentinelOwner(string(raw[i:min(len(raw), i+120)]))
			t.Errorf("excluded value of %s.%s found in %s: …%s…\nconfiguration:\n%s", tb, f, where,
				raw[max(0, i-80):min(len(raw), i+80)], env.draw.yaml())
		}
	}
	ex := env.draw.exclusions()
	for _, r := range records {
		for f := range r.Fields {
			if ex.Excluded(r.Table, f) {
				t.Errorf("excluded field %s.%s sent as a key of record %s\nconfiguration:\n%s", r.Table, f, r.SysID, env.draw.yaml())
				return
			}
		}
	}
}

// runInProcess polls every table once with the agent's own components
// into its buffer (no relay), then reads the buffer, the status snapshot
// (JSON and text), the logs, a preview of every synced table and an
// offline support bundle.
func (env *exclusionEnv) runInProcess(t *testing.T) (outputs, []wire.Record) {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load(env.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	a, err := openAgent(t.Context(), cfg, zerolog.New(&syncWriter{w: &logs}).Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatal(err)
	}
	pollErr := a.poller.PollOnce(ctx)
	out := outputs{}
	var records []wire.Record
	var wireRaw bytes.Buffer
	for {
		batches, err := leaseNow(a.buf, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(batches) == 0 {
			break
		}
		for _, b := range batches {
			recs, err := wire.Decode(b.Data)
			if err != nil {
				t.Fatalf("buffered batch %s: %v", b.ID, err)
			}
			records = append(records, recs...)
			nd, _ := wire.EncodeNDJSON(recs)
			wireRaw.Write(nd)
		}
	}
	out["the buffer (decoded batches)"] = wireRaw.Bytes()
	var st bytes.Buffer
	snap := a.Snapshot()
	if err := status.RenderJSON(&st, snap); err != nil {
		t.Fatal(err)
	}
	if err := status.Render(&st, snap, false); err != nil {
		t.Fatal(err)
	}
	out["status"] = st.Bytes()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	out["the agent's log"] = logs.Bytes()
	if pollErr != nil {
		t.Fatalf("poll: %v\n%s", pollErr, logs.String())
	}
	if len(records) == 0 {
		t.Fatal("nothing was polled: the test would prove nothing")
	}
	for _, tb := range syncTables(cfg) {
		code, stdout, stderr := agentCmd(ctx, "preview", "-c", env.cfgPath, tb.Name, "-n", "500")
		if code != 0 {
			t.Fatalf("preview %s exited %d: %s", tb.Name, code, stderr)
		}
		out["preview "+tb.Name] = []byte(stdout + stderr)
		recs, err := wire.DecodeNDJSON([]byte(stdout))
		if err != nil {
			t.Fatalf("preview %s: %v", tb.Name, err)
		}
		records = append(records, recs...)
	}
	bundlePath := filepath.Join(t.TempDir(), "bundle.zip")
	if code, stdout, stderr := agentCmd(ctx, "bundle", "-c", env.cfgPath, "-o", bundlePath); code != 0 {
		t.Fatalf("bundle exited %d: %s %s", code, stdout, stderr)
	}
	for name, raw := range unzip(t, bundlePath) {
		out["bundle "+name] = raw
	}
	return out, records
}

// propertySeeds are the fixed draws CI runs.
func propertySeeds(n int) [][]byte {
	var out [][]byte
	for seed := range uint64(n) {
		r := rand.New(rand.NewPCG(seed, 0xe8c1))
		picks := make([]byte, 8+r.IntN(40))
		for i := range picks {
			picks[i] = byte(r.Uint32())
		}
		out = append(out, picks)
	}
	return out
}

func TestExclusionProperty(t *testing.T) {
	n := 16
	if testing.Short() {
		n = 4
	}
	planted := 0
	t.Run("issue", func(t *testing.T) {
		env := newDrawEnv(t, 1, func(*snowtest.Server) exclusionDraw { return issueDraw() }, dummyRelay(t))
		if env.planted == 0 {
			t.Fatal("no sentinel planted")
		}
		out, records := env.runInProcess(t)
		env.check(t, out, records)
	})
	for i, picks := range propertySeeds(n) {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			env := newExclusionEnv(t, picks, dummyRelay(t))
			planted += env.planted
			out, records := env.runInProcess(t)
			env.check(t, out, records)
		})
	}
	if planted == 0 {
		t.Error("no draw planted a sentinel: the property was never tested")
	}
}

// issueDraw is the configuration of the issue's report: global
// [description, short_description, name], incident [work_notes], which
// sent every incident work note as a sys_journal_field row.
func issueDraw() exclusionDraw {
	return exclusionDraw{global: []string{"description", "short_description", "name"},
		tables: map[string][]string{"incident": {"work_notes"}}, fields: map[string][]string{}}
}

func FuzzExclusions(f *testing.F) {
	for _, picks := range propertySeeds(4) {
		f.Add(picks)
	}
	f.Fuzz(func(t *testing.T, picks []byte) {
		env := newExclusionEnv(t, picks, dummyRelay(t))
		out, records := env.runInProcess(t)
		env.check(t, out, records)
	})
}

// dummyRelay is a valid relay block for runs that never connect.
func dummyRelay(t *testing.T) string {
	return fmt.Sprintf("relay: {url: \"tls://127.0.0.1:1\", credentials: %q, tenant: acme, integration: servicenow}", newSeedFile(t))
}

// unzip returns every file of a zip archive by name.
func unzip(t *testing.T, path string) map[string][]byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name] = raw
	}
	if len(out) == 0 {
		t.Fatal("empty bundle")
	}
	return out
}
