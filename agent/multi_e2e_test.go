package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
)

// refusing answers 401, as ServiceNow does for refused credentials, while
// its flag is set; otherwise it passes requests to the simulator.
type refusing struct {
	next   http.Handler
	refuse atomic.Bool
}

func (h *refusing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.refuse.Load() {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"}`)
		return
	}
	h.next.ServeHTTP(w, r)
}

// multiEnv is one agent with two ServiceNow instances (two simulators)
// enrolled on a real relay for both integrations.
type multiEnv struct {
	relay      *relayProc
	prod, emea *snowtest.Server
	emeaGate   *refusing
	cfgPath    string
	dataDir    string
	passwords  []string
}

func newMultiEnv(t *testing.T) *multiEnv {
	t.Helper()
	e := &multiEnv{relay: startRelay(t, filepath.Join(t.TempDir(), "relay"), "127.0.0.1:0"),
		passwords: []string{"prod-Pa55-multi-secret", "emea-Pa55-multi-secret"}}
	out := enrollBlock(t, e.relay, "edge-multi", "snow-prod", "snow-emea")
	lag := func() time.Time { return time.Now().Add(-time.Minute) }
	e.prod = snowtest.New(snowtest.Options{Seed: 42, Incidents: 300, Changes: 30, Users: 80, Groups: 5,
		Username: "sei.prod", Password: e.passwords[0], Now: lag})
	e.emea = snowtest.New(snowtest.Options{Seed: 7, Incidents: 120, Changes: 12, Users: 40, Groups: 3,
		Username: "sei.emea", Password: e.passwords[1], Now: lag})
	e.emeaGate = &refusing{next: e.emea}
	prodSrv, emeaSrv := httptest.NewServer(e.prod), httptest.NewServer(e.emeaGate)
	t.Cleanup(prodSrv.Close)
	t.Cleanup(emeaSrv.Close)
	dir := t.TempDir()
	e.cfgPath, e.dataDir = filepath.Join(dir, "agent.yaml"), filepath.Join(dir, "data")
	os.WriteFile(filepath.Join(dir, "emea-password"), []byte(e.passwords[1]+"\n"), 0o600)
	t.Setenv("SEI_MULTI_PROD_PASSWORD", e.passwords[0])
	// The relay block enroll printed has no integration: each instance
	// names its own.
	cfg := fmt.Sprintf(`agent: {id: edge-multi, data_dir: data}
instances:
  - integration: snow-prod
    servicenow:
      url: %s
      auth: {method: basic, username: sei.prod, password: "${SEI_MULTI_PROD_PASSWORD}"}
      lookback: 365d
      page_size: 250
      exclude_fields: [description]
  - integration: snow-emea
    servicenow:
      url: %s
      auth: {method: basic, username: sei.emea, password_file: emea-password}
      lookback: 365d
      interval: 2h
      rate_limit: 50
      exclude_fields: [comments, work_notes]
status: {relay_degraded: 2s, relay_failing: 1h}
%s`, prodSrv.URL, emeaSrv.URL, out)
	if err := os.WriteFile(e.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// ids returns the sys_ids of table in sim, the deleted ones (from
// sys_audit_delete) included.
func ids(sim *snowtest.Server, table string) map[string]bool {
	out := map[string]bool{}
	for _, row := range sim.Records(table) {
		out[row["sys_id"].(string)] = true
	}
	for _, row := range sim.Records("sys_audit_delete") {
		if row["tablename"] == table {
			out[row["documentkey"].(string)] = true
		}
	}
	return out
}

// checkNoCrossOver: every record the relay holds is under the integration
// of the instance that has it, and each instance's incidents are all there
// at their exact version.
func (e *multiEnv) checkNoCrossOver(t *testing.T) map[string]relayRecord {
	t.Helper()
	var got map[string]relayRecord
	natstest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		got, _ = e.relay.records(t, "acme")
		for integration, sim := range map[string]*snowtest.Server{"snow-prod": e.prod, "snow-emea": e.emea} {
			for _, row := range sim.Records("incident") {
				rec, ok := got["incident/"+row["sys_id"].(string)]
				if !ok {
					return fmt.Errorf("relay lacks %s incident %s", integration, row["sys_id"])
				}
				if rec.Integration != integration {
					t.Fatalf("incident %s of %s stored under %s", rec.SysID, integration, rec.Integration)
				}
				if rec.SysUpdatedOn != row["sys_updated_on"] {
					return fmt.Errorf("%s incident %s at %s, instance at %s", integration, rec.SysID, rec.SysUpdatedOn, row["sys_updated_on"])
				}
			}
		}
		return nil
	})
	prodIDs, emeaIDs := map[string]map[string]bool{}, map[string]map[string]bool{}
	for _, rec := range got {
		if prodIDs[rec.Table] == nil {
			prodIDs[rec.Table], emeaIDs[rec.Table] = ids(e.prod, rec.Table), ids(e.emea, rec.Table)
		}
		switch rec.Integration {
		case "snow-prod":
			if !prodIDs[rec.Table][rec.SysID] || emeaIDs[rec.Table][rec.SysID] {
				t.Errorf("%s/%s under snow-prod is not snow-prod's", rec.Table, rec.SysID)
			}
		case "snow-emea":
			if !emeaIDs[rec.Table][rec.SysID] || prodIDs[rec.Table][rec.SysID] {
				t.Errorf("%s/%s under snow-emea is not snow-emea's", rec.Table, rec.SysID)
			}
		default:
			t.Errorf("%s/%s under unknown integration %q", rec.Table, rec.SysID, rec.Integration)
		}
	}
	return got
}

