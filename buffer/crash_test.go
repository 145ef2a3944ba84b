package buffer

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// Environment of the crash child (TestCrashChild) and knobs of TestCrash.
const (
	envCrashDir    = "BUFFER_CRASH_CHILD_DIR"
	envCrashSeed   = "BUFFER_CRASH_SEED"   // seed of the random choices; the log names it
	envCrashRounds = "BUFFER_CRASH_ROUNDS" // kills in TestCrash; default 20
)

// crashData returns random bytes followed by their SHA-256, so a reader can
// tell an intact batch from a torn one without knowing what was written.
func crashData(rng *rand.Rand) []byte {
	body := make([]byte, 256+rng.IntN(64<<10))
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	sum := sha256.Sum256(body)
	return append(body, sum[:]...)
}

func crashDataIntact(p []byte) bool {
	if len(p) < sha256.Size {
		return false
	}
	body, sum := p[:len(p)-sha256.Size], p[len(p)-sha256.Size:]
	want := sha256.Sum256(body)
	return bytes.Equal(sum, want[:])
}

// TestCrashChild is the process TestCrash kills. It appends (with the state
// "cursor" set to the new batch's seq in the same Append), leases and acks
// until it is killed, printing "A? <seq>" / "A <seq>" before and after each
// Append and "K? <seq>" / "K <seq>" before and after each Ack. The lines
// before a call let the parent's kill land inside the call's commit. It does nothing unless
// started by TestCrash.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(envCrashDir)
	if dir == "" {
		t.Skip("helper process for TestCrash")
	}
	seed, _ := strconv.ParseUint(os.Getenv(envCrashSeed), 10, 64)
	rng := rand.New(rand.NewPCG(seed, 1))
	ctx := t.Context()
	b, err := Open(Options{Dir: dir, MaxBytes: 32 << 20, Logger: zerolog.Nop()})
	if err != nil {
		fmt.Printf("E open: %v\n", err)
		os.Exit(3)
	}
	fmt.Println("O")
	fail := func(format string, args ...any) {
		fmt.Printf("E "+format+"\n", args...)
		os.Exit(3)
	}
	// A guard so an orphaned child cannot run for ever.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		for range 1 + rng.IntN(3) {
			next, data := b.Stats().LastSeq+1, crashData(rng)
			fmt.Printf("A? %d\n", next) // a kill right after this line lands inside Append
			got, err := b.Append(ctx, Batch{Label: "crash", Records: 1, Data: data},
				map[string][]byte{"cursor": strconv.AppendUint(nil, next, 10)})
			if errors.Is(err, ErrFull) {
				break
			}
			if err != nil {
				fail("append: %v", err)
			}
			if got.Seq != next {
				fail("append: seq %d, want %d", got.Seq, next)
			}
			fmt.Printf("A %d\n", got.Seq)
		}
		leased, err := leaseNow(b, 1+rng.IntN(4))
		if err != nil {
			fail("lease: %v", err)
		}
		if rng.IntN(4) == 0 {
			b.Release(seqs(leased)...)
			continue
		}
		for _, x := range leased {
			fmt.Printf("K? %d\n", x.Seq)
		}
		if err := b.Ack(ctx, seqs(leased)...); err != nil {
			fail("ack: %v", err)
		}
		for _, x := range leased {
			fmt.Printf("K %d\n", x.Seq)
		}
	}
	b.Close()
}

// crashLedger is what the parent knows from the children's output.
type crashLedger struct {
	appended    map[uint64]bool // "A": committed
	maybeAcked  map[uint64]bool // "K?" without "K": may or may not be gone
	acked       map[uint64]bool // "K", or found gone after "K?": must never come back
	lastPrinted uint64          // highest "A" seq
	instance    string

	unprinted   int    // kills that landed after a commit and before its "A" line
	ackResolved [2]int // "K?" without "K" found [pending, gone] after a kill
}

func (l *crashLedger) line(t *testing.T, s string) bool {
	kind, num, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		return false
	}
	seq, err := strconv.ParseUint(num, 10, 64)
	switch {
	case kind == "E":
		t.Fatalf("child failed: %s", s)
	case err != nil:
		return false
	case kind == "A?":
	case kind == "A":
		l.appended[seq] = true
		l.lastPrinted = max(l.lastPrinted, seq)
	case kind == "K?":
		l.maybeAcked[seq] = true
	case kind == "K":
		delete(l.maybeAcked, seq)
		l.acked[seq] = true
	default:
		return false
	}
	return true
}

// TestCrash kills a child that appends, leases and acks with SIGKILL at
// random points and checks after each kill that nothing committed is lost or
// torn, nothing acked comes back, the cursor committed with its batch, and
// seqs keep growing.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test kills child processes; skipped with -short")
	}
	rounds := 20
	if v := os.Getenv(envCrashRounds); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", envCrashRounds, v, err)
		}
		rounds = n
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(envCrashSeed); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("%s=%d %s=%d", envCrashSeed, seed, envCrashRounds, rounds)
	rng := rand.New(rand.NewPCG(seed, 2))
	dir := t.TempDir()
	l := &crashLedger{appended: map[uint64]bool{}, maybeAcked: map[uint64]bool{}, acked: map[uint64]bool{}}
	for round := range rounds {
		killAfter := rng.IntN(200) // protocol lines; 0 kills at once, maybe inside Open
		jitter := time.Duration(rng.IntN(5000)) * time.Microsecond
		runCrashChild(t, dir, rng.Uint64(), killAfter, jitter, l)
		checkCrashDir(t, dir, round, rng, l)
	}
	t.Logf("%d rounds: %d batches appended, %d acked; kills between commit and print: %d; acks in flight at the kill: %d not done, %d done",
		rounds, len(l.appended), len(l.acked), l.unprinted, l.ackResolved[0], l.ackResolved[1])
}

