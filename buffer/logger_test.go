package buffer

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
)

func TestBadgerLogger(t *testing.T) {
	var out bytes.Buffer
	l := badgerLogger{log: zerolog.New(&out).Level(zerolog.InfoLevel)}
	l.Errorf("disk %s\n", "broken")
	l.Warningf("slow %d", 3)
	l.Infof("table opened")
	l.Debugf("compaction")
	var got []map[string]string
	for line := range strings.Lines(out.String()) {
		var m map[string]string
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad log line %q: %v", line, err)
		}
		got = append(got, m)
	}
	want := []map[string]string{
		{"level": "error", "component": "badger", "message": "disk broken"},
		{"level": "warn", "component": "badger", "message": "slow 3"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("at info level (-want +got):\n%s", diff)
	}

	out.Reset()
	l = badgerLogger{log: zerolog.New(&out).Level(zerolog.DebugLevel)}
	l.Infof("table opened")
	l.Debugf("compaction")
	if n := strings.Count(out.String(), `"level":"debug"`); n != 2 {
		t.Errorf("at debug level got %d debug lines: %s", n, out.String())
	}
}

// TestOpenLogsThroughLogger checks Badger's own messages reach the logger
// passed in, not the global one or stderr.
func TestOpenLogsThroughLogger(t *testing.T) {
	var out syncBuffer // Badger logs from several goroutines
	b, err := Open(Options{Dir: t.TempDir(), Logger: zerolog.New(&out).Level(zerolog.DebugLevel)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"component":"badger"`) {
		t.Errorf("no badger line in the logger's output: %q", out.String())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
