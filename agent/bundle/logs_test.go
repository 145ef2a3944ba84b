package bundle

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLogFiles(t *testing.T) {
	dir := t.TempDir()
	files := map[string]time.Duration{ // name: age
		"sei-agent.log":            time.Hour, // the current file comes first even if older
		"sei-agent.log.1":          0,
		"sei-agent-2026-11-27.log": 2 * time.Hour,
		"sei-agent.log.2":          3 * time.Hour,
		"sei-agent.log.3":          4 * time.Hour,
		"sei-agent.log.4":          5 * time.Hour,
		"sei-agent.log.5.gz":       0,
		"other.log":                0,
	}
	for name, age := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		mt := now.Add(-age)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	got := LogFiles(filepath.Join(dir, "sei-agent.log"))
	var want []string
	for _, n := range []string{"sei-agent.log", "sei-agent.log.1", "sei-agent-2026-11-27.log", "sei-agent.log.2", "sei-agent.log.3"} {
		want = append(want, filepath.Join(dir, n))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LogFiles (-want +got):\n%s", diff)
	}
	if got := LogFiles(filepath.Join(dir, "missing", "x.log")); got != nil {
		t.Errorf("LogFiles(missing dir) = %v", got)
	}
	if got := LogFiles(""); got != nil {
		t.Errorf("LogFiles(\"\") = %v", got)
	}
}
