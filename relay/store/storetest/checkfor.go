package storetest

import (
	"testing"
	"time"
)

// CheckFor calls f every interval until it returns nil, and fails t with
// f's last error once timeout passed.
func CheckFor(t testing.TB, timeout, interval time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		select {
		case <-time.After(interval):
		case <-t.Context().Done():
			t.Fatalf("test ended: %v", err)
		}
	}
}
