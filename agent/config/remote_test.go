package config

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRemoteRequestsAllow: the default answers status and validate only;
// the file replaces the list (an empty one answers nothing); an unknown
// kind is an error naming the key.
func TestRemoteRequestsAllow(t *testing.T) {
	t.Setenv("SN_PASSWORD", "pw")
	for _, tc := range []struct {
		name, yaml string
		want       []string
		err        string
	}{
		{name: "default", yaml: "", want: []string{"status", "validate"}},
		{name: "opt in", yaml: "remote_requests:\n  allow: [status, bundle, resync, preview]\n", want: []string{"status", "bundle", "resync", "preview"}},
		{name: "none", yaml: "remote_requests:\n  allow: []\n", want: []string{}},
		{name: "unknown", yaml: "remote_requests:\n  allow: [status, exec]\n", err: `remote_requests.allow: unknown request kind "exec"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeExample(t, t.TempDir())
			raw, _ := os.ReadFile(path)
			// The example lists the defaults itself: drop its section.
			text, _, _ := strings.Cut(string(raw), "remote_requests:")
			if err := os.WriteFile(path, []byte(text+tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load(path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Load: %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, c.RemoteRequests.Allow); diff != "" {
				t.Errorf("allow (-want +got):\n%s", diff)
			}
		})
	}
}
