package main

import (
	"strings"
	"testing"

	"github.com/sei-edge/servicenow-edge/relay/command"
)

// TestHelpEveryVerb: `sei-relay VERB -h` prints the verb's flags on stdout
// and exits 0 for every verb (it used to exit 2 and print nothing).
func TestHelpEveryVerb(t *testing.T) {
	verbs := map[string][]string{
		"run":        {"-c"},
		"enroll":     {"-c", "-tenant", "-integration", "-agent", "-out", "-replace"},
		"revoke":     {"-c", "-tenant", "-agent"},
		"agents":     {"-c", "-json"},
		"quarantine": {"-c", "-json"},
		"ask":        {"-c", "-tenant", "-agent", "-table", "-limit", "-from", "-o"},
	}
	for verb, flags := range verbs {
		for _, h := range []string{"-h", "--help"} {
			code, stdout, stderr := runCmd(t, verb, h)
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
}

// TestBadFlagPointsAtHelp: a bad flag is exit 2 with a pointer to -h.
func TestBadFlagPointsAtHelp(t *testing.T) {
	code, _, stderr := runCmd(t, "enroll", "--tenat", "x")
	if code != command.ExitUsage || !strings.Contains(stderr, "sei-relay enroll -h") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// TestConfigErrorsNeverPrintValues: a broken YAML line next to a secret, an
// unknown key and a URL with a password are exit 2, name the key and never
// print the secret.
func TestConfigErrorsNeverPrintValues(t *testing.T) {
	const pw = "relay-UNIQUE-pw-9134"
	dir := t.TempDir()
	for name, content := range map[string]string{
		"syntax":   "http:\n  token: " + pw + "\n listen: [oops\n",
		"unknown":  "http: {token: " + pw + ", tokn: x}\n",
		"userinfo": "nats: {url: 'tls://relay:" + pw + "@nats:4222'}\n",
		"dsn":      "store: {kind: sqlite, dsn: 'postgres://u:" + pw + "@db/x'}\n",
	} {
		path := writeConfig(t, dir, content)
		for _, args := range [][]string{
			{"run"}, {"enroll", "--tenant", "t", "--integration", "i", "--agent", "a"},
			{"revoke", "--tenant", "t", "--agent", "a"}, {"agents"}, {"quarantine", "list"},
		} {
			verb := args[0]
			code, stdout, stderr := runCmd(t, append([]string{verb, "-c", path}, args[1:]...)...)
			if code != command.ExitUsage || !strings.Contains(stderr, "invalid configuration") {
				t.Errorf("%s %s: exit %d, want 2; stderr:\n%s", name, verb, code, stderr)
			}
			if strings.Contains(stdout+stderr, pw) {
				t.Errorf("%s %s: output shows the secret:\n%s%s", name, verb, stdout, stderr)
			}
		}
	}
}
