package main

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/service"
	"github.com/sei-edge/servicenow-edge/relay/command"
)

// TestHelpEveryVerb: `sei-agent VERB -h` prints the verb's flags on stdout
// and exits 0, for every verb.
func TestHelpEveryVerb(t *testing.T) {
	verbs := map[string][]string{
		"run": {"-c"}, "sync": {"-c", "-timeout"}, "validate": {"-c", "-json"}, "status": {"-c", "-json"},
		"preview": {"-c", "-n"}, "login": {"-c"}, "bundle": {"-c", "-o"},
		"install": {"-c"}, "uninstall": {"-c", "-purge"}, "start": {"-c"}, "stop": {"-c"}, "restart": {"-c"},
	}
	for verb, flags := range verbs {
		for _, h := range []string{"-h", "--help"} {
			code, stdout, stderr := agentCmd(context.Background(), verb, h)
			if code != command.ExitOK {
				t.Errorf("%s %s: exit %d, want 0; stderr:\n%s", verb, h, code, stderr)
			}
			for _, f := range flags {
				if !strings.Contains(stdout, "  "+f) {
					t.Errorf("%s %s: stdout does not list %s:\n%s", verb, h, f, stdout)
				}
			}
		}
	}
	if code, _, stderr := agentCmd(context.Background(), "sync", "--timout", "1s"); code != command.ExitUsage || !strings.Contains(stderr, "sei-agent sync -h") {
		t.Errorf("bad flag: exit %d, stderr %q", code, stderr)
	}
}

// TestShutdownTimeoutsOrdered: in-flight publishes get shutdownGrace, the
// service body gets StopTimeout, and systemd kills after TimeoutStopSec;
// each must leave room for the one before, or a stop loses the graceful
// part (20 s < 25 s < 35 s today). The packaged unit and the one the
// service package writes must agree.
func TestShutdownTimeoutsOrdered(t *testing.T) {
	unit := unitTimeoutStop(t, filepath.Join("..", "packaging", "sei-agent.service"))
	if shutdownGrace >= service.DefaultStopTimeout {
		t.Errorf("shutdownGrace %s must be less than service.DefaultStopTimeout %s", shutdownGrace, service.DefaultStopTimeout)
	}
	if service.DefaultStopTimeout >= unit {
		t.Errorf("service.DefaultStopTimeout %s must be less than the unit's TimeoutStopSec %s", service.DefaultStopTimeout, unit)
	}
	if generated := service.DefaultStopTimeout + 10*time.Second; generated != unit {
		t.Errorf("the generated unit's TimeoutStopSec (%s) differs from packaging/sei-agent.service's (%s)", generated, unit)
	}
}

// unitTimeoutStop reads TimeoutStopSec from a systemd unit file.
func unitTimeoutStop(t *testing.T, path string) time.Duration {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "TimeoutStopSec="); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("%s: TimeoutStopSec=%s: %v", path, v, err)
			}
			return d
		}
	}
	t.Fatalf("%s has no TimeoutStopSec", path)
	return 0
}
