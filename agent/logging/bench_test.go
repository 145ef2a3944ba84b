package logging

import (
	"io"
	"testing"
)

// BenchmarkFileLogger measures one JSON event to the rotating file (small
// files, so rotation is included). Run:
//
//	go test ./agent/logging -run '^$' -bench FileLogger -benchmem
func BenchmarkFileLogger(b *testing.B) {
	l, closer, err := New(Options{DataDir: b.TempDir(), MaxSizeMB: 1, MaxBackups: 2, getenv: func(string) string { return "" }})
	if err != nil {
		b.Fatal(err)
	}
	defer closer.Close()
	b.ReportAllocs()
	for b.Loop() {
		l.Info().Str("table", "incident").Int("page", 3).Int("records", 1000).Msg("page committed")
	}
}

// BenchmarkJournaldWriter measures the journald line formatting.
func BenchmarkJournaldWriter(b *testing.B) {
	w := NewJournaldWriter(io.Discard)
	event := []byte(`{"level":"warn","table":"incident","page":3,"time":"2026-01-01T00:00:00Z","message":"slow page"}` + "\n")
	b.ReportAllocs()
	for b.Loop() {
		w.WriteLevel(1, event)
	}
}
