package logsetup

import (
	"os"
	"testing"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]zerolog.Level{"": zerolog.InfoLevel, "INFO": zerolog.InfoLevel, "warning": zerolog.WarnLevel,
		"debug": zerolog.DebugLevel, "trace": zerolog.TraceLevel, "error": zerolog.ErrorLevel} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"loud", "fatal", "panic", "disabled"} {
		if _, err := ParseLevel(bad); err == nil {
			t.Errorf("ParseLevel(%q) accepted", bad)
		}
	}
}

func TestTerminalFile(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if Terminal(f) {
		t.Error("a regular file is not a terminal")
	}
}

func TestParseLevelCases(t *testing.T) {
	tests := []struct {
		in      string
		want    zerolog.Level
		wantErr bool
	}{
		{in: "", want: zerolog.InfoLevel}, {in: " DEBUG ", want: zerolog.DebugLevel},
		{in: "warn", want: zerolog.WarnLevel}, {in: "inf", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("ParseLevel(%q) = %v, %v", tt.in, got, err)
		}
	}
}
