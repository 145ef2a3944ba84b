package buffer

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestScanState(t *testing.T) {
	ctx := t.Context()
	b := openTest(t, Options{})
	state := map[string][]byte{}
	for i := range 5 {
		state[fmt.Sprintf("ix/a/%d", i)] = []byte{byte(i)}
	}
	state["ix/b/0"] = []byte("other table")
	state["cursor/a"] = []byte("not index")
	if _, err := b.Append(ctx, Batch{Label: "a", Data: []byte("d")}, state); err != nil {
		t.Fatal(err)
	}
	scan := func(prefix, start string) []string {
		t.Helper()
		var got []string
		err := b.ScanState(prefix, start, func(k, v []byte) error {
			got = append(got, fmt.Sprintf("%s=%x", k, v))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := []string{"ix/a/0=00", "ix/a/1=01", "ix/a/2=02", "ix/a/3=03", "ix/a/4=04"}
	if diff := cmp.Diff(want, scan("ix/a/", "")); diff != "" {
		t.Errorf("whole prefix (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want[2:], scan("ix/a/", "ix/a/2")); diff != "" {
		t.Errorf("from a start key (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, scan("ix/a/", "ix/")); diff != "" {
		t.Errorf("start before the prefix (-want +got):\n%s", diff)
	}
	n := 0
	err := b.ScanState("ix/", "", func(_, _ []byte) error {
		n++
		if n == 2 {
			return ErrStopScan
		}
		return nil
	})
	if err != nil || n != 2 {
		t.Errorf("stopped scan: n=%d err=%v, want 2 and nil", n, err)
	}
	boom := errors.New("boom")
	if err := b.ScanState("ix/", "", func(_, _ []byte) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("callback error: got %v", err)
	}
	if err := b.ScanState("", "", func(_, _ []byte) error { return nil }); err == nil {
		t.Error("empty prefix: no error")
	}
}
