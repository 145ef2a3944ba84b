package ingest

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
)

// serveQueue subscribes to subject in queue group queue (so relays share
// the messages) and handles them with workers goroutines until ctx ends;
// it returns once every worker has. buffered bounds the messages waiting
// for a worker: past it the client drops them as a slow consumer, which
// the senders' retries absorb.
func serveQueue(ctx context.Context, nc *nats.Conn, subject, queue string, buffered, workers int,
	handle func(context.Context, *nats.Msg)) error {
	ch := make(chan *nats.Msg, buffered)
	sub, err := nc.ChanQueueSubscribe(subject, queue, ch)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", subject, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	var wg sync.WaitGroup
	defer wg.Wait()
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case m := <-ch:
					handle(ctx, m)
				}
			}
		})
	}
	<-ctx.Done()
	return nil
}
