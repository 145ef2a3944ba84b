package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/buffer"
)

// logLines sends each log line written to it on a channel.
type logLines chan string

func (l logLines) Write(p []byte) (int, error) {
	select {
	case l <- string(p):
	default:
	}
	return len(p), nil
}

// TestBufferInUseWaits: the agent starting while `sei-agent status` (or
// bundle) holds its buffer for a moment waits for it instead of failing
// to start (an instance would stay stopped until the next restart).
func TestBufferInUseWaits(t *testing.T) {
	cfg := config.Default()
	cfg.Agent.DataDir = t.TempDir()
	holder, err := openBuffer(&cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	lines := make(logLines, 16)
	type opened struct {
		buf *buffer.Buffer
		err error
	}
	done := make(chan opened, 1)
	go func() {
		buf, err := openHealingBuffer(t.Context(), &cfg, zerolog.New(lines), time.Now)
		done <- opened{buf, err}
	}()
	for waiting := false; !waiting; {
		select {
		case line := <-lines:
			waiting = strings.Contains(line, "buffer in use by another process")
		case got := <-done:
			t.Fatalf("open of a held buffer returned at once: %v (want it to wait)", got.err)
		}
	}
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	got := <-done
	if got.err != nil {
		t.Fatalf("open after the other process let go: %v", got.err)
	}
	got.buf.Close()
}

// TestBufferInUseGivesUp: a buffer held for longer than the wait fails
// with buffer.ErrInUse, naming the folder; it is never moved aside as
// damaged.
func TestBufferInUseGivesUp(t *testing.T) {
	defer func(w, r time.Duration) { inUseWait, inUseRetry = w, r }(inUseWait, inUseRetry)
	inUseWait, inUseRetry = 50*time.Millisecond, 10*time.Millisecond
	cfg := config.Default()
	cfg.Agent.DataDir = t.TempDir()
	holder, err := openBuffer(&cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	_, err = openHealingBuffer(context.Background(), &cfg, zerolog.Nop(), time.Now)
	if !errors.Is(err, buffer.ErrInUse) || !strings.Contains(err.Error(), bufferDir(&cfg)) {
		t.Fatalf("open of a held buffer = %v, want ErrInUse naming %s", err, bufferDir(&cfg))
	}
	if moved, _ := buffer.MovedAside(bufferDir(&cfg)); len(moved) != 0 {
		t.Errorf("a buffer in use was moved aside: %v", moved)
	}
}
