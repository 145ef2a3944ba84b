package command

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCode(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{
		{nil, ExitOK}, {errors.New("x"), ExitFailure}, {Usagef("bad %s", "flag"), ExitUsage},
		{fmt.Errorf("wrap: %w", Usage(errors.New("x"))), ExitUsage}, {ExitError{Code: 3}, 3},
	} {
		if got := Code(tt.err); got != tt.want {
			t.Errorf("Code(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestParseHelpAndBadFlag(t *testing.T) {
	var out bytes.Buffer
	fs := Flags("prog verb", &out)
	fs.String("c", "", "configuration file")
	if err := Parse(fs, []string{"-h"}); Code(err) != ExitOK || !Silent(err) || !strings.Contains(out.String(), "  -c string") {
		t.Fatalf("-h: err %v, out %q", err, out.String())
	}
	out.Reset()
	err := Parse(fs, []string{"--nope"})
	if Code(err) != ExitUsage || !strings.Contains(err.Error(), "prog verb -h") || out.Len() != 0 {
		t.Fatalf("bad flag: err %v, out %q", err, out.String())
	}
}
