package pageout

import "time"

// While runs work and, until it returns, calls out every period: a
// compaction reads and writes tables through their mappings for seconds on
// a large store, and without a page-out meanwhile every page it touched
// would stay resident until it ended. out runs on a goroutine of While's
// own, never at the same time as another out call, and never after While
// returned.
func While(period time.Duration, out func(), work func() error) error {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() { // owned: While waits for it
		defer close(stopped)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				out()
			}
		}
	}()
	err := work()
	close(done)
	<-stopped
	return err
}
