package main

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/agent/status"
	"github.com/sei-edge/servicenow-edge/relay/natstest"
)

// TestSnapshotPausedForDisk: when the buffer refuses batches because the
// disk would drop below agent.min_free_bytes, status says so, not "buffer
// full".
func TestSnapshotPausedForDisk(t *testing.T) {
	srv := httptest.NewServer(newSim(nil))
	t.Cleanup(srv.Close)
	path := vConfig{URL: srv.URL, MinFree: 1 << 60, Relay: vRelay{URL: "tls://" + closedAddr(t),
		Credentials: newSeedFile(t), Tenant: "acme", Integration: "servicenow"}}.write(t)
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := openAgent(t.Context(), cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	polled := make(chan error, 1)
	go func() { polled <- a.poller.PollOnce(ctx) }()
	defer func() {
		cancel()
		if err := <-polled; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("PollOnce: %v", err)
		}
	}()

	natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		if !a.poller.Stats().Paused {
			return errors.New("polling not paused yet")
		}
		return nil
	})
	s := a.Snapshot()
	s.Finalize(a.thresholds(), time.Now())
	if !s.Buffer.PollingPaused || !strings.Contains(s.Buffer.PauseReason, "disk almost full") {
		t.Errorf("buffer section: paused %v, reason %q", s.Buffer.PollingPaused, s.Buffer.PauseReason)
	}
	reasons := strings.Join(s.Verdict.Reasons, "\n")
	if s.Verdict.Level != status.LevelDegraded || !strings.Contains(reasons, "disk almost full") || strings.Contains(reasons, "buffer full") {
		t.Errorf("verdict %s, reasons:\n%s", s.Verdict.Level, reasons)
	}
}

// TestThresholdDefaultsAgree: the verdict's defaults are the
// configuration's (status.*, agent.min_free_bytes), so a snapshot
// finalized without a configuration judges as the agent does.
func TestThresholdDefaultsAgree(t *testing.T) {
	cfg := config.Default()
	if diff := cmp.Diff(status.DefaultThresholds(), thresholds(&cfg)); diff != "" {
		t.Errorf("status.DefaultThresholds and config.Default disagree (-status +config):\n%s", diff)
	}
}
