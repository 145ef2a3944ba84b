package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/servicenow/snowtest"
	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// e2eDraw is the exclusion configuration the end-to-end run uses: the
// issue's, plus identifying columns of every copy table and per-table
// exclusions whose copies live in sys_audit, sys_journal_field and
// sys_audit_delete, with sys_audit reading every field.
func e2eDraw() exclusionDraw {
	return exclusionDraw{
		global: []string{"description", "short_description", "name", "fieldname", "element_id"},
		tables: map[string][]string{
			"incident":          {"work_notes", "state", "number", "caller_id"},
			"change_request":    {"comments", "risk"},
			"sys_user":          {"email", "user_name"},
			"sys_journal_field": {"element"},
			"sys_audit_delete":  {"sys_updated_on"},
		},
		fields: map[string][]string{},
		wide:   true,
	}
}

// TestExclusionPropertyEndToEnd runs one draw through the real CLI and a
// real sei-relay: sync, run, status (text and JSON), preview, a live
// support bundle, heartbeats; and searches the relay's records, the
// stream, the relay's view of the agent, and every file of the agent's
// data directory (buffer, state, logs) for a sentinel.
func TestExclusionPropertyEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs sei-relay")
	}
	ctx := context.Background()
	relay := startRelay(t, filepath.Join(t.TempDir(), "relay"), "127.0.0.1:0")
	block := relay.enroll(t, "acme", "servicenow", "edge-prop")
	env := newDrawEnv(t, 7, func(*snowtest.Server) exclusionDraw { return e2eDraw() }, block)
	if env.planted == 0 {
		t.Fatal("no sentinel planted")
	}
	stream := watchStream(t, relay)
	out := outputs{}

	code, stdout, stderr := agentCmd(ctx, "sync", "-c", env.cfgPath)
	if code != 0 {
		t.Fatalf("sync exited %d: %s\n%s", code, stdout, stderr)
	}
	out["sync's output"] = []byte(stdout + stderr)
	relay.waitDrained(t)
	got, raw := relay.records(t, "acme")
	out["the relay's /v1/records"] = raw
	if countTable(got, "sys_journal_field") == 0 || countTable(got, "sys_audit") == 0 {
		t.Fatal("the relay holds no journal or audit row: the copies went untested")
	}
	var records []wire.Record
	var wireRaw bytes.Buffer
	for _, body := range stream() {
		recs, err := wire.Decode(body)
		if err != nil {
			t.Fatalf("stream message: %v", err)
		}
		records = append(records, recs...)
		nd, _ := wire.EncodeNDJSON(recs)
		wireRaw.Write(nd)
	}
	if len(records) == 0 {
		t.Fatal("saw no message on the stream")
	}
	out["the stream"] = wireRaw.Bytes()

	stop := runAgent(t, env.cfgPath)
	// Ask the live agent only: an offline status opens the buffer, which
	// the starting agent would then find locked.
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		snap, err := status.Query(ctx, env.dataDir)
		if err != nil {
			return err
		}
		if !snap.Relay.Connected {
			return fmt.Errorf("relay not connected yet")
		}
		return nil
	})
	for _, args := range [][]string{{"status", "--json"}, {"status"}} {
		_, stdout, stderr := agentCmd(ctx, append(args, "-c", env.cfgPath)...)
		out[strings.Join(args, " ")] = []byte(stdout + stderr)
	}
	out["the relay's /v1/agents (heartbeats)"] = relayAgents(t, relay)
	bundlePath := filepath.Join(t.TempDir(), "bundle.zip")
	if code, stdout, stderr := agentCmd(ctx, "bundle", "-c", env.cfgPath, "-o", bundlePath); code != 0 {
		t.Fatalf("bundle exited %d: %s %s", code, stdout, stderr)
	}
	for name, raw := range unzip(t, bundlePath) {
		out["bundle "+name] = raw
	}
	stop()
	for _, tb := range []string{"incident", "change_request", "sys_user", "sys_audit", "sys_journal_field", "sys_audit_delete"} {
		code, stdout, stderr := agentCmd(ctx, "preview", "-c", env.cfgPath, tb, "-n", "500")
		if code != 0 {
			t.Fatalf("preview %s exited %d: %s", tb, code, stderr)
		}
		out["preview "+tb] = []byte(stdout + stderr)
		recs, err := wire.DecodeNDJSON([]byte(stdout))
		if err != nil {
			t.Fatalf("preview %s: %v", tb, err)
		}
		records = append(records, recs...)
	}
	logs, _ := filepath.Glob(filepath.Join(env.dataDir, "log", "*.log"))
	if len(logs) == 0 {
		t.Errorf("no log file under %s/log: the log check would be empty", env.dataDir)
	}
	filepath.Walk(env.dataDir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || info.Mode()&os.ModeSocket != 0 {
			return nil
		}
		if raw, err := os.ReadFile(path); err == nil {
			out["data dir file "+path] = raw
		}
		return nil
	})
	env.check(t, out, records)
}

// relayAgents returns the relay's /v1/agents answer, which holds the
// agent's last heartbeat.
func relayAgents(t *testing.T, r *relayProc) []byte {
	t.Helper()
	var body []byte
	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		req, _ := http.NewRequest(http.MethodGet, r.info.HTTPURL+"/v1/agents?tenant=acme", nil)
		req.Header.Set("Authorization", "Bearer "+r.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if !bytes.Contains(body, []byte("edge-prop")) {
			return fmt.Errorf("no heartbeat of edge-prop yet: %s", body)
		}
		return nil
	})
	return body
}
