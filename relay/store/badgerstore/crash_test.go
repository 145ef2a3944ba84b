package badgerstore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/store"
)

// crashChildEnv, when set to a directory, makes the test binary run
// crashChild instead of the tests.
const crashChildEnv = "BADGERSTORE_CRASH_CHILD_DIR"

const crashBatch = 200

func crashRecords(n int) []store.Record {
	recs := make([]store.Record, crashBatch)
	for i := range recs {
		recs[i] = store.Record{
			Tenant: "acme", Integration: "sn", Table: "incident",
			SysID:        fmt.Sprintf("b%06d-%04d", n, i),
			SysUpdatedOn: "2026-01-01 00:00:00",
			Fields:       fmt.Appendf(nil, `{"batch":%d,"i":%d}`, n, i),
		}
	}
	return recs
}

// crashChild applies batch after batch and prints each batch's number once
// Apply returned, like the relay acking a message, until it is killed.
func crashChild(dir string) int {
	s, err := Open(dir, zerolog.Nop())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for n := 0; ; n++ {
		if _, err := s.Apply(context.Background(), crashRecords(n)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(n)
	}
}

// TestKilledMidApply kills a process that is applying batches and checks
// that every batch it reported applied is there, whole, after a reopen.
func TestKilledMidApply(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	acked := -1
	sc := bufio.NewScanner(out)
	for acked < 30 && sc.Scan() {
		n, err := strconv.Atoi(sc.Text())
		if err != nil {
			t.Fatalf("child printed %q", sc.Text())
		}
		acked = n
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill child: %v", err)
	}
	_ = cmd.Wait()
	if acked < 30 {
		t.Fatalf("child acknowledged only %d batches before it stopped", acked+1)
	}

	s, err := Open(dir, testLogger(t))
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	for n := 0; n <= acked; n++ {
		res, err := s.Apply(t.Context(), crashRecords(n))
		if err != nil {
			t.Fatalf("reapply batch %d: %v", n, err)
		}
		if res.Applied != 0 {
			t.Errorf("batch %d: %d of %d acknowledged records missing after the kill", n, res.Applied, crashBatch)
		}
	}
}
