package pageout

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestWhile: out runs every period while work runs, and never after While
// returned; work's error comes back.
func TestWhile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		outs := 0
		boom := errors.New("boom")
		err := While(time.Second, func() { outs++ }, func() error {
			time.Sleep(3500 * time.Millisecond)
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("While = %v, want work's error", err)
		}
		if outs != 3 {
			t.Fatalf("out ran %d times during 3.5 periods, want 3", outs)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if outs != 3 {
			t.Fatalf("out ran %d times after While returned", outs-3)
		}
	})
}