// spin busy-waits for d. It moves the kill point off the instant right after
// a line into the Append or Ack the line announced (a commit takes a few
// milliseconds); no result depends on how long it really took.
func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}

func runCrashChild(t *testing.T, dir string, seed uint64, killAfter int, jitter time.Duration, l *crashLedger) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashDir+"="+dir, fmt.Sprintf("%s=%d", envCrashSeed, seed))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	kill := func() {
		if !killed {
			killed = true
			if err := cmd.Process.Kill(); err != nil {
				t.Errorf("kill child: %v", err)
			}
		}
	}
	if killAfter == 0 {
		kill()
	}
	n := 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() { // read to EOF: lines printed before the kill count too
		if l.line(t, sc.Text()) {
			n++
			if n >= killAfter {
				if !killed {
					spin(jitter)
				}
				kill()
			}
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before the kill: %v\nstderr: %s", err, stderr.String())
	}
}

func checkCrashDir(t *testing.T, dir string, round int, rng *rand.Rand, l *crashLedger) {
	t.Helper()
	b, err := Open(Options{Dir: dir, MaxBytes: 32 << 20, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatalf("round %d: reopen after kill: %v", round, err)
	}
	defer b.Close()
	if l.instance == "" {
		l.instance = b.instance
	} else if b.instance != l.instance {
		t.Fatalf("round %d: instance changed from %q to %q", round, l.instance, b.instance)
	}
	last := b.Stats().LastSeq
	// The child may have been killed after a commit and before its "A" line.
	if last < l.lastPrinted || last > l.lastPrinted+1 {
		t.Fatalf("round %d: LastSeq %d, last printed append %d", round, last, l.lastPrinted)
	}
	if last > 0 {
		cursor, err := b.Get("cursor")
		if err != nil || string(cursor) != strconv.FormatUint(last, 10) {
			t.Fatalf("round %d: cursor %q (%v), newest batch %d: batch and cursor not atomic", round, cursor, err, last)
		}
	}
	pending, err := leaseNow(b, 1<<20)
	if err != nil {
		t.Fatalf("round %d: lease: %v", round, err)
	}
	present := map[uint64]bool{}
	for _, x := range pending {
		present[x.Seq] = true
		switch {
		case !l.appended[x.Seq] && x.Seq != last:
			t.Errorf("round %d: batch %d present but never appended", round, x.Seq)
		case l.acked[x.Seq]:
			t.Errorf("round %d: batch %d came back after its Ack returned", round, x.Seq)
		case !crashDataIntact(x.Data):
			t.Errorf("round %d: batch %d data torn (%d bytes)", round, x.Seq, len(x.Data))
		case x.ID != fmt.Sprintf("%s-%016x", l.instance, x.Seq):
			t.Errorf("round %d: batch %d has ID %q", round, x.Seq, x.ID)
		}
	}
	if last > l.lastPrinted { // committed, unprinted: never leased, so present
		if !present[last] {
			t.Errorf("round %d: batch %d (LastSeq) missing", round, last)
		}
		l.appended[last], l.lastPrinted = true, last
		l.unprinted++
	}
	for s := range l.appended {
		if !l.acked[s] && !l.maybeAcked[s] && !present[s] {
			t.Errorf("round %d: batch %d lost (appended, never acked)", round, s)
		}
	}
	for s := range l.maybeAcked { // the kill decided: gone is acked, present is pending
		if !present[s] {
			l.acked[s] = true
			l.ackResolved[1]++
		} else {
			l.ackResolved[0]++
		}
		delete(l.maybeAcked, s)
	}
	if t.Failed() {
		t.FailNow()
	}
	b.Release(seqs(pending)...)
	appendAfterReopen(t, b, round, rng, l)
}

// appendAfterReopen checks an Append after a crash continues past LastSeq.
func appendAfterReopen(t *testing.T, b *Buffer, round int, rng *rand.Rand, l *crashLedger) {
	t.Helper()
	last := b.Stats().LastSeq
	next, err := b.Append(t.Context(), Batch{Data: crashData(rng)},
		map[string][]byte{"cursor": strconv.AppendUint(nil, last+1, 10)})
	if err != nil && !errors.Is(err, ErrFull) {
		t.Fatalf("round %d: append after reopen: %v", round, err)
	}
	if err == nil {
		if next.Seq != last+1 {
			t.Fatalf("round %d: append after reopen got seq %d, want %d", round, next.Seq, last+1)
		}
		l.appended[next.Seq], l.lastPrinted = true, next.Seq
	}
}
