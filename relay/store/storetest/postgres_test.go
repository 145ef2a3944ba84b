package storetest

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestWithSearchPath(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"postgres://sei:sei@127.0.0.1:5432/sei_test?sslmode=disable", "postgres://sei:sei@127.0.0.1:5432/sei_test?search_path=t_1&sslmode=disable"},
		{"postgresql://h/db", "postgresql://h/db?search_path=t_1"},
		{"host=h dbname=db", "host=h dbname=db search_path=t_1"},
	} {
		if got := withSearchPath(t, tc.dsn, "t_1"); got != tc.want {
			t.Errorf("withSearchPath(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
	}
}
