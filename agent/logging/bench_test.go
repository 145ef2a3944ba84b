package logging

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
)

// BenchmarkFileLogger measures one JSON event to a rotating file (a small
// one, so rotation is included), as New's logger writes it. Run:
//
//	go test ./agent/logging -run '^$' -bench FileLogger -benchmem
func BenchmarkFileLogger(b *testing.B) {
	f, err := OpenRotatingFile(filepath.Join(b.TempDir(), "bench.log"), 1<<20, 2)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	l := zerolog.New(f).With().Timestamp().Logger()
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
