package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sei-edge/servicenow-edge/relay/command"
)

// TestAskCommand: `sei-relay ask` asks through the running relay's API
// with the admin token, prints the result, writes a bundle to -o, and
// exits 1 with the relay's message when the agent does not answer.
func TestAskCommand(t *testing.T) {
	r := startAttackRelay(t, "requests: {bundle_store_max_bytes: 64MiB}")
	fa := newFakeAgent(t, r.mustDial(t, "agent2"), "tb", "agent2")
	close(fa.release)
	code, out, errOut := runCmd(t, "ask", "-c", r.cfgPath, "--tenant", "tb", "--agent", "agent2", "status")
	if code != 0 || !strings.Contains(out, `"answered_by": "agent2"`) {
		t.Errorf("ask status: exit %d\n%s%s", code, out, errOut)
	}
	bundle := filepath.Join(t.TempDir(), "b.zip")
	code, out, errOut = runCmd(t, "ask", "-c", r.cfgPath, "bundle", "--tenant", "tb", "--agent", "agent2", "-o", bundle)
	if got, _ := os.ReadFile(bundle); code != 0 || string(got) != string(fakeBundle) {
		t.Errorf("ask bundle: exit %d, file %q\n%s%s", code, got, out, errOut)
	}
	code, _, errOut = runCmd(t, "ask", "-c", r.cfgPath, "--tenant", "ta", "--agent", "agent3", "status")
	if code != command.ExitFailure || !strings.Contains(errOut, "504") || !strings.Contains(errOut, "is it running and connected?") {
		t.Errorf("offline agent: exit %d %s", code, errOut)
	}
	for _, args := range [][]string{
		{"ask", "-c", r.cfgPath, "--tenant", "tb", "--agent", "agent2", "shell"},
		{"ask", "-c", r.cfgPath, "--tenant", "tb", "--agent", "agent2"},
		{"ask", "-c", r.cfgPath, "--tenant", "TB", "--agent", "agent2", "status"},
		{"ask", "-c", r.cfgPath, "--tenant", "tb", "--agent", "agent2", "status", "extra"},
	} {
		if code, _, errOut := runCmd(t, args...); code != command.ExitUsage {
			t.Errorf("%v: exit %d %s", args[1:], code, errOut)
		}
	}
}
