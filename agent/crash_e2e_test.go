package main

import (
	"context"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildAgent compiles sei-agent, to kill it for real.
func buildAgent(t *testing.T) string { return buildBinary(t, "sei-agent", ".") }

// kill ends the relay with SIGKILL: no shutdown, no flush.
func (r *relayProc) kill(t *testing.T) {
	t.Helper()
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
	r.done <- nil
}

// TestCrashesLoseNothing kills the agent (SIGKILL) in the middle of syncs
// and the relay in the middle of ingest, several times, while ServiceNow
// keeps changing; after a final clean sync the relay holds every record at
// its latest version, each once.
func TestCrashesLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and kills sei-relay and sei-agent")
	}
	bin := buildAgent(t)
	relayDir := filepath.Join(t.TempDir(), "relay")
	relay := startRelay(t, relayDir, "127.0.0.1:0")
	natsURL, _ := url.Parse(relay.info.NATSURL)
	env := newAgentEnv(t, relay.enroll(t, "acme", "servicenow", "edge-e2e"), 2000)
	// Small pages: many batches, many places to be killed.
	raw, _ := os.ReadFile(env.cfgPath)
	os.WriteFile(env.cfgPath, []byte(strings.Replace(string(raw), "page_size: 400", "page_size: 50", 1)), 0o600)
	rng := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))

	for round := range 4 {
		env.sim.Touch("incident", 120)
		cmd := exec.Command(bin, "sync", "-c", env.cfgPath)
		cmd.Stderr = &strings.Builder{}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(150+rng.IntN(600)) * time.Millisecond
		timer := time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGKILL) })
		err := cmd.Wait()
		timer.Stop()
		t.Logf("round %d: agent killed after %v (exit: %v)", round, delay, err)
		if round%2 == 1 {
			// The relay dies too, mid-ingest, and comes back.
			relay.kill(t)
			relay = startRelay(t, relayDir, natsURL.Host)
		}
	}
	// A clean run to the end: everything the crashes interrupted is resent.
	if code, out, errOut := agentCmd(context.Background(), "sync", "-c", env.cfgPath); code != 0 {
		t.Fatalf("final sync exited %d: %s\n%s", code, out, errOut)
	}
	relay.waitDrained(t)
	waitRelayHolds(t, relay, env.sim, "incident", "change_request", "sys_user", "sys_user_group", "sysapproval_approver")
}
