package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// Replay republishes a quarantined batch to its subject with its headers and
// waits for the stream's acknowledgement. The message gets a fresh
// Nats-Msg-Id (the old one plus ".replay-<random>"): the stream would drop
// the original id as a duplicate within its deduplication window. Replay does
// not release the batch; the caller does that (Store.Release) once Replay
// returned nil.
func Replay(ctx context.Context, js jetstream.JetStream, q store.Quarantined) error {
	if _, _, _, err := wire.ParseIngestSubject(q.Subject); err != nil {
		return fmt.Errorf("replay batch %s: %w", q.ID, err)
	}
	m := nats.NewMsg(q.Subject)
	for k, v := range q.Header {
		m.Header.Set(k, v)
	}
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	m.Header.Set(wire.HeaderMsgID, q.ID+".replay-"+hex.EncodeToString(suffix[:]))
	m.Data = q.Data
	ack, err := js.PublishMsg(ctx, m)
	if err != nil {
		return fmt.Errorf("replay batch %s to %s: %w", q.ID, q.Subject, err)
	}
	if ack.Duplicate {
		return fmt.Errorf("replay batch %s to %s: stream dropped it as a duplicate", q.ID, q.Subject)
	}
	return nil
}
