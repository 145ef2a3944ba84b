package logging

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
)

func TestFilePath(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name    string
		opts    Options
		want    string
		wantErr bool
	}{
		{name: "explicit", opts: Options{File: "/x/y.log", DataDir: "/d", Name: "sei-agent"}, want: "/x/y.log"},
		{name: "data dir", opts: Options{DataDir: "/d", Name: "sei-agent"}, want: filepath.Join("/d", "log", "sei-agent.log")},
		{name: "systemd logs directory", opts: Options{DataDir: "/d", Name: "sei-agent", getenv: env(map[string]string{"LOGS_DIRECTORY": "/var/log/sei-agent"})}, want: filepath.Join("/var/log/sei-agent", "sei-agent.log")},
		{name: "name", opts: Options{DataDir: "/d", Name: "x"}, want: filepath.Join("/d", "log", "x.log")},
		{name: "no name", opts: Options{DataDir: "/d"}, wantErr: true},
		{name: "nothing", opts: Options{Name: "sei-agent", getenv: env(nil)}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.opts.getenv == nil {
				tt.opts.getenv = env(nil)
			}
			got, err := FilePath(tt.opts)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("FilePath = %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestNewWritesJSONFileConsoleAndJournald(t *testing.T) {
	dir := t.TempDir()
	var console, stderr bytes.Buffer
	l, closer, err := New(Options{
		Level:    "",
		Name:     "sei-agent",
		DataDir:  dir,
		Console:  &console,
		Journald: true,
		stderr:   &stderr,
		getenv:   func(string) string { return "" },
	})
	if err != nil {
		t.Fatal(err)
	}
	l.Debug().Msg("hidden")
	l.Info().Str("table", "incident").Msg("polled")
	l.Warn().Msg("slow")
	l.Error().Str("err", "boom").Msg("failed")
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	if err := closer.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}

	raw := read(t, filepath.Join(dir, "log", "sei-agent.log"))
	var got []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(raw), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("file line %q is not JSON: %v", line, err)
		}
		if _, ok := m["time"]; !ok {
			t.Errorf("line %q has no time", line)
		}
		delete(m, "time")
		got = append(got, m)
	}
	want := []map[string]any{
		{"level": "info", "table": "incident", "message": "polled"},
		{"level": "warn", "message": "slow"},
		{"level": "error", "err": "boom", "message": "failed"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("file events (-want +got):\n%s", diff)
	}

	if c := console.String(); !strings.Contains(c, "polled") || strings.Contains(c, "hidden") || strings.HasPrefix(c, "{") {
		t.Errorf("console output not human form at info level:\n%s", c)
	}

	wantJournal := []string{
		"<6>INF polled table=incident",
		"<4>WRN slow",
		"<3>ERR failed err=boom",
	}
	if diff := cmp.Diff(wantJournal, strings.Split(strings.TrimSpace(stderr.String()), "\n")); diff != "" {
		t.Errorf("journald lines (-want +got):\n%s", diff)
	}
}

func TestNewRejectsBadLevelAndMissingPath(t *testing.T) {
	if _, _, err := New(Options{Level: "loud", DataDir: t.TempDir(), Name: "sei-agent"}); err == nil {
		t.Error("bad level accepted")
	}
	if _, _, err := New(Options{Name: "sei-agent", getenv: func(string) string { return "" }}); err == nil {
		t.Error("no file and no data dir accepted")
	}
}

func TestSyslogPriority(t *testing.T) {
	tests := []struct {
		level zerolog.Level
		want  int
	}{
		{zerolog.TraceLevel, 7}, {zerolog.DebugLevel, 7}, {zerolog.InfoLevel, 6},
		{zerolog.NoLevel, 6}, {zerolog.WarnLevel, 4}, {zerolog.ErrorLevel, 3},
		{zerolog.FatalLevel, 2}, {zerolog.PanicLevel, 0},
	}
	for _, tt := range tests {
		if got := SyslogPriority(tt.level); got != tt.want {
			t.Errorf("SyslogPriority(%v) = %d, want %d", tt.level, got, tt.want)
		}
	}
}

func TestJournaldWriterKeepsMultilineValuesOnOneLine(t *testing.T) {
	var buf bytes.Buffer
	l := zerolog.New(NewJournaldWriter(&buf))
	l.Error().Str("err", "line1\nline2").Msg("x")
	l.Log().Msg("bare")
	want := "<3>ERR x err=\"line1\\nline2\"\n<6>??? bare\n"
	if got := buf.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestEventLogKind(t *testing.T) {
	tests := []struct {
		level zerolog.Level
		want  eventKind
	}{
		{zerolog.DebugLevel, eventNone}, {zerolog.InfoLevel, eventNone}, {zerolog.NoLevel, eventNone},
		{zerolog.WarnLevel, eventWarning}, {zerolog.ErrorLevel, eventError}, {zerolog.FatalLevel, eventError},
	}
	for _, tt := range tests {
		if got := eventLogKind(tt.level); got != tt.want {
			t.Errorf("eventLogKind(%v) = %v, want %v", tt.level, got, tt.want)
		}
	}
}