// TestMultiInstanceEndToEnd: one agent, two ServiceNow instances, a real
// relay. sync lands both under their own integrations with each
// instance's own exclusions and no cross-over; then snow-emea starts
// refusing the credentials (401) while the agent runs: snow-prod keeps
// syncing, and status, the heartbeat and validate name snow-emea.
func TestMultiInstanceEndToEnd(t *testing.T) {
	e := newMultiEnv(t)
	code, out, errOut := agentCmd(context.Background(), "sync", "-c", e.cfgPath, "--timeout", "2m")
	if code != 0 {
		t.Fatalf("sync: exit %d\n%s%s", code, out, errOut)
	}
	for _, w := range []string{"snow-prod: ", "snow-emea: ", "sync complete"} {
		if !strings.Contains(out, w) {
			t.Errorf("sync output lacks %q:\n%s", w, out)
		}
	}
	got := e.checkNoCrossOver(t)
	// Each instance's own exclusions, and the other's fields kept.
	for _, rec := range got {
		if rec.Table != "incident" || rec.Deleted {
			continue
		}
		var f map[string]any
		json.Unmarshal(rec.Fields, &f)
		_, hasDesc := f["description"]
		if (rec.Integration == "snow-prod") == hasDesc {
			t.Fatalf("%s incident %s: description present %v (only snow-prod excludes it)", rec.Integration, rec.SysID, hasDesc)
		}
	}
	// Each instance has its own folder; the single form's buffer is absent.
	for _, d := range []string{"instances/snow-prod/buffer", "instances/snow-emea/buffer"} {
		if _, err := os.Stat(filepath.Join(e.dataDir, d)); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	if _, err := os.Stat(filepath.Join(e.dataDir, "buffer")); err == nil {
		t.Error("a single-instance buffer was made beside the instances")
	}

	// snow-emea refuses the credentials from now on; the agent runs.
	e.emeaGate.refuse.Store(true)
	touched := e.prod.Touch("incident", 5)
	stop := runAgent(t, e.cfgPath)
	natstest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		recs, _ := e.relay.records(t, "acme")
		for _, id := range touched {
			row, _ := e.prod.Get("incident", id)
			if rec := recs["incident/"+id]; rec.SysUpdatedOn != row["sys_updated_on"] || rec.Integration != "snow-prod" {
				return fmt.Errorf("snow-prod update of %s not at the relay yet", id)
			}
		}
		return nil
	})
	newestTouched := ""
	for _, id := range touched {
		row, _ := e.prod.Get("incident", id)
		newestTouched = max(newestTouched, row["sys_updated_on"].(string))
	}
	var snap *status.Snapshot
	natstest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		var code int
		snap, code = statusJSON(t, e.cfgPath)
		if code != 1 || snap.Verdict.Level != status.LevelFailing || len(snap.Instances) != 2 {
			return fmt.Errorf("status exit %d, verdict %+v", code, snap.Verdict)
		}
		if c := snap.Instances[0].Relay.Confirmed["incident"].UpdatedOn; c < newestTouched {
			return fmt.Errorf("snow-prod's incidents confirmed up to %q, not yet %q", c, newestTouched)
		}
		if snap.Instances[0].ServiceNow.Tables[0].NextPoll.IsZero() {
			return fmt.Errorf("snow-prod's first poll still runs")
		}
		return nil
	})
	for _, r := range snap.Verdict.Reasons {
		if !strings.HasPrefix(r, "snow-emea: ") {
			t.Errorf("a reason does not name snow-emea: %q", r)
		}
	}
	if !strings.HasPrefix(snap.Verdict.Reasons[0], "snow-emea: ServiceNow authentication failing") {
		t.Errorf("verdict = %v", snap.Verdict.Reasons)
	}
	prod, emea := snap.Instances[0], snap.Instances[1]
	if prod.Integration != "snow-prod" || prod.Verdict.Level != status.LevelOK || emea.Verdict.Level != status.LevelFailing {
		t.Errorf("instances: %s %+v, %s %+v", prod.Integration, prod.Verdict, emea.Integration, emea.Verdict)
	}
	if prod.ServiceNow.URL == emea.ServiceNow.URL || len(prod.Relay.Confirmed) == 0 {
		t.Errorf("instance sections: prod %+v", prod)
	}
	// Each instance keeps its own schedule: snow-emea polls every 2h,
	// snow-prod every hour (the default).
	if pn, en := prod.ServiceNow.Tables[0].NextPoll, emea.ServiceNow.Tables[0].NextPoll; pn.IsZero() || en.Sub(pn) < 30*time.Minute {
		t.Errorf("next polls: snow-prod %s, snow-emea %s (want snow-emea's about an hour later)", pn, en)
	}
	// The relay's confirmations reach the instance they are for: snow-prod's
	// incidents were just touched, so a confirmation crossing over would
	// move snow-emea's to snow-prod's newest.
	pc, ec := prod.Relay.Confirmed["incident"].UpdatedOn, emea.Relay.Confirmed["incident"].UpdatedOn
	if ec == "" || ec >= pc {
		t.Errorf("confirmed incident versions: snow-prod %q, snow-emea %q (want snow-emea's older)", pc, ec)
	}
	// The one heartbeat the relay keeps for the agent names the failing
	// instance: the one sent at connection may predate the 401, the next
	// comes within the minute.
	natstest.CheckFor(t, 90*time.Second, 100*time.Millisecond, func() error {
		req, _ := http.NewRequest(http.MethodGet, e.relay.info.HTTPURL+"/v1/agents?tenant=acme", nil)
		req.Header.Set("Authorization", "Bearer "+e.relay.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var body struct {
			Agents []struct {
				Agent, Verdict string
				Reasons        []string `json:"reasons"`
			} `json:"agents"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return err
		}
		for _, a := range body.Agents {
			if a.Agent == "edge-multi" && a.Verdict == status.LevelFailing && len(a.Reasons) > 0 && strings.HasPrefix(a.Reasons[0], "snow-emea: ") {
				return nil
			}
		}
		return fmt.Errorf("relay's /v1/agents: %+v", body.Agents)
	})
	code, text, _ := agentCmd(context.Background(), "status", "-c", e.cfgPath)
	for _, w := range []string{"instance snow-prod", "instance snow-emea", "servicenow (snow-emea)", "- snow-emea: ServiceNow authentication failing"} {
		if code != 1 || !strings.Contains(text, w) {
			t.Errorf("status (exit %d) lacks %q:\n%s", code, w, text)
		}
	}
	// validate names the failing instance's checks, and passes the other's.
	code, vout, _ := agentCmd(context.Background(), "validate", "-c", e.cfgPath)
	if code != 1 || !strings.Contains(vout, "FAIL snow-emea: servicenow auth") || !strings.Contains(vout, "ok   snow-prod: servicenow auth") ||
		!strings.Contains(vout, "ok   relay integrations") {
		t.Errorf("validate (exit %d):\n%s", code, vout)
	}
	stop()
	// Offline: one section per instance, read from each buffer.
	off, code := statusJSON(t, e.cfgPath)
	if code != 3 || len(off.Instances) != 2 || off.Instances[1].Integration != "snow-emea" || off.Buffer.Error != "" ||
		len(off.Instances[0].ServiceNow.Tables) == 0 || len(off.Instances[0].Relay.Confirmed) == 0 {
		t.Errorf("offline status (exit %d): %+v", code, off.Instances)
	}

	// A damaged buffer of one instance is moved aside and healed at the
	// next start, and stays that instance's affair.
	e.emeaGate.refuse.Store(false)
	manifest := filepath.Join(e.dataDir, "instances", "snow-emea", "buffer", "MANIFEST")
	if err := os.WriteFile(manifest, []byte("this is not a badger manifest at all, it is damage"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.prod.Touch("incident", 3)
	e.emea.Touch("incident", 3)
	if code, out, errOut := agentCmd(context.Background(), "sync", "-c", e.cfgPath, "--timeout", "2m"); code != 0 {
		t.Fatalf("sync after damage: exit %d\n%s%s", code, out, errOut)
	}
	e.checkNoCrossOver(t)
	off, _ = statusJSON(t, e.cfgPath)
	if len(off.Instances[1].Buffer.MovedAside) != 1 || len(off.Instances[0].Buffer.MovedAside) != 0 {
		t.Errorf("moved aside: snow-prod %v, snow-emea %v", off.Instances[0].Buffer.MovedAside, off.Instances[1].Buffer.MovedAside)
	}
	checkDirClean(t, e.dataDir, e.prod, e.passwords...)
}

// execOutput runs a program and returns its stdout.
func execOutput(bin string, args ...string) (string, error) {
	out, err := exec.Command(bin, args...).Output()
	return string(out), err
}
