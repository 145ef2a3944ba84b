package feedpub

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/store/badgerstore"
)

// The child process of TestKilledRelayLosesNothing: these environment
// variables make the test binary run crashChild instead of the tests.
const (
	crashChildEnv = "FEEDPUB_CRASH_CHILD_DIR"
	crashURLEnv   = "FEEDPUB_CRASH_NATS_URL"
	crashRoundEnv = "FEEDPUB_CRASH_ROUND"
)

// crashChild is a relay in miniature: it applies batch after batch to its
// Badger store and publishes the feed after each, until it is killed. After
// each commit it prints the batch's number and waits for a line on stdin
// before it publishes, so the parent can kill it exactly between the two.
func crashChild(dir, url, round string) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, err); return 1 }
	st, err := badgerstore.Open(dir, zerolog.Nop())
	if err != nil {
		return fail(err)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		return fail(err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(10*time.Second))
	if err != nil {
		return fail(err)
	}
	p, err := New(Config{JS: js, Feed: st, Batch: 7})
	if err != nil {
		return fail(err)
	}
	ctx := context.Background()
	in := bufio.NewScanner(os.Stdin)
	for n := 0; ; n++ {
		var recs []store.Record
		for i := range 5 {
			recs = append(recs, rec("acme", fmt.Sprintf("r%s-b%05d-%d", round, n, i), 1, fmt.Sprintf(`{"n":%d}`, n)))
		}
		if n > 0 { // an update: compaction moves a key to the end
			recs = append(recs, rec("acme", fmt.Sprintf("r%s-b%05d-0", round, n-1), 2, fmt.Sprintf(`{"updated":%d}`, n)))
		}
		if _, err := st.Apply(ctx, recs); err != nil {
			return fail(err)
		}
		fmt.Println(n)
		if !in.Scan() {
			return fail(errors.New("stdin closed"))
		}
		if err := p.CatchUp(ctx); err != nil {
			return fail(err)
		}
	}
}

// TestKilledRelayLosesNothing kills (SIGKILL) a process that applies and
// publishes, each time right after a store commit and before its publish,
// and restarts it (the restart publishes the backlog). Afterwards a new
// Publisher on its store catches up: every change the store holds is in
// the stream exactly once.
func TestKilledRelayLosesNothing(t *testing.T) {
	srv := startNATS(t)
	js := connectJS(t, srv.ClientURL())
	dir := t.TempDir()
	for round, after := range []int{3, 11, 0, 20, 7} {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashURLEnv+"="+srv.ClientURL(), fmt.Sprintf("%s=%d", crashRoundEnv, round))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start child: %v", err)
		}
		sc := bufio.NewScanner(out)
		for i := 0; i < after && sc.Scan(); i++ {
			fmt.Fprintln(in, "publish")
		}
		if !sc.Scan() { // one more commit, then kill before its publish
			_ = cmd.Wait()
			t.Fatalf("child ended early: %s", stderr.String())
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatalf("kill child: %v", err)
		}
		_ = cmd.Wait()
	}
	st := openStore(t, dir)
	before := map[string]bool{}
	for _, m := range readStream(t, js) {
		before[m.id] = true
	}
	unpublished := 0
	for _, c := range feedOf(t, st, "acme") {
		if !before[c.Position] {
			unpublished++
		}
	}
	if unpublished == 0 {
		t.Fatalf("the kill left nothing unpublished: the test did not hit the window")
	}
	t.Logf("%d stored changes were not published when the last child was killed", unpublished)
	p, _ := New(Config{JS: js, Feed: st, Batch: 7})
	if err := p.CatchUp(t.Context()); err != nil {
		t.Fatalf("CatchUp after the kills: %v", err)
	}
	feed := feedOf(t, st, "acme")
	msgs := readStream(t, js)
	// The stream keeps history: a key updated after it was published is
	// there at its old position too. Every current change must be there
	// once, and no position twice.
	byID := map[string]int{}
	for _, m := range msgs {
		byID[m.id]++
	}
	for id, n := range byID {
		if n > 1 {
			t.Errorf("position %s published %d times", id, n)
		}
	}
	for _, c := range feed {
		if byID[c.Position] != 1 {
			t.Errorf("change %s at %s missing from the stream", c.SysID, c.Position)
		}
	}
	t.Logf("%d changes in the feed, %d messages in the stream", len(feed), len(msgs))
}
