package main

import (
	"fmt"

	"github.com/sei-edge/servicenow-edge/relay/remotereq"
)

// newAsker builds the remote requests' asker from the requests section:
// it asks agents over the relay's own connection and keeps bundles in the
// relay account's JetStream.
func (r *relay) newAsker() (*remotereq.Asker, error) {
	rc := r.cfg.Requests
	a, err := remotereq.New(remotereq.Config{
		Conn: r.nc, JS: r.js,
		Timeout: rc.Timeout.D(), AnswerTimeout: rc.AnswerTimeout.D(),
		BundleMaxBytes: int64(rc.BundleMaxBytes), BundleStoreBytes: int64(rc.BundleStoreMaxBytes), BundleTTL: rc.BundleTTL.D(),
		Replicas: r.cfg.StreamReplicas(),
		Logger:   r.log,
	})
	if err != nil {
		return nil, fmt.Errorf("configure remote requests: %w", err)
	}
	return a, nil
}
